"""The library's layout holds: no import cycle, channels' senders never import parameter
parsing, the actions' parameter names are declared once, and an action loads only what it
needs (every st2 execution is a new process)."""

import ast
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from conftest import PACK_DIR
from notify_message.parameters import ACTION_PARAMETERS

LIB = os.path.join(PACK_DIR, "actions", "lib")
PACKAGE = os.path.join(LIB, "notify_message")


def _modules():
    """Every module of the library: dotted name -> path."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, LIB)[:-3].replace(os.sep, ".")
                found[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


MODULES = _modules()


def _is_type_checking(node):
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _module_level_imports(tree):
    """Import statements that run when the module is imported (not under TYPE_CHECKING,
    not inside functions or classes)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)) and not _is_type_checking(node):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler)
                                   else [child])


def _imports_of(module):
    """The library modules ``module`` imports at import time, with their parent packages."""
    path = MODULES[module]
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    targets = set()
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in _module_level_imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
            names += [f"{names[0]}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            while name:  # importing a.b.c runs a and a.b first (unless they contain us)
                if not (module + ".").startswith(name + "."):
                    targets.add(name)
                name = name.rpartition(".")[0]
    return targets


GRAPH = {module: _imports_of(module) for module in MODULES}


def _find_cycle(graph):
    """One import cycle as a list of modules, or []: an iterative depth-first search."""
    state = {}
    for start in graph:
        if start in state:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = "open"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = "done"
            elif state.get(child) == "open":
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = "open"
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return []


def test_the_library_has_no_import_cycle():
    assert _find_cycle(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) == []


def _reachable(module):
    seen, pending = set(), [module]
    while pending:
        for target in GRAPH[pending.pop()]:
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


PARSING = {"notify_message.params", "notify_message.parameters", "notify_message.custom"}


@pytest.mark.parametrize("module", sorted(
    m for m in MODULES if m.startswith("notify_message.channels.")
    and m.rpartition(".")[2] in ("send", "message", "config", "protocol", "sms", "voice",
                                 "codes", "providers")))
def test_channels_never_import_parameter_parsing(module):
    assert not _reachable(module) & PARSING, sorted(_reachable(module) & PARSING)


def _declared_parameters(action):
    with open(os.path.join(PACK_DIR, "actions", action + ".yaml"), encoding="utf-8") as f:
        return tuple(yaml.safe_load(f).get("parameters") or {})


@pytest.mark.parametrize("action", sorted(ACTION_PARAMETERS))
def test_the_action_metadata_declares_the_library_s_parameter_names(action):
    assert _declared_parameters(action) == ACTION_PARAMETERS[action]


def _loaded_modules(code):
    """The modules a fresh interpreter has loaded after running ``code`` with the action's
    sys.path (actions/lib, actions/) and the st2 stand-in where st2 is not installed."""
    paths = [LIB, os.path.join(PACK_DIR, "actions"),
             os.path.join(PACK_DIR, "tests", "st2_standin"), PACK_DIR]
    script = textwrap.dedent("""
        import json, sys
        sys.path[:0] = %r
        %s
        print(json.dumps(sorted(sys.modules)))
    """) % (paths, textwrap.indent(textwrap.dedent(code), "").strip())
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


HEAVY = {"httpx", "notify_message.aliyun.client", "notify_message.channels.dingtalk.send",
         "notify_message.channels.phone.sms", "notify_message.playbook", "yaml"}


@pytest.mark.parametrize("adapter", ["notifyByCustom", "notifyByMessageCenter", "replyDingTalk",
                                     "listInternalMessages", "testConnection"])
def test_importing_an_action_loads_no_channel_and_no_http_client(adapter):
    loaded = _loaded_modules("import %s" % adapter)
    assert "lib.base" in loaded and not loaded & HEAVY, sorted(loaded & HEAVY)


def test_an_email_only_call_loads_neither_httpx_nor_the_alibaba_client(smtp_config):
    config, server = smtp_config()
    loaded = _loaded_modules("""
        from notify_message import notify_by_custom
        result = notify_by_custom({"email": 1, "receivers": "oncall@163.com",
                                   "emailcontext": "Host web-01: suspicious login"}, %r)
        assert result.status, result.to_dict()
    """ % (config,))
    assert "aiosmtplib" in loaded and "notify_message.channels.email.send" in loaded
    assert not loaded & {"httpx", "notify_message.aliyun.client",
                         "notify_message.channels.dingtalk.send"}
    assert len(server.received) == 1


def test_the_command_line_loads_rich_only_for_people():
    loaded = _loaded_modules("import notify_message.cli, notify_message.dryrun, "
                             "notify_message.checks")
    assert not {m for m in loaded if m == "rich" or m.startswith("rich.")}
