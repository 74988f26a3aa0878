"""``python -m notify_message``: run an action outside StackStorm, on the same code path.

    python -m notify_message --config my-config.yaml notifyByCustom \\
        --param email=1 --param receivers=a@163.com --param emailcontext="disk full"

    python -m notify_message --config my-config.yaml notifyByCustom --help   # its parameters
    python -m notify_message check --config my-config.yaml [--resource smtp]
    python -m notify_message import-playbook PLAYBOOK.json --name NAME [--out PACK_DIR]

On a terminal the result is a table of deliveries and a summary line (progress on standard
error for calls with many deliveries); with --json, or whenever standard output is not a
terminal, it is the result as JSON.  The config file is the pack config as YAML or JSON; a
value written as ``${NAME}`` is read from the environment variable NAME, so that passwords
need not sit in the file; a StackStorm template (``{{ st2kv... }}``) is refused, named by its
key.  The config is checked against the pack's config.schema.yaml (unknown keys are named,
with the closest known key).  Exits 0 when every delivery succeeded, 1 when one failed, 2 on
bad usage: a missing or unreadable file, invalid YAML or JSON, a config the schema refuses,
an unknown action, a malformed --param, a closed standard output, Ctrl-C.
Bad usage is one line on standard error, without a traceback; --debug adds the traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .bounded import BoundsError, check_structure
from .checks import CheckReport, check_connection
from .bounded import loads as bounded_loads
from .errors import ConfigError, NotifyMessageError
from .notifier import notify_by_custom, notify_by_message_center, reply_dingtalk
from .result import NotifyResult

if TYPE_CHECKING:
    from .dryrun import DryRunResult

__all__ = ["main", "load_config_file", "check_against_schema", "ACTIONS",
           "import_playbook_main", "UsageError", "SCHEMA_PATH", "MAX_CONFIG_BYTES"]

PROG = "python -m notify_message"
ACTIONS: dict[str, Callable[[dict[str, Any], Any],
                            NotifyResult | DryRunResult | CheckReport]] = {
    "notifyByCustom": notify_by_custom,
    # internal messages (pmsg) are kept in this process only: there is no datastore here
    "notifyByMessageCenter": notify_by_message_center,
    "replyDingTalk": reply_dingtalk,
    "testConnection": check_connection,
}
# the pack's config schema: actions/lib/notify_message -> the pack directory
SCHEMA_PATH = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            os.pardir, os.pardir, os.pardir,
                                            "config.schema.yaml"))
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# what only StackStorm renders: {{ st2kv.system.x | decrypt_kv }}, {% ... %}, {{ config_context.. }}
_ST2_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_ST2_NAMES = ("st2kv", "config_context", "decrypt_kv", "action_context")


class UsageError(Exception):
    """A mistake on the command line or in a file it names: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, whose errors are a UsageError (one line) instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        if argv[:1] == ["import-playbook"]:
            code = _import_playbook(argv[1:])
        elif _first_word(argv) == "check":
            at = argv.index("check")
            code = _check(argv[:at] + argv[at + 1:])
        else:
            code = _run_action(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return _fail("standard output was closed before the output was written (broken "
                     "pipe)", debug)
    except KeyboardInterrupt:
        return _fail("interrupted", debug)
    except (UsageError, NotifyMessageError) as exc:  # ConfigError, PlaybookError included
        return _fail(str(exc), debug)


def _first_word(argv: Sequence[str]) -> str | None:
    """The first argument that is neither an option nor an option's value (the action, or
    ``check``), so that ``--config FILE check`` reads as ``check --config FILE``."""
    takes_value = {"--config", "--param", "--params-json", "--resource"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def import_playbook_main(argv: Sequence[str]) -> int:
    """``import-playbook``: a SOAR playbook export -> Orquesta workflow + action metadata."""
    return main(["import-playbook", *argv])


def _fail(message: str, debug: bool) -> int:
    """One line on standard error (line breaks and control characters of file names or
    values cannot split it or drive the terminal); the traceback first with --debug."""
    if debug:
        traceback.print_exc()
    line = "".join(c if c.isprintable() else "?" for c in " ".join(message.split()))
    try:
        sys.stderr.write(f"{PROG}: error: {line}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    return 2


def _discard_stdout() -> None:
    """Point the closed standard output at /dev/null, so that the interpreter's last flush
    does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture it)
        pass


def _suggest(word: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    if close:
        return f"did you mean {close[0]}?"
    return "expected one of " + ", ".join(known)


# --- running an action ----------------------------------------------------------------------

def _run_action(argv: Sequence[str]) -> int:
    parser = _Parser(prog=PROG, description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="pack config file (YAML or JSON)")
    parser.add_argument("action", metavar="ACTION",
                        help="one of " + ", ".join(sorted(ACTIONS)) + " (or import-playbook, "
                        "first: python -m notify_message import-playbook --help)")
    parser.add_argument("--param", action="append", type=_parse_param, default=[],
                        metavar="NAME=VALUE", help="an action parameter (repeatable)")
    parser.add_argument("--params-json", metavar="JSON",
                        help="all parameters as one JSON object (e.g. a playbook node's valueData)")
    parser.add_argument("-v", "--verbose", action="store_true")
    _output_options(parser)
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    if "-h" in argv or "--help" in argv:
        named = [a for a in argv if a in ACTIONS]
        if named:
            return _action_help(named[0])
    args = parser.parse_args(argv)
    if args.action not in ACTIONS:
        raise UsageError(f"unknown action {args.action!r}; "
                         + _suggest(args.action, sorted(ACTIONS)))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")

    params: dict[str, Any] = {}
    if args.params_json:
        params.update(_params_json(args.params_json))
    params.update(dict(args.param))
    _human(args)  # refuses --json with --table before anything is sent
    config = load_config_file(args.config) if args.config else {}
    result = _with_progress(args, lambda: ACTIONS[args.action](params, config))
    return _output(args, result)


def _output_options(parser: argparse.ArgumentParser, *, progress: bool = True) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON (the default when standard output is "
                             "not a terminal)")
    parser.add_argument("--table", action="store_true",
                        help="print the table for people even when standard output is not a "
                             "terminal")
    if not progress:
        return
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show progress on standard error (default: when it is a terminal "
                             "and a call makes many deliveries)")


def _human(args: argparse.Namespace) -> bool:
    if args.json and args.table:
        raise UsageError("--json and --table exclude each other")
    return bool(args.table or (not args.json and _isatty(sys.stdout)))


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _with_progress(args: argparse.Namespace, call: Callable[[], Any]) -> Any:
    """Run ``call`` with a progress bar on standard error when asked, or when standard
    error is a terminal (``--no-progress`` turns it off)."""
    wanted = args.progress if args.progress is not None else _isatty(sys.stderr)
    if not wanted:
        return call()
    from .console import ProgressBar
    from .runtime import PROGRESS

    with ProgressBar(sys.stderr, force=bool(args.progress)) as bar:
        token = PROGRESS.set(bar)
        try:
            return call()
        finally:
            PROGRESS.reset(token)


def _output(args: argparse.Namespace, result: NotifyResult | DryRunResult | CheckReport) -> int:
    if _human(args):
        from .console import render_result

        render_result(result.to_dict(), sys.stdout)
    else:
        json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0 if result.status else 1


def _action_help(action: str) -> int:
    """``ACTION --help``: the action's parameters, read from its metadata (actions/*.yaml)."""
    import yaml

    from .console import render_action_help

    path = os.path.join(os.path.dirname(SCHEMA_PATH), "actions", f"{action}.yaml")
    try:
        with open(path, encoding="utf-8") as f:
            metadata = yaml.safe_load(f) or {}
    except OSError as exc:
        raise UsageError(f"the metadata of {action} ({path}) cannot be read: "
                         f"{exc.strerror or exc}") from None
    render_action_help(action, metadata, sys.stdout)
    return 0


def _check(argv: Sequence[str]) -> int:
    """``check``: testConnection on the command line."""
    parser = _Parser(prog=f"{PROG} check",
                     description="Check every SMTP instance, DingTalk robot and the Alibaba "
                                 "Cloud account of a pack config without notifying anybody "
                                 "(the testConnection action).")
    parser.add_argument("--config", required=True, help="pack config file (YAML or JSON)")
    parser.add_argument("--resource", action="append", default=[], metavar="RESOURCE",
                        help="smtp, dingtalk, aliyun, smtp:NAME, dingtalk:NAME or a NAME "
                             "(repeatable; default: all)")
    parser.add_argument("--post-test-message", action="store_true",
                        help="also post a test message to each DingTalk robot")
    _output_options(parser, progress=False)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    _human(args)
    config = load_config_file(args.config)
    params: dict[str, Any] = {"postTestMessage": args.post_test_message}
    if args.resource:
        params["resources"] = args.resource
    return _output(args, check_connection(params, config))


def _parse_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _params_json(text: str) -> dict[str, Any]:
    try:
        loaded = bounded_loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--params-json is not valid JSON: {exc}") from None
    except BoundsError as exc:
        raise UsageError(f"--params-json {exc}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"--params-json must be a JSON object, got {_json_type(loaded)}")
    return loaded


# --- the config file ------------------------------------------------------------------------

def load_config_file(path: str) -> dict[str, Any]:
    """The pack config in ``path`` (YAML, or JSON), ``${NAME}`` values read from the
    environment, checked against config.schema.yaml; UsageError or ConfigError (one line
    each) when it cannot be used."""
    text = _read_text(path, "config file", MAX_CONFIG_BYTES)
    data = _parse_config(text, path)
    try:
        check_structure(data)  # before anything walks it: YAML aliases can multiply it
    except BoundsError as exc:
        raise UsageError(f"config file {path} {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {path}: expected the pack config as an object, got "
                         f"{_json_type(data)}")
    expanded: dict[str, Any] = _expand_env(data)
    check_against_schema(expanded)
    return expanded


def _read_bytes(path: str, what: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of a file (a larger one is not read to its end); every
    way a file cannot be read is one UsageError naming it."""
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path}: is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"{what} {path}: cannot be read (permission denied)") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"{what} {path}: cannot be read ({reason})") from None


def _read_text(path: str, what: str, limit: int) -> str:
    data = _read_bytes(path, what, limit)
    if len(data) > limit:
        raise UsageError(f"{what} {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} {path} is not UTF-8 text (byte {exc.start})") from None


def _parse_config(text: str, path: str) -> Any:
    try:
        import yaml
    except ImportError:  # YAML is a superset of JSON; without PyYAML, JSON still works
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise UsageError(f"config file {path} is not valid JSON: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise UsageError(f"config file {path} is not valid YAML: "
                         f"{exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from None
    except RecursionError:
        raise UsageError(f"config file {path} nests its values too deeply") from None
    except (ValueError, OverflowError) as exc:  # a bad date, an integer of 5000 digits
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from None


def _expand_env(config: dict[str, Any]) -> Any:
    """A copy with each ``${NAME}`` value replaced by the environment variable NAME;
    iterative (a copy is made of every container, so YAML aliases stay unshared)."""
    root: list[Any] = [config]
    pending: list[tuple[Any, Any, str]] = [(root, 0, "")]
    while pending:
        into, slot, key = pending.pop()
        current = into[slot]
        if isinstance(current, dict):
            copy = dict(current)
            into[slot] = copy
            pending.extend((copy, k, f"{key}.{k}" if key else str(k)) for k in copy)
        elif isinstance(current, list):
            items = list(current)
            into[slot] = items
            pending.extend((items, i, f"{key}[{i}]") for i in range(len(items)))
        elif isinstance(current, str):
            _refuse_st2_template(key, current)
            match = _ENV_REFERENCE.fullmatch(current.strip())
            if match:
                name = match.group(1)
                if name not in os.environ:
                    raise UsageError(f"pack config '{key}' refers to ${{{name}}}, but the "
                                     f"environment has no {name}")
                into[slot] = os.environ[name]
    return root[0]


def _refuse_st2_template(key: str, value: str) -> None:
    """A value StackStorm would render (``{{ st2kv.system.smtp_code | decrypt_kv }}``) is,
    outside StackStorm, that text itself: sent as a password it would only fail the login."""
    for match in _ST2_TEMPLATE.finditer(value):
        template = match.group()
        # a Jinja statement ({% ... %}) is never a plain value; an expression ({{ ... }}) is
        # one when it is the whole value or names st2's data (a subject may say "{{name}}")
        if template.startswith("{%") or value.strip() == template or \
                any(name in template for name in _ST2_NAMES):
            raise UsageError(
                f"pack config '{key}' is a StackStorm template ({template[:2]} ... "
                f"{template[-2:]}), which only StackStorm renders; outside StackStorm write "
                "the value itself, or ${NAME} to read it from the environment variable NAME")


def check_against_schema(config: Mapping[str, Any], schema_path: str = SCHEMA_PATH) -> None:
    """ConfigError for the first thing config.schema.yaml refuses in ``config`` (an unknown
    key with the closest known one, a wrong type, a value out of range, a missing required
    key), counting the others.  No schema file: nothing is checked.  The schema is st2's
    dialect (``required: true`` on a property; st2 accepts unknown top-level keys, this
    does not); ``_json_schema`` turns it into JSON Schema as lenient as the library's
    reading of the config: null for any value (the library reads it as absent), a number
    for a string, one string for a list of strings.  Values are never quoted (secrets)."""
    if not os.path.isfile(schema_path):
        return
    try:
        import jsonschema  # type: ignore[import-untyped]  # no stubs in the pack virtualenv
        import yaml
    except ImportError as exc:
        sys.stderr.write(f"warning: the config is not checked against {schema_path}: "
                         f"{exc.name} is not installed\n")
        return
    with open(schema_path, encoding="utf-8") as f:
        schema = _json_schema(yaml.safe_load(f) or {})
    validator = jsonschema.Draft7Validator(schema)
    problems: list[tuple[bool, str, str]] = []  # unknown keys first: they explain the rest
    for error in validator.iter_errors(config):
        problems.extend((not problem.startswith("unknown key"), key, problem)
                        for key, problem in _describe(error))
    if problems:
        problems.sort()
        _, key, problem = problems[0]
        if len(problems) > 1:
            problem += f" (and {len(problems) - 1} more problem(s) in the pack config)"
        raise ConfigError(key, problem)


def _json_schema(st2_schema: Mapping[str, Any]) -> dict[str, Any]:
    """st2's config schema (a mapping of top-level properties) as a Draft 7 JSON Schema."""
    schema: dict[str, Any] = {"type": "object", "properties": dict(st2_schema),
                              "additionalProperties": False}
    pending: list[dict[str, Any]] = [schema]
    while pending:
        node = pending.pop()
        properties = node.get("properties")
        if isinstance(properties, dict):
            node["properties"] = properties = {k: dict(v) if isinstance(v, dict) else {}
                                               for k, v in properties.items()}
            required = [k for k, v in properties.items() if v.pop("required", None) is True]
            if required:
                node["required"] = required
            pending.extend(properties.values())
        for keyword in ("items", "additionalProperties"):
            if isinstance(node.get(keyword), dict):
                node[keyword] = dict(node[keyword])
                node[keyword].pop("required", None)
                pending.append(node[keyword])
        if isinstance(node.get("anyOf"), list):
            node["anyOf"] = [dict(s) for s in node["anyOf"]] + [{"type": "null"}]
            pending.extend(node["anyOf"][:-1])
        if "type" in node and node is not schema:
            declared = node["type"] if isinstance(node["type"], list) else [node["type"]]
            node["x-declared-type"] = declared
            accepted = list(declared) + ["null"]
            if "string" in declared:
                accepted.append("integer")
            items = node.get("items")
            if "array" in declared and isinstance(items, dict) and items.get("type") == "string":
                accepted.append("string")
            node["type"] = accepted
        if isinstance(node.get("enum"), list):
            node["enum"] = list(node["enum"]) + [None]
    return schema


def _describe(error: Any) -> list[tuple[str, str]]:
    """(dotted key, problem) for one jsonschema error; never the value itself."""
    where = _dotted(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties") or {})
        return [(_join(where, str(name)), "unknown key; " + _suggest(str(name), known)
                 if known else "unknown key")
                for name in error.instance if name not in known]
    if kind == "required" and isinstance(error.instance, dict):
        return [(_join(where, name), "is required")
                for name in error.validator_value if name not in error.instance]
    key = where or "(the whole config)"
    if kind == "type":
        declared = error.schema.get("x-declared-type") or error.validator_value
        return [(key, f"expected {' or '.join(declared)}, got {_json_type(error.instance)}")]
    if kind == "anyOf":
        kinds = [s.get("type") for s in error.validator_value if s.get("type") != "null"]
        return [(key, f"expected {' or '.join(str(k) for k in kinds)}, got "
                      f"{_json_type(error.instance)}")]
    if kind == "enum":
        return [(key, "expected one of " + ", ".join(str(v) for v in error.validator_value
                                                     if v is not None))]
    if kind == "minimum":
        return [(key, f"expected at least {error.validator_value}")]
    if kind == "maximum":
        return [(key, f"expected at most {error.validator_value}")]
    return [(key, f"does not match the schema ({kind})")]


def _dotted(path: Sequence[Any]) -> str:
    text = ""
    for part in path:
        text = f"{text}[{part}]" if isinstance(part, int) else _join(text, str(part))
    return text


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


# --- import-playbook ------------------------------------------------------------------------

def _import_playbook(argv: Sequence[str]) -> int:
    from .config.pack import PackConfig
    from .playbook import PlaybookError, convert_playbook

    parser = _Parser(
        prog=f"{PROG} import-playbook",
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
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)

    data = _read_playbook(args.playbook)
    uuids = None
    if args.config:
        config = PackConfig.from_mapping(load_config_file(args.config))
        uuids = [i.uuid for i in config.smtp_instances if i.uuid]
    source = "-" if args.playbook == "-" else os.path.basename(args.playbook)
    try:
        converted = convert_playbook(data, args.name, description=args.description,
                                     expose_parameters=args.expose_parameters,
                                     smtp_instance_uuids=uuids, source=source)
    except PlaybookError as exc:
        sys.stderr.write(f"{exc}\n")  # one line per problem
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
        raise UsageError(str(exc)) from None
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 0


def _read_playbook(path: str) -> bytes:
    """The playbook file's bytes (standard input for ``-``), at most MAX_PLAYBOOK_BYTES:
    a larger file is not read to its end."""
    from .playbook.graph import MAX_PLAYBOOK_BYTES, PlaybookError

    limit = MAX_PLAYBOOK_BYTES
    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(limit + 1) if stream is not None \
            else sys.stdin.read(limit + 1).encode("utf-8", "surrogateescape")
    else:
        data = _read_bytes(path, "playbook", limit)
    if len(data) > limit:
        raise PlaybookError([f"the playbook is more than {limit} bytes; at most {limit} "
                             f"({limit // 1024 // 1024} MiB) are accepted"])
    return data
