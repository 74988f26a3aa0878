"""A playbook export read as a graph: its nodes, its sequence flows, and the shape checks.

``Graph.from_cells`` reads the editor's ``cells`` into nodes and edges, checks that they form
something Orquesta can run (one start, an end, no loops, no loose ends, only NotifyMessage
action nodes), orders the action nodes topologically and names their tasks.  Every problem
is collected; ``PlaybookError`` lists them all at once.

The graph algorithms are iterative, so a playbook's size is not bounded by Python's
recursion limit: the order is Kahn's algorithm, a loop is one cycle among the nodes Kahn's
algorithm cannot order, and reachability is one walk with an explicit stack.  A playbook is
bounded before it is read: at most ``MAX_PLAYBOOK_BYTES`` of JSON, arrays and objects nested
at most ``MAX_PLAYBOOK_DEPTH`` deep, at most ``MAX_PLAYBOOK_ITEMS`` values in all.
"""

from __future__ import annotations

import json
import re
from heapq import heapify, heappop, heappush
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..bounded import BoundsError, check_structure
from ..errors import NotifyMessageError
from ..parameters import COMPONENT_ACTIONS

__all__ = ["PlaybookError", "Node", "Graph", "load_playbook", "one_line", "COMPONENT",
           "EVENT_INPUT",
           "MAX_PLAYBOOK_BYTES", "MAX_PLAYBOOK_DEPTH", "MAX_PLAYBOOK_ITEMS"]

# Generous bounds for a whole playbook (a 10,000-node chain is 4.5 MB, nested 6 deep, about
# 460,000 values); bounded's defaults are for one parameter, far smaller.
MAX_PLAYBOOK_BYTES = 16 * 1024 * 1024
MAX_PLAYBOOK_DEPTH = 64
MAX_PLAYBOOK_ITEMS = 4_000_000

COMPONENT = "NotifyMessage"  # its actions, and their parameters: parameters.COMPONENT_ACTIONS
EVENT_INPUT = "event"
_ORQUESTA_RESERVED = ("continue", "fail", "noop", "retry")
_CONDITION_KEYS = ("condition", "conditions", "conditionExpression", "expression")


class PlaybookError(NotifyMessageError, ValueError):
    """The playbook cannot be converted; ``problems`` lists why, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = [one_line(p) for p in problems]
        if len(self.problems) == 1:  # one problem: one line
            super().__init__(f"the playbook cannot be converted: {self.problems[0]}")
        else:
            super().__init__("the playbook cannot be converted:\n- "
                             + "\n- ".join(self.problems))


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, escapes) written
    as its escape sequence: a problem or a warning quoting the playbook stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Node:
    id: str
    name: str
    kind: str            # startEvent, endEvent, action, or whatever else the editor had
    data: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"node {self.name!r} (id {self.id})"


def load_playbook(value: Any) -> Mapping[str, Any]:
    """A playbook given as JSON text (str or UTF-8 bytes) or as already parsed data, within
    the bounds (``MAX_PLAYBOOK_*``)."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PlaybookError([f"the playbook is not UTF-8 text (byte {exc.start} cannot "
                                 "be decoded)"]) from None
    if isinstance(value, str):
        value = _parse(value)
    else:
        _check_bounds(value)
    if not isinstance(value, Mapping) or not isinstance(value.get("cells"), list):
        raise PlaybookError(["expected the playbook export: a JSON object with a 'cells' list"])
    return value


def _parse(text: str) -> Any:
    """JSON text within the bounds.  Not ``bounded.loads``: its bound on the number of values
    is the one of a single parameter (100,000), which a playbook of a few thousand nodes
    exceeds.  The size is checked before parsing; the json module's parser refuses nesting
    beyond Python's recursion limit with RecursionError, and the depth bound is checked on
    the parsed value."""
    size = len(text)  # each character is at least one byte
    if size <= MAX_PLAYBOOK_BYTES:
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PLAYBOOK_BYTES:
        raise PlaybookError([f"the playbook is {size} bytes of JSON; at most "
                             f"{MAX_PLAYBOOK_BYTES} ({MAX_PLAYBOOK_BYTES // 1024 // 1024} MiB) "
                             "are accepted"])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaybookError([f"the playbook is not valid JSON: {exc}"]) from None
    except RecursionError:
        raise PlaybookError([f"the playbook nests arrays and objects deeper than "
                             f"{MAX_PLAYBOOK_DEPTH} levels"]) from None
    except ValueError as exc:  # an integer beyond Python's digit limit, and the like
        raise PlaybookError([f"the playbook holds a value JSON cannot be read into "
                             f"({str(exc)[:80]})"]) from None
    _check_bounds(value)
    return value


def _check_bounds(value: Any) -> None:
    try:
        check_structure(value, max_depth=MAX_PLAYBOOK_DEPTH, max_items=MAX_PLAYBOOK_ITEMS)
    except BoundsError as exc:
        raise PlaybookError([f"the playbook {exc}"]) from None


