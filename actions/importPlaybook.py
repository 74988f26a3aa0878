from lib.base import NotifyMessageAction

from notify_message import ConfigError, PackConfig
from notify_message.playbook import PlaybookError, convert_playbook


class ImportPlaybookAction(NotifyMessageAction):
    def run(self, playbook, name, description=None, expose_parameters=False, pack_dir=None,
            overwrite=False):
        result = {"status": False, "workflow": "", "metadata": "", "files": [], "warnings": [],
                  "problems": []}
        uuids = None
        try:
            uuids = [i.uuid for i in PackConfig.from_mapping(self.pack_config).smtp_instances
                     if i.uuid]
        except ConfigError as exc:
            result["warnings"].append("assetUuid not checked against smtp_instances: %s" % exc)
        try:
            converted = convert_playbook(playbook, name, description=description or "",
                                         expose_parameters=bool(expose_parameters),
                                         smtp_instance_uuids=uuids)
        except PlaybookError as exc:
            result.update(message=str(exc), problems=exc.problems)
            return self.finish(result)
        result.update(workflow=converted.workflow_yaml, metadata=converted.metadata_yaml,
                      warnings=result["warnings"] + list(converted.warnings))
        if pack_dir:
            try:
                result["files"] = converted.write(pack_dir, overwrite=bool(overwrite))
            except OSError as exc:
                result["message"] = "Converted, but not written: %s" % exc
                return self.finish(result)
            result["message"] = ("Wrote %s; register it with st2ctl reload --register-actions"
                                 % " and ".join(result["files"]))
        else:
            result["message"] = ("Converted into the workflow %s (%d task(s)); pass pack_dir to "
                                 "write it into a pack" % (name, len(converted.workflow["tasks"])))
        result["status"] = True
        return self.finish(result)

    def finish(self, result):
        log = self.logger.info if result["status"] else self.logger.warning
        log(result["message"].splitlines()[0])
        return result["status"], result
