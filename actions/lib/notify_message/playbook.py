"""Alibaba Cloud SOAR playbooks -> Orquesta workflows.

SOAR's visual editor exports a playbook as ``{"cells": [...]}``: nodes (one ``startEvent``,
``endEvent`` nodes, ``action`` nodes running a component) and ``sequenceFlow`` edges between
them.  ``convert_playbook`` turns one into an Orquesta workflow and its st2 action metadata:

- each NotifyMessage node becomes a task running ``notify_message.<actionName>`` with the
  node's ``valueData`` as input (or, with ``expose_parameters``, as workflow parameters whose
  defaults are those values);
- sequence flows become transitions on success; several outgoing flows are a branch (one
  transition to several tasks), several incoming flows a join (``join: all``);
- ``${Node.field}`` becomes ``<% task(Node).result.result.field %>`` (the python runner puts
  an action's returned dict under ``result``), ``${event.x}`` becomes ``<% ctx(event).x %>``
  with ``event`` a workflow input;
- a notifyByCustom node's ``assetUuid`` selects the SMTP instance with that ``uuid`` in the
  pack config: ``email: 1`` becomes ``email: <assetUuid>``.

Whatever cannot be converted - another component, a gateway, a loop, several start nodes, no
end node, a flow whose end is missing, a reference to a node that has not run yet - raises
``PlaybookError`` listing every problem, each naming the node by nodeName and id.  Nothing
is dropped silently: what is converted with a caveat is listed in ``warnings``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from .custom.request import CUSTOM_PARAMETERS
from .errors import NotifyMessageError
from .message_center.request import MESSAGE_CENTER_PARAMETERS

__all__ = ["PlaybookError", "ConvertedPlaybook", "load_playbook", "convert_playbook",
           "ACTION_PARAMETERS"]

PACK = "notify_message"
COMPONENT = "NotifyMessage"
ACTION_PARAMETERS: Mapping[str, Sequence[str]] = {
    "notifyByMessageCenter": MESSAGE_CENTER_PARAMETERS,
    "notifyByCustom": CUSTOM_PARAMETERS,
}
EVENT_INPUT = "event"
_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ACTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_EXPRESSION_OPENERS = ("<%", "{{", "{%")  # YAQL, Jinja; "}}" alone is only nested JSON
_ORQUESTA_RESERVED = ("continue", "fail", "noop", "retry")
_CONDITION_KEYS = ("condition", "conditions", "conditionExpression", "expression")
_FLAG_ON = ("1", "true", "yes", "on")
# notifyByCustom parameters that are a flag (1 / true) or a selector (an instance, a sender)
_FLAG_OR_SELECTOR = ("email", "sms", "dingding")


class PlaybookError(NotifyMessageError, ValueError):
    """The playbook cannot be converted; ``problems`` lists why, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("the playbook cannot be converted:\n- " + "\n- ".join(self.problems))


@dataclass(frozen=True)
class _Node:
    id: str
    name: str
    kind: str            # startEvent, endEvent, action, or whatever else the editor had
    data: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"node {self.name!r} (id {self.id})"


@dataclass(frozen=True)
class ConvertedPlaybook:
    """The workflow and its action metadata, as data and as YAML text."""

    name: str
    workflow: dict[str, Any]
    metadata: dict[str, Any]
    warnings: tuple[str, ...] = ()
    source: str = "a SOAR playbook"

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
        return (f"# Converted from {self.source} by notify_message's playbook importer.\n"
                "# Edit freely; importing again overwrites it only when asked to.\n")

    def write(self, pack_dir: str, *, overwrite: bool = False,
              require_pack: bool = True) -> list[str]:
        """Write both files into a pack directory; returns their paths."""
        if require_pack and not os.path.isfile(os.path.join(pack_dir, "pack.yaml")):
            raise FileNotFoundError(f"{pack_dir} is not a pack directory (it has no pack.yaml)")
        files = [(os.path.join(pack_dir, self.metadata_path), self.metadata_yaml),
                 (os.path.join(pack_dir, self.workflow_path), self.workflow_yaml)]
        existing = [path for path, _ in files if os.path.exists(path)]
        if existing and not overwrite:
            raise FileExistsError(f"{', '.join(existing)} already exists; pass overwrite to "
                                  "replace it")
        for path, text in files:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return [path for path, _ in files]


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)


