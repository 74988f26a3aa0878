"""``python -m notify_message``: run an action outside StackStorm, on the same code path.

    python -m notify_message --config my-config.yaml notifyByCustom \\
        --param email=1 --param receivers=a@163.com --param emailcontext="disk full"

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

from .notifier import notify_by_custom
from .result import NotifyResult

__all__ = ["main", "load_config_file", "ACTIONS"]

ACTIONS: dict[str, Callable[[dict[str, Any], Any], NotifyResult]] = {
    "notifyByCustom": notify_by_custom,
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
    return _expand_env(data or {})


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
