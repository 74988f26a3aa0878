"""A checked playbook graph -> an Orquesta workflow and its st2 action metadata.

``convert_playbook`` reads the playbook (``graph``), then ``_Converter`` turns each action
node into a task: its input from the node's ``valueData`` (``${...}`` references become
Orquesta expressions, a notifyByCustom ``assetUuid`` selects an SMTP instance), its
transitions from the flows, and with ``expose_parameters`` the literal inputs become
workflow parameters with a schema.  ``ConvertedPlaybook`` holds the result and writes it.

The playbook is attacker-controlled input as far as this module knows: no text of it reaches
the workflow as an expression.  Every key and every string at any depth of a node's
``valueData`` is refused when it holds expression syntax (``EXPRESSION_SYNTAX``); the only
expressions in the output are the ones the converter writes for ``${...}`` references, built
from task names (identifiers) and field names (identifiers or indexes).  The walks over
``valueData`` are iterative.  The workflow name becomes two file names: it is one safe name
(``check_name``), and ``write`` verifies that both files, symbolic links resolved, land
inside the directory it is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..parameters import COMPONENT_ACTIONS
from ..params import is_on
from .graph import EVENT_INPUT, Graph, Node, PlaybookError, load_playbook, one_line

__all__ = ["ConvertedPlaybook", "convert_playbook", "check_name", "EXPRESSION_SYNTAX",
           "MAX_NAME_LENGTH"]

PACK = "notify_message"
# ``${...}``; no brace inside, so that text of many unclosed ``${`` is scanned in linear time
_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
MAX_NAME_LENGTH = 100
# What Orquesta (YAQL <% %>, Jinja {{ }} and {% %}) or st2's Jinja rendering would read as
# the start of an expression, a block or a comment; and YAQL's closer, since the converter
# writes <% ... %> references next to the playbook's text, which must not end one early.
# Jinja's closers alone start nothing: nested JSON in a string ('{"a":{"b":1}}') stays valid.
EXPRESSION_SYNTAX = ("<%", "%>", "{{", "{%", "{#")
_SHOWN = 60  # characters of a hostile key or reference quoted in a problem
# notifyByCustom parameters that are a flag (1 / true) or a selector (an instance, a sender)
_FLAG_OR_SELECTOR = ("email", "sms", "dingding")


@dataclass(frozen=True)
class ConvertedPlaybook:
    """The workflow and its action metadata, as data and as YAML text."""

    name: str
    workflow: dict[str, Any]
    metadata: dict[str, Any]
    warnings: tuple[str, ...] = ()
    source: str = "a SOAR playbook"

    def __post_init__(self) -> None:
        check_name(self.name)

    @property
    def workflow_path(self) -> str:
        return f"actions/workflows/{self.name}.yaml"

    @property
    def metadata_path(self) -> str:
        return f"actions/{self.name}.yaml"

    @property
    def workflow_yaml(self) -> str:
        return self._header() + _dump(self.workflow)

    @property
    def metadata_yaml(self) -> str:
        return self._header() + "---\n" + _dump(self.metadata)

    def _header(self) -> str:
        # a comment line: a line break in the source (a file name) would end it
        source = "".join(c if c.isprintable() else "?" for c in self.source)
        return (f"# Converted from {source} by notify_message's playbook importer.\n"
                "# Edit freely; importing again overwrites it only when asked to.\n")

    def write(self, pack_dir: str, *, overwrite: bool = False,
              require_pack: bool = True) -> list[str]:
        """Write both files into a pack directory; returns their paths.

        Each file's path, symbolic links resolved, must lie inside ``pack_dir`` (resolved
        too): a link (``actions`` or the file itself) pointing elsewhere is refused with
        PermissionError, and the file is opened without following a link.
        """
        if "\0" in pack_dir:
            raise FileNotFoundError(f"{pack_dir!r} is not a directory (it contains NUL)")
        root = os.path.realpath(pack_dir)
        if require_pack and not os.path.isfile(os.path.join(root, "pack.yaml")):
            raise FileNotFoundError(f"{pack_dir} is not a pack directory (it has no pack.yaml)")
        files = [(os.path.join(pack_dir, relative), _inside(root, relative, pack_dir), text)
                 for relative, text in ((self.metadata_path, self.metadata_yaml),
                                        (self.workflow_path, self.workflow_yaml))]
        existing = [shown for shown, path, _ in files if os.path.lexists(path)]
        if existing and not overwrite:
            raise FileExistsError(f"{', '.join(existing)} already exists; pass overwrite to "
                                  "replace it")
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (
            os.O_TRUNC if overwrite else os.O_EXCL)
        for shown, path, text in files:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            if os.path.realpath(folder) != folder:  # a link put there since it was checked
                raise PermissionError(f"{shown}: {folder} changed into a link while writing; "
                                      "not written")
            with os.fdopen(os.open(path, flags, 0o644), "w", encoding="utf-8") as f:
                f.write(text)
        return [shown for shown, _, _ in files]


def _inside(root: str, relative: str, shown_root: str) -> str:
    """``root/relative`` with every link resolved, or PermissionError when that is not in
    ``root`` (``root`` itself resolved)."""
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root or path == root:
        raise PermissionError(f"{os.path.join(shown_root, relative)} resolves to {path}, "
                              f"outside {shown_root}; not written (a symbolic link leads out)")
    return path


def check_name(name: Any) -> str:
    """The workflow name, or PlaybookError: it is the action name and, with ``.yaml``, the
    name of two files, so one safe name - letters, digits, ``_`` and ``-``, starting with a
    letter, at most MAX_NAME_LENGTH characters (no separator, no ``..``, no NUL, no line
    break: ``fullmatch``, where ``$`` would let a final newline through)."""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH \
            or not _ACTION_NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= _SHOWN \
            else repr(name[:_SHOWN]) + "..."
        raise PlaybookError([f"name {shown}: expected letters, digits, '_' or '-', starting "
                             f"with a letter, at most {MAX_NAME_LENGTH} characters (it becomes "
                             "the action name and the file name)"])
    return name


# libyaml's emitter when PyYAML has it (the same text, several times faster on a large
# workflow: the tests compare the two); the pure-Python one otherwise
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any) -> str:
    text: str = yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=100)  # str without a stream
    return text


def convert_playbook(playbook: Any, name: str, *, description: str = "",
                     expose_parameters: bool = False,
                     smtp_instance_uuids: Iterable[str] | None = None,
                     source: str = "a SOAR playbook") -> ConvertedPlaybook:
    """Convert a playbook (JSON text or data) into a workflow called ``name``.

    ``smtp_instance_uuids``: the ``uuid`` of every SMTP instance in the pack config, so that
    an ``assetUuid`` no instance carries is reported; None skips that check.
    """
    check_name(name)
    graph = Graph.from_cells(load_playbook(playbook)["cells"])
    converter = _Converter(graph, set(smtp_instance_uuids) if smtp_instance_uuids is not None
                           else None)
    workflow, parameters = converter.convert(description or f"Converted from {source}.",
                                             expose_parameters)
    metadata = {
        "name": name,
        "runner_type": "orquesta",
        "entry_point": f"workflows/{name}.yaml",
        "enabled": True,
        "description": description or f"Converted from {source}: "
                                      + " -> ".join(graph.task_names[n.id]
                                                    for n in graph.ordered_actions) + ".",
        "parameters": parameters,
    }
    return ConvertedPlaybook(name, workflow, metadata,
                             tuple(one_line(w) for w in converter.warnings), source)


@dataclass
class _Converter:
    graph: Graph
    smtp_instance_uuids: set[str] | None
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    uses_event: bool = False

    def convert(self, description: str,
                expose: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        self.warnings.extend(self.graph.warnings)
        inputs = {n.id: self._task_input(n) for n in self.graph.ordered_actions}
        if self.problems:
            raise PlaybookError(self.problems)
        parameters: dict[str, Any] = {}
        if self.uses_event:
            parameters[EVENT_INPUT] = {
                "type": "object",
                "required": True,
                "description": "The event the playbook runs on (its ${event...} references), "
                               "e.g. the alert or incident that fired the rule.",
            }
        if expose:
            self._expose(inputs, parameters)
        names = self.graph.task_names
        tasks = {}
        for node in self.graph.ordered_actions:
            task: dict[str, Any] = {}
            if len(self.graph.predecessors[node.id]) > 1:
                task["join"] = "all"
            task["action"] = f"{PACK}.{node.data['actionName']}"
            if inputs[node.id]:
                task["input"] = inputs[node.id]
            transition: dict[str, Any] = {"when": "<% succeeded() %>",
                                          "publish": [{names[node.id]: "<% result().result %>"}]}
            following = [names[s] for s in self.graph.successors[node.id]
                         if self.graph.nodes[s].kind == "action"]
            if following:
                transition["do"] = following
            task["next"] = [transition]
            tasks[names[node.id]] = task
        workflow: dict[str, Any] = {"version": 1.0, "description": description}
        if parameters:
            workflow["input"] = list(parameters)
        workflow["vars"] = [{names[n.id]: None} for n in self.graph.ordered_actions]
        workflow["tasks"] = tasks
        workflow["output"] = [{names[n.id]: f"<% ctx({names[n.id]}) %>"}
                              for n in self.graph.ordered_actions]
        return workflow, parameters

    def _task_input(self, node: Node) -> dict[str, Any]:
        action = node.data["actionName"]
        values = dict(node.data.get("valueData") or {})
        known = COMPONENT_ACTIONS[action]
        for name in values:
            if name not in known:
                self.problems.append(f"{node.label}: valueData has {_shown(name)}, which is "
                                     f"not a parameter of {action} (expected one of "
                                     f"{', '.join(known)})")
        asset = str(node.data.get("assetUuid") or "").strip()
        marker = _expression_syntax(asset)
        if marker or not asset.isprintable():
            self.problems.append(f"{node.label}: assetUuid {_shown(asset)} "
                                 + (f"contains {marker!r}, expression syntax Orquesta would "
                                    "evaluate" if marker else "is not one line of text"))
        elif asset:
            self._select_instance(node, action, values, asset)
        return {name: self._value(node, name, value) for name, value in values.items()}

    def _select_instance(self, node: Node, action: str, values: dict[str, Any],
                         asset: str) -> None:
        if action != "notifyByCustom":
            self.warnings.append(f"{node.label}: assetUuid {asset} is ignored ({action} does "
                                 "not send through an SMTP instance)")
            return
        email = values.get("email")
        flag_on = is_on(email)  # the words the actions read as "on" (params.TRUE_WORDS)
        blank = email is None or (isinstance(email, str) and not email.strip())
        if flag_on or (blank and values.get("receivers")):
            values["email"] = asset
        else:
            self.warnings.append(f"{node.label}: assetUuid {asset} is ignored because email "
                                 f"is {email!r}")
            return
        if self.smtp_instance_uuids is not None and asset not in self.smtp_instance_uuids:
            self.warnings.append(f"{node.label}: no smtp_instances entry of the pack config "
                                 f"has uuid {asset}; add uuid: {asset} to the instance that "
                                 "should send this mail")

    def _value(self, node: Node, name: str, value: Any) -> Any:
        """The task input for one valueData value: a copy in which references became
        expressions, every key and string checked for expression syntax at any depth.

        Iterative: ``pending`` holds (value, the container its copy goes into, its slot
        there, its path); a container's copy is made with every slot in place first, so the
        copy keeps the order of keys.  A path is (parent path, key), rendered only for a
        problem, so that deep or long keys cost nothing until one is reported.
        """
        result: list[Any] = [None]
        pending: list[tuple[Any, Any, Any, _Path]] = [(value, result, 0, (None, name))]
        while pending:
            current, into, slot, path = pending.pop()
            if isinstance(current, Mapping):
                copy: dict[Any, Any] = {}
                into[slot] = copy
                children = []
                for key, child in current.items():
                    if self._refused_key(node, path, key):
                        continue
                    copy[key] = None
                    children.append((child, copy, key, (path, key)))
                pending.extend(reversed(children))  # popped in document order
            elif isinstance(current, (list, tuple)):
                items: list[Any] = [None] * len(current)
                into[slot] = items
                pending.extend((current[i], items, i, (path, i))
                               for i in range(len(current) - 1, -1, -1))
            elif isinstance(current, str):
                into[slot] = self._text(node, path, current)
            elif current is None or isinstance(current, (bool, int, float)):
                into[slot] = current
            else:
                self.problems.append(f"{node.label}: {_render(path)} is a "
                                     f"{type(current).__name__}, not a JSON value")
        return result[0]

    def _refused_key(self, node: Node, path: _Path, key: Any) -> bool:
        if not isinstance(key, str):
            self.problems.append(f"{node.label}: {_render(path)} has the key {_shown(key)}; "
                                 "keys are text")
            return True
        marker = _expression_syntax(key)
        if marker:
            self.problems.append(f"{node.label}: {_render(path)} has the key {_shown(key)}, "
                                 f"which contains {marker!r}, expression syntax Orquesta would "
                                 "evaluate (keys are evaluated too); rewrite that key")
            return True
        return False

    def _text(self, node: Node, path: _Path, value: str) -> str:
        marker = _expression_syntax(_REFERENCE.sub("", value))
        if marker:
            hint = " (in JSON text, a space between the braces avoids it)" \
                if marker == "{{" else ""
            self.problems.append(f"{node.label}: {_render(path)} contains {marker!r}, "
                                 "expression syntax Orquesta would evaluate; rewrite that "
                                 f"text{hint}")
            return value
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return f"<% {self._expression(node, path, whole.group(1))} %>"
        return _REFERENCE.sub(lambda m: f"<% {self._expression(node, path, m.group(1))} %>",
                              value)

    def _expression(self, node: Node, where: _Path, reference: str) -> str:
        """The expression for ``${reference}``: built from a task name and identifiers or
        indexes only, never from the reference's text as such."""
        head, *fields = [part.strip() for part in reference.split(".")]
        shown = _clip(reference)
        suffix = ""
        for part in fields:
            if _IDENTIFIER.fullmatch(part):
                suffix += "." + part
            elif part.isascii() and part.isdigit() and len(part) <= 9:
                suffix += f"[{int(part)}]"
            else:
                self.problems.append(f"{node.label}: {_render(where)} refers to ${{{shown}}}; "
                                     f"{_shown(part)} is not a field name this importer can "
                                     "convert")
                return "null"
        if head == EVENT_INPUT:
            self.uses_event = True
            return f"ctx({EVENT_INPUT}){suffix}"
        source = self.graph.node_named(head)
        if source is None:
            self.problems.append(f"{node.label}: {_render(where)} refers to ${{{shown}}}, "
                                 "but the playbook has no NotifyMessage node named "
                                 f"{_shown(head)} (only event and earlier nodes can be "
                                 "referred to)")
            return "null"
        if not self.graph.runs_before(source.id, node.id):
            self.problems.append(f"{node.label}: {_render(where)} refers to ${{{shown}}}, but "
                                 f"{source.label} does not run before it")
            return "null"
        return f"task({self.graph.task_names[source.id]}).result.result{suffix}"

    def _expose(self, inputs: dict[str, dict[str, Any]], parameters: dict[str, Any]) -> None:
        """Literal inputs become workflow parameters (defaults = the playbook's values)."""
        counts: dict[str, int] = {}
        for values in inputs.values():
            for name in values:
                counts[name] = counts.get(name, 0) + 1
        taken = set(self.graph.task_names.values()) | {EVENT_INPUT}  # task results are vars
        for node in self.graph.ordered_actions:
            task = self.graph.task_names[node.id]
            for name, value in list(inputs[node.id].items()):
                if _has_expression(value):
                    continue
                exposed = name if counts[name] == 1 and name not in taken else f"{task}_{name}"
                parameters[exposed] = _parameter_schema(value, node, task, name)
                inputs[node.id][name] = f"<% ctx({exposed}) %>"