class Graph:
    """The playbook's nodes and flows, checked: one start, an end, no loops, no loose ends."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.successors: dict[str, list[str]] = {}
        self.predecessors: dict[str, list[str]] = {}
        self.start: Node | None = None
        self.order: list[str] = []       # every node, topologically (cell order among equals)
        self.rank: dict[str, int] = {}   # a node's place in ``order``
        self.ordered_actions: list[Node] = []
        self.task_names: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self._by_name: dict[str, Node] | None = None

    @classmethod
    def from_cells(cls, cells: Sequence[Any]) -> Graph:
        graph = cls()
        edges = graph._read_cells(cells)
        graph._link(edges)
        if not graph.problems:
            graph._check_shape()
        if not graph.problems:
            graph.ordered_actions = [graph.nodes[i] for i in graph.order
                                     if graph.nodes[i].kind == "action"]
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
            node = Node(cell_id, name, str(data.get("nodeType") or "?"), data)
            self.nodes[cell_id] = node
            self.successors[cell_id] = []
            self.predecessors[cell_id] = []
            self._check_node(node)
        return edges

    def _check_node(self, node: Node) -> None:
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
        elif not isinstance(action, str) or action not in COMPONENT_ACTIONS:
            self.problems.append(f"{node.label} runs {COMPONENT}.{action}; expected one of "
                                 + ", ".join(COMPONENT_ACTIONS))
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
        self.order, unordered = self._topological_order()
        self.rank = {node_id: i for i, node_id in enumerate(self.order)}
        if unordered:
            loop = self._find_loop(unordered)
            self.problems.append("the flow loops: " + " -> ".join(
                f"{self.nodes[i].name!r} (id {i})" for i in loop) + "; loops are not converted")

    def _topological_order(self) -> tuple[list[str], list[str]]:
        """Kahn's algorithm over every node: the nodes in a topological order, the earliest
        cell first among those ready together, and the nodes it cannot order (on a loop or
        after one), in cell order."""
        ids = list(self.nodes)
        position = {node_id: i for i, node_id in enumerate(ids)}
        waiting = {node_id: len(self.predecessors[node_id]) for node_id in ids}
        ready = [position[node_id] for node_id in ids if not waiting[node_id]]
        heapify(ready)
        order: list[str] = []
        while ready:
            current = ids[heappop(ready)]
            order.append(current)
            for nxt in self.successors[current]:
                waiting[nxt] -= 1
                if not waiting[nxt]:
                    heappush(ready, position[nxt])
        return order, [node_id for node_id in ids if waiting[node_id]]

    def _find_loop(self, unordered: Sequence[str]) -> list[str]:
        """One cycle among the nodes Kahn's algorithm left, as the flow runs, its first node
        (the earliest cell of the cycle) repeated at the end.

        Each node left still waits for a predecessor that was left too, so walking back
        from one along such predecessors comes round to a node already walked; the walk
        from that node on is a cycle, backwards.
        """
        left = set(unordered)
        step: dict[str, int] = {}
        walk: list[str] = []
        current = unordered[0]
        while current not in step:
            step[current] = len(walk)
            walk.append(current)
            current = next(p for p in self.predecessors[current] if p in left)
        cycle = walk[step[current]:][::-1]
        position = {node_id: i for i, node_id in enumerate(self.nodes)}
        first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
        cycle = cycle[first:] + cycle[:first]
        return cycle + cycle[:1]

    def _name_tasks(self) -> None:
        used: set[str] = {EVENT_INPUT}
        next_suffix: dict[str, int] = {}  # base -> the first suffix not tried yet
        for node in self.ordered_actions:
            base = re.sub(r"[^A-Za-z0-9_]+", "_", node.name).strip("_")
            if not base or base[0].isdigit():
                base = "task_" + base if base else "task"
            if base in _ORQUESTA_RESERVED:
                base += "_task"
            name, n = base, next_suffix.get(base, 2)
            if name in used:
                name = f"{base}_{n}"
                while name in used:
                    n += 1
                    name = f"{base}_{n}"
                next_suffix[base] = n + 1
            used.add(name)
            self.task_names[node.id] = name
            if name != node.name:
                self.warnings.append(f"{node.label} is the task {name} (Orquesta task names "
                                     "are identifiers)")

    def runs_before(self, earlier: str, later: str) -> bool:
        """Whether a flow leads from ``earlier`` to ``later`` (``earlier`` is an ancestor).

        One walk back from ``later`` that only enters nodes the topological order puts after
        ``earlier``: a path from ``earlier`` cannot pass through any other node.
        """
        floor = self.rank[earlier]
        if self.rank[later] <= floor:
            return False
        seen = {later}
        stack = [later]
        while stack:
            for previous in self.predecessors[stack.pop()]:
                if previous == earlier:
                    return True
                if previous not in seen and self.rank[previous] > floor:
                    seen.add(previous)
                    stack.append(previous)
        return False

    def node_named(self, name: str) -> Node | None:
        """The first action node in the order called ``name``."""
        if self._by_name is None:
            self._by_name = {}
            for node in self.ordered_actions:
                self._by_name.setdefault(node.name, node)
        return self._by_name.get(name)


def _end_of(cell: Mapping[str, Any], side: str) -> str:
    end = cell.get(side)
    if isinstance(end, Mapping):
        end = end.get("cell")
    return str(end) if end else ""


def _label_text(cell: Mapping[str, Any]) -> str:
    attrs = cell.get("attrs")
    label = attrs.get("label") if isinstance(attrs, Mapping) else None
    return str(label.get("text") or "") if isinstance(label, Mapping) else ""


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