def load_playbook(value: Any) -> Mapping[str, Any]:
    """A playbook given as JSON text or as already parsed data."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise PlaybookError([f"the playbook is not valid JSON: {exc}"]) from None
    if not isinstance(value, Mapping) or not isinstance(value.get("cells"), list):
        raise PlaybookError(["expected the playbook export: a JSON object with a 'cells' list"])
    return value


def convert_playbook(playbook: Any, name: str, *, description: str = "",
                     expose_parameters: bool = False,
                     smtp_instance_uuids: Iterable[str] | None = None,
                     source: str = "a SOAR playbook") -> ConvertedPlaybook:
    """Convert a playbook (JSON text or data) into a workflow called ``name``.

    ``smtp_instance_uuids``: the ``uuid`` of every SMTP instance in the pack config, so that
    an ``assetUuid`` no instance carries is reported; None skips that check.
    """
    if not _ACTION_NAME.match(name or ""):
        raise PlaybookError([f"name {name!r}: expected letters, digits, '_' or '-', starting "
                             "with a letter (it becomes the action name and the file name)"])
    graph = _Graph.from_cells(load_playbook(playbook)["cells"])
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
    return ConvertedPlaybook(name, workflow, metadata, tuple(converter.warnings), source)


class _Graph:
    """The playbook's nodes and flows, checked: one start, an end, no loops, no loose ends."""

    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self.successors: dict[str, list[str]] = {}
        self.predecessors: dict[str, list[str]] = {}
        self.start: _Node | None = None
        self.ordered_actions: list[_Node] = []
        self.task_names: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []

    @classmethod
    def from_cells(cls, cells: Sequence[Any]) -> _Graph:
        graph = cls()
        edges = graph._read_cells(cells)
        graph._link(edges)
        if not graph.problems:
            graph._check_shape()
        if not graph.problems:
            graph._order()
            graph._name_tasks()
        if graph.problems:
            raise PlaybookError(graph.problems)
        return graph

    def _read_cells(self, cells: Sequence[Any]) -> list[tuple[str, Any, Any]]:
        edges = []
        for index, cell in enumerate(cells):
            if not isinstance(cell, Mapping):
                self.problems.append(f"cells[{index}] is not an object")
                continue
            raw_data = cell.get("data")
            data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
            cell_id = str(cell.get("id") or f"cells[{index}]")
            if data.get("nodeType") == "sequenceFlow" or cell.get("isNode") is False:
                edges.append((cell_id, cell, data))
                continue
            name = str(data.get("nodeName") or _label_text(cell) or cell_id)
            if cell_id in self.nodes:
                self.problems.append(f"node {name!r}: id {cell_id} is used twice")
                continue
            node = _Node(cell_id, name, str(data.get("nodeType") or "?"), data)
            self.nodes[cell_id] = node
            self.successors[cell_id] = []
            self.predecessors[cell_id] = []
            self._check_node(node)
        return edges

    def _check_node(self, node: _Node) -> None:
        if node.kind in ("startEvent", "endEvent"):
            return
        if node.kind != "action":
            self.problems.append(f"{node.label} is a {node.kind} node; only start, end and "
                                 f"{COMPONENT} action nodes can be converted")
            return
        component = node.data.get("componentName")
        action = node.data.get("actionName")
        if component != COMPONENT:
            self.problems.append(f"{node.label} runs the component {component!r}; only "
                                 f"{COMPONENT} nodes can be converted (this pack has no "
                                 "counterpart for it)")
        elif action not in ACTION_PARAMETERS:
            self.problems.append(f"{node.label} runs {COMPONENT}.{action}; expected one of "
                                 + ", ".join(ACTION_PARAMETERS))
        elif not isinstance(node.data.get("valueData") or {}, Mapping):
            self.problems.append(f"{node.label}: valueData is not an object")

    def _link(self, edges: Sequence[tuple[str, Any, Any]]) -> None:
        seen = set()
        for edge_id, cell, data in edges:
            if data.get("nodeType") not in (None, "sequenceFlow"):
                self.problems.append(f"edge {edge_id} is a {data.get('nodeType')}; only "
                                     "sequence flows can be converted")
                continue
            if any(data.get(key) for key in _CONDITION_KEYS):
                self.problems.append(f"sequence flow {edge_id} has a condition; conditional "
                                     "flows are not converted (add a when: by hand)")
                continue
            source = _end_of(cell, "source")
            target = _end_of(cell, "target")
            missing = [f"its {side} {cell_ref or '(none)'} is not a node of the playbook"
                       for side, cell_ref in (("source", source), ("target", target))
                       if cell_ref not in self.nodes]
            if missing:
                self.problems.append(f"sequence flow {edge_id} is dangling: " + "; ".join(missing))
                continue
            if (source, target) in seen:
                self.warnings.append(f"sequence flow {edge_id} repeats the flow from "
                                     f"{self.nodes[source].label} to {self.nodes[target].label}; "
                                     "it is converted once")
                continue
            seen.add((source, target))
            self.successors[source].append(target)
            self.predecessors[target].append(source)

    def _check_shape(self) -> None:
        starts = [n for n in self.nodes.values() if n.kind == "startEvent"]
        ends = [n for n in self.nodes.values() if n.kind == "endEvent"]
        if len(starts) != 1:
            self.problems.append("a playbook has exactly one start node; found "
                                 + (", ".join(n.label for n in starts) if starts else "none"))
        if not ends:
            self.problems.append("the playbook has no end node")
        for node in self.nodes.values():
            if node.kind == "startEvent" and self.predecessors[node.id]:
                self.problems.append(f"{node.label} is a start node but a flow leads into it")
            if node.kind == "endEvent" and self.successors[node.id]:
                self.problems.append(f"{node.label} is an end node but a flow leaves it")
            if node.kind == "action" and not self.successors[node.id]:
                self.problems.append(f"{node.label} has no outgoing flow; connect it to the "
                                     "next node or to an end node")
            if node.kind == "action" and self.predecessors[node.id] and len(starts) == 1 \
                    and starts[0].id in self.predecessors[node.id] \
                    and len(self.predecessors[node.id]) > 1:
                self.problems.append(f"{node.label} is reached both from start and from other "
                                     "nodes; Orquesta cannot both start it and wait for them")
        if len(starts) != 1:
            return
        self.start = starts[0]
        if not self.successors[self.start.id]:
            self.problems.append(f"{self.start.label} has no outgoing flow")
        reachable = {self.start.id} | _closure(self.successors, self.start.id)
        for node in self.nodes.values():
            if node.id not in reachable:
                self.problems.append(f"{node.label} cannot be reached from the start node")
        loop = self._find_loop()
        if loop:
            self.problems.append("the flow loops: " + " -> ".join(
                f"{self.nodes[i].name!r} (id {i})" for i in loop) + "; loops are not converted")

    def _find_loop(self) -> list[str]:
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        path: list[str] = []

        def visit(node_id: str) -> list[str]:
            state[node_id] = 1
            path.append(node_id)
            for nxt in self.successors[node_id]:
                if state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                if nxt not in state:
                    found = visit(nxt)
                    if found:
                        return found
            path.pop()
            state[node_id] = 2
            return []

        for node_id in self.nodes:
            if node_id not in state:
                found = visit(node_id)
                if found:
                    return found
        return []

    def _order(self) -> None:
        """Action nodes in a topological order (cell order among equals)."""
        position = {node_id: i for i, node_id in enumerate(self.nodes)}
        waiting = {n: len(self.predecessors[n]) for n in self.nodes}
        ready = [self.start.id] if self.start else []
        while ready:
            ready.sort(key=position.__getitem__)
            current = ready.pop(0)
            if self.nodes[current].kind == "action":
                self.ordered_actions.append(self.nodes[current])
            for nxt in self.successors[current]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    ready.append(nxt)

    def _name_tasks(self) -> None:
        used: set[str] = {EVENT_INPUT}
        for node in self.ordered_actions:
            base = re.sub(r"[^A-Za-z0-9_]+", "_", node.name).strip("_")
            if not base or base[0].isdigit():
                base = "task_" + base if base else "task"
            if base in _ORQUESTA_RESERVED:
                base += "_task"
            name, n = base, 2
            while name in used:
                name, n = f"{base}_{n}", n + 1
            used.add(name)
            self.task_names[node.id] = name
            if name != node.name:
                self.warnings.append(f"{node.label} is the task {name} (Orquesta task names "
                                     "are identifiers)")

    def ancestors(self, node_id: str) -> set[str]:
        return _closure(self.predecessors, node_id)

    def node_named(self, name: str) -> _Node | None:
        return next((n for n in self.ordered_actions if n.name == name), None)


