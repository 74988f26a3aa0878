"""The loopback servers in testkit/ are oracles: they judge the library, so they must not
share its code.  None of them may import notify_message, in any spelling, and they must run
without the library on their path (testkit/child.py starts them that way)."""

import ast
import os
import subprocess
import sys

import pytest

PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTKIT = os.path.join(PACK_DIR, "testkit")
LIBRARY = "notify_message"
MODULES = sorted(name for name in os.listdir(TESTKIT) if name.endswith(".py"))


def _is_library(module):
    return module == LIBRARY or module.startswith(LIBRARY + ".")


def library_imports(source, filename="<source>"):
    """Where a module's source imports the library: import statements, and the dynamic
    spellings (importlib.import_module, __import__) given a literal name."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_library(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_library(node.module):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) and _is_library(node.args[0].value):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def test_there_are_servers_to_check():
    assert {"dingtalk_server.py", "aliyun_server.py", "smtp_server.py", "child.py"} \
        <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_no_testkit_module_imports_the_library(name):
    path = os.path.join(TESTKIT, name)
    with open(path, encoding="utf-8") as f:
        assert library_imports(f.read(), path) == []


@pytest.mark.parametrize("source", [
    "import notify_message",
    "import notify_message.dingtalk_protocol as p",
    "from notify_message.channels.dingtalk.protocol import sign",
    "from notify_message import sms_config",
    "def f():\n    from notify_message.aliyun import client\n",
    "import importlib\nimportlib.import_module('notify_message.phones')",
    "__import__('notify_message')",
])
def test_the_check_sees_every_spelling_of_an_import(source):
    assert library_imports(source) != []


@pytest.mark.parametrize("source", [
    "import notify_messages", "from testkit.child import Spool", "from . import notify_message",
    "x = 'notify_message'",
])
def test_the_check_is_not_fooled_by_lookalikes(source):
    assert library_imports(source) == []


def test_the_servers_import_without_the_library_on_their_path():
    modules = [f"testkit.{name[:-3]}" for name in MODULES if name != "__init__.py"]
    script = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
              + "print(sorted(m for m in sys.modules if m.split('.')[0] == %r))" % LIBRARY)
    env = dict(os.environ, PYTHONPATH=PACK_DIR)
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=PACK_DIR,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
