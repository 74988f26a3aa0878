"""Running a loopback server in a child process, and the spool it reports through.

StackStorm's test base classes monkey patch the test process with eventlet: threads become
greenlets, asyncio's per-thread state is shared between them, and socketserver's poll() is
not made green, so a server in a thread of the test process either collides with the code
under test or blocks it.  Every loopback server therefore runs as ``python -m testkit.X`` in a
process of its own — which is also what a real server is — prints ``ready`` once it listens,
and writes what it received to a spool directory, one JSON record per file, before it answers.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

__all__ = ["free_port", "Spool", "ChildServer"]

_PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Spool:
    """Records written by the server (atomically, in order) and read by the test."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._count = 0

    def write(self, kind: str, record: dict[str, Any]) -> None:
        self._count += 1
        path = os.path.join(self.directory, "%08d.%s" % (self._count, kind))
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)

    def read(self, kind: str) -> list[dict[str, Any]]:
        records = []
        for name in sorted(os.listdir(self.directory)):
            if name.endswith("." + kind):
                with open(os.path.join(self.directory, name)) as f:
                    records.append(json.load(f))
        return records


class ChildServer:
    """``python -m <module> --port P --spool DIR <args>``, started and stopped as a context."""

    def __init__(self, module: str, args: Sequence[str] = ()) -> None:
        self.module = module
        self.args = list(args)
        self.port = 0
        self.spool = Spool("")
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ChildServer:
        self.spool = Spool(tempfile.mkdtemp(prefix="notify-message-spool-"))
        self.port = free_port()
        command = [sys.executable, "-m", self.module, "--port", str(self.port),
                   "--spool", self.spool.directory] + self.args
        env = dict(os.environ, PYTHONPATH=_PACK_DIR)
        self._process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        ready = self._process.stdout.readline() if self._process.stdout else ""
        if ready.strip() != "ready":
            self.__exit__()
            raise RuntimeError(f"the loopback server {self.module} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout:
                self._process.stdout.close()
            self._process = None
        shutil.rmtree(self.spool.directory, ignore_errors=True)


def announce_ready() -> None:
    """What a child server prints once it listens."""
    print("ready", flush=True)
