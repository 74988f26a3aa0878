"""``python -m notify_message``: run an action outside StackStorm, on the same code path.

    python -m notify_message --config my-config.yaml notifyByCustom \\
        --param email=1 --param receivers=a@163.com --param emailcontext="disk full"

    python -m notify_message import-playbook PLAYBOOK.json --name NAME [--out PACK_DIR]

The config file is the pack config as YAML or JSON; a value written as ``${NAME}`` is read
from the environment variable NAME, so that passwords need not sit in the file.  Prints the
result as JSON; exits 0 when every delivery succeeded, 1 when one failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .notifier import notify_by_custom, notify_by_message_center, reply_dingtalk
from .result import NotifyResult

__all__ = ["main", "load_config_file", "ACTIONS", "import_playbook_main"]

ACTIONS: dict[str, Callable[[dict[str, Any], Any], NotifyResult]] = {
    "notifyByCustom": notify_by_custom,
    # internal messages (pmsg) are kept in this process only: there is no datastore here
    "notifyByMessageCenter": notify_by_message_center,
    "replyDingTalk": reply_dingtalk,
}
_ENV_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def load_config_file(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        import yaml
    except ImportError:  # YAML is a superset of JSON; without PyYAML, JSON still works
        data = json.loads(text)
    else:
        data = yaml.safe_load(text)
    expanded = _expand_env(data or {})
    if not isinstance(expanded, dict):
        raise SystemExit(f"{path}: expected the pack config as an object, got "
                         f"{type(expanded).__name__}")
    return expanded


def _expand_env(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    if isinstance(value, str):
        match = _ENV_REFERENCE.match(value.strip())
        if match:
            name = match.group(1)
            if name not in os.environ:
                raise SystemExit(f"config refers to ${{{name}}} but the environment has no {name}")
            return os.environ[name]
    return value


def _parse_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["import-playbook"]:
        return import_playbook_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m notify_message", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="pack config file (YAML or JSON)")
    parser.add_argument("action", choices=sorted(ACTIONS))
    parser.add_argument("--param", action="append", type=_parse_param, default=[],
                        metavar="NAME=VALUE", help="an action parameter (repeatable)")
    parser.add_argument("--params-json", metavar="JSON",
                        help="all parameters as one JSON object (e.g. a playbook node's valueData)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")

    params: dict[str, Any] = {}
    if args.params_json:
        loaded = json.loads(args.params_json)
        if not isinstance(loaded, dict):
            parser.error("--params-json must be a JSON object")
        params.update(loaded)
    params.update(dict(args.param))
    config = load_config_file(args.config) if args.config else {}
    result = ACTIONS[args.action](params, config)
    json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0 if result.status else 1


def import_playbook_main(argv: Sequence[str]) -> int:
    """``import-playbook``: a SOAR playbook export -> Orquesta workflow + action metadata."""
    from .config.pack import PackConfig
    from .errors import ConfigError
    from .playbook import PlaybookError, convert_playbook

    parser = argparse.ArgumentParser(
        prog="python -m notify_message import-playbook",
        description="Convert an Alibaba Cloud SOAR playbook export (JSON with 'cells') into an "
                    "Orquesta workflow and its st2 action metadata.")
    parser.add_argument("playbook", help="the playbook JSON file ('-' reads standard input)")
    parser.add_argument("--name", required=True, help="action / workflow name")
    parser.add_argument("--out", metavar="DIR",
                        help="write DIR/actions/NAME.yaml and DIR/actions/workflows/NAME.yaml "
                             "(default: print both)")
    parser.add_argument("--description", default="")
    parser.add_argument("--expose-parameters", action="store_true",
                        help="make each node value a workflow parameter (default: its value)")
    parser.add_argument("--config", help="pack config, to check assetUuid against smtp_instances")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)

    if args.playbook == "-":
        text = sys.stdin.read()
    else:
        with open(args.playbook, encoding="utf-8") as f:
            text = f.read()
    uuids = None
    if args.config:
        try:
            config = PackConfig.from_mapping(load_config_file(args.config))
        except ConfigError as exc:
            parser.error(str(exc))
        uuids = [i.uuid for i in config.smtp_instances if i.uuid]
    source = "-" if args.playbook == "-" else os.path.basename(args.playbook)
    try:
        converted = convert_playbook(text, args.name, description=args.description,
                                     expose_parameters=args.expose_parameters,
                                     smtp_instance_uuids=uuids, source=source)
    except PlaybookError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    for warning in converted.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if not args.out:
        sys.stdout.write(f"# --- {converted.metadata_path}\n{converted.metadata_yaml}"
                         f"# --- {converted.workflow_path}\n{converted.workflow_yaml}")
        return 0
    try:
        paths = converted.write(args.out, overwrite=args.overwrite, require_pack=False)
    except OSError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 0
