from lib.base import NotifyMessageAction

from notify_message import ConfigError, PackConfig
from notify_message.playbook.action import import_playbook


class ImportPlaybookAction(NotifyMessageAction):
    def run(self, **params):
        uuids, warnings = None, []
        try:
            uuids = [i.uuid for i in PackConfig.from_mapping(self.pack_config).smtp_instances
                     if i.uuid]
        except ConfigError as exc:
            warnings.append("assetUuid not checked against smtp_instances: %s" % exc)
        return self.respond(import_playbook(params, uuids, warnings=warnings))