def _has_expression(value: Any) -> bool:
    """Whether a converted input holds an expression (the converter's, the only kind left)
    anywhere in it; iterative."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, Mapping):
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
        elif isinstance(current, str) and "<%" in current:
            return True
    return False


_Path = tuple[Any, Any]  # (parent path or None, key or index); the root's key is the name


def _render(path: _Path) -> str:
    """``emailcontext``, ``dingdingcontext.text``, ``receivers[0]``, ``x['odd key']``."""
    parts: list[str] = []
    current: _Path | None = path
    while current is not None:
        parent, key = current
        if parent is None:
            parts.append(str(key))
        elif isinstance(key, int) and not isinstance(key, bool):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and len(key) <= _SHOWN and _IDENTIFIER.fullmatch(key):
            parts.append("." + key)
        else:
            parts.append(f"[{_shown(key)}]")
        current = parent
    return "".join(reversed(parts))


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _shown(value: Any) -> str:
    """A key or a reference as a problem quotes it: repr (no line break gets through),
    clipped."""
    if isinstance(value, str) and len(value) > _SHOWN:
        return repr(value[:_SHOWN]) + "..."
    return repr(value)


def _expression_syntax(text: str) -> str | None:
    """The first of EXPRESSION_SYNTAX found in ``text``, or None."""
    return next((m for m in EXPRESSION_SYNTAX if m in text), None)


def _parameter_schema(value: Any, node: Node, task: str, name: str) -> dict[str, Any]:
    action = node.data["actionName"]
    schema: dict[str, Any]
    if name in _FLAG_OR_SELECTOR or isinstance(value, (bool, int, float)):
        schema = {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}]}
    elif isinstance(value, list):
        schema = {"anyOf": [{"type": "string"},
                            {"type": "array", "items": {"type": _json_type(value)}}]}
    elif isinstance(value, Mapping):
        schema = {"anyOf": [{"type": "string"}, {"type": "object"}]}
    else:
        schema = {"type": "string"}
    schema["description"] = f"{name} of {task} ({action})."  # the task name: an identifier
    if value is not None:
        schema["default"] = value
    return schema


def _json_type(items: Sequence[Any]) -> str:
    kinds = {type(v) for v in items}
    if kinds and kinds <= {dict}:
        return "object"
    return "string"
