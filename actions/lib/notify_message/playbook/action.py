"""importPlaybook as a plain function: parameters in, ``Reply`` out (the st2 action and
its tests use it; the command line has its own file-oriented front in ``cli``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..parameters import IMPORT_PLAYBOOK_PARAMETERS
from ..bounded import shown
from ..params import as_line, as_text, is_on, reject_unknown
from ..errors import ParameterError
from ..result import Reply
from .convert import convert_playbook
from .graph import PlaybookError

__all__ = ["import_playbook"]


def import_playbook(params: Mapping[str, Any], smtp_instance_uuids: Sequence[str] | None,
                    *, warnings: Sequence[str] = ()) -> Reply:
    """Convert ``params["playbook"]`` into an Orquesta workflow named ``params["name"]``;
    write it into ``pack_dir`` when given.  ``smtp_instance_uuids`` (None: not known) checks
    the nodes' assetUuid; ``warnings`` are carried into the reply."""
    data: dict[str, Any] = {"workflow": "", "metadata": "", "files": [],
                            "warnings": list(warnings), "problems": []}
    present = {k: v for k, v in params.items() if v is not None}
    try:
        reject_unknown(present, IMPORT_PLAYBOOK_PARAMETERS, "importPlaybook")
        name = as_text("name", present.get("name")).strip()
        description = as_text("description", present.get("description"))
        pack_dir = as_line("pack_dir", present.get("pack_dir"), limit=4096)
    except ParameterError as exc:
        return Reply(False, str(exc), data)
    try:
        converted = convert_playbook(present.get("playbook"), name, description=description,
                                     expose_parameters=is_on(present.get("expose_parameters")),
                                     smtp_instance_uuids=smtp_instance_uuids)
    except PlaybookError as exc:
        data["problems"] = exc.problems
        return Reply(False, str(exc), data)
    data.update(workflow=converted.workflow_yaml, metadata=converted.metadata_yaml,
                warnings=data["warnings"] + list(converted.warnings))
    if not pack_dir:
        return Reply(True, f"Converted into the workflow {name} "
                     f"({len(converted.workflow['tasks'])} task(s)); pass pack_dir to write it "
                     "into a pack", data)
    try:
        data["files"] = converted.write(pack_dir, overwrite=is_on(present.get("overwrite")))
    except OSError as exc:
        return Reply(False, "Converted, but not written: parameter 'pack_dir': "
                     + shown(str(exc), limit=300), data)
    return Reply(True, f"Wrote {' and '.join(data['files'])}; register it with st2ctl reload "
                 "--register-actions", data)