def _end_of(cell: Mapping[str, Any], side: str) -> str:
    end = cell.get(side)
    if isinstance(end, Mapping):
        end = end.get("cell")
    return str(end) if end else ""


def _label_text(cell: Mapping[str, Any]) -> str:
    attrs = cell.get("attrs")
    label = attrs.get("label") if isinstance(attrs, Mapping) else None
    return str(label.get("text") or "") if isinstance(label, Mapping) else ""


@dataclass
class _Converter:
    graph: _Graph
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

    def _task_input(self, node: _Node) -> dict[str, Any]:
        action = node.data["actionName"]
        values = dict(node.data.get("valueData") or {})
        known = ACTION_PARAMETERS[action]
        for name in values:
            if name not in known:
                self.problems.append(f"{node.label}: valueData has {name!r}, which is not a "
                                     f"parameter of {action} (expected one of "
                                     f"{', '.join(known)})")
        asset = str(node.data.get("assetUuid") or "").strip()
        if asset:
            self._select_instance(node, action, values, asset)
        return {name: self._value(node, name, value) for name, value in values.items()}

    def _select_instance(self, node: _Node, action: str, values: dict[str, Any],
                         asset: str) -> None:
        if action != "notifyByCustom":
            self.warnings.append(f"{node.label}: assetUuid {asset} is ignored ({action} does "
                                 "not send through an SMTP instance)")
            return
        email = values.get("email")
        flag_on = email is True or str(email).strip().lower() in _FLAG_ON
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

    def _value(self, node: _Node, name: str, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: self._value(node, f"{name}.{k}", v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(node, f"{name}[{i}]", v) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        marker = next((m for m in _EXPRESSION_OPENERS if m in _REFERENCE.sub("", value)), None)
        if marker:
            self.problems.append(f"{node.label}: {name} contains {marker!r}, which Orquesta "
                                 "would evaluate as an expression; rewrite that text")
            return value
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return f"<% {self._expression(node, name, whole.group(1))} %>"
        return _REFERENCE.sub(lambda m: f"<% {self._expression(node, name, m.group(1))} %>",
                              value)

    def _expression(self, node: _Node, name: str, reference: str) -> str:
        head, *path = [part.strip() for part in reference.split(".")]
        suffix = ""
        for part in path:
            if _IDENTIFIER.match(part):
                suffix += "." + part
            elif part.isdigit():
                suffix += f"[{part}]"
            else:
                self.problems.append(f"{node.label}: {name} refers to ${{{reference}}}; "
                                     f"{part!r} is not a field name this importer can convert")
                return "null"
        if head == EVENT_INPUT:
            self.uses_event = True
            return f"ctx({EVENT_INPUT}){suffix}"
        source = self.graph.node_named(head)
        if source is None:
            self.problems.append(f"{node.label}: {name} refers to ${{{reference}}}, but the "
                                 f"playbook has no NotifyMessage node named {head!r} (only "
                                 "event and earlier nodes can be referred to)")
            return "null"
        if source.id not in self.graph.ancestors(node.id):
            self.problems.append(f"{node.label}: {name} refers to ${{{reference}}}, but "
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
                parameters[exposed] = _parameter_schema(value, node, name)
                inputs[node.id][name] = f"<% ctx({exposed}) %>"


def _has_expression(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_expression(v) for v in value)
    return isinstance(value, str) and "<%" in value


def _parameter_schema(value: Any, node: _Node, name: str) -> dict[str, Any]:
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
    schema["description"] = f"{name} of {node.name} ({action})."
    if value is not None:
        schema["default"] = value
    return schema


def _json_type(items: Sequence[Any]) -> str:
    kinds = {type(v) for v in items}
    if kinds and kinds <= {dict}:
        return "object"
    return "string"


def _closure(edges: Mapping[str, list[str]], node_id: str) -> set[str]:
    """Every node reachable from ``node_id`` along ``edges`` (successors or predecessors)."""
    seen: set[str] = set()
    stack = list(edges[node_id])
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(edges[current])
    return seen
