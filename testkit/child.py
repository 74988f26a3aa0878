"""Running a loopback server in a child process, and the spool it reports through.

StackStorm's test base classes monkey patch the test process with eventlet: threads become
greenlets, asyncio's per-thread state is shared between them, and socketserver's poll() is
not made green, so a server in a thread of the test process either collides with the code
under test or blocks it.  Every loopback server therefore runs as ``python -m testkit.X`` in a
process of its own — which is also what a real server is — prints ``ready`` once it listens,
and writes what it received to a spool directory, one JSON record per file, before it answers.

A test can also reset a running child (``ChildServer.reset()``) instead of starting another:
it writes ``reset.json`` with a new generation number, the child notices it between two
requests (``ResetRequests.pending()``, polled by its accept loop), starts over with a fresh
spool and its default state, and confirms with ``reset-done.json``; ``reset()`` returns once
the child has confirmed.  A request the child was still handling when it reset belongs to the
old generation: what it spools afterwards is dropped (``Spool.renewed()``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["free_port", "Spool", "ChildServer", "ResetRequests", "child_parser",
           "announce_ready", "from_json"]

_PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RECORD = re.compile(r"^\d{8,}\.\w+(\.tmp)?$")   # what Spool.write names its files
RESET_REQUEST = "reset.json"    # written by the test: {"generation": n}
RESET_DONE = "reset-done.json"  # written by the child once it has reset for generation n

_T = TypeVar("_T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Spool:
    """Records written by the server (atomically, in order) and read by the test; also named
    files the test writes for the server (``put``), such as a behaviour to reload."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._count = 0
        self._counts: dict[str, int] = {}
        self._retired = False

    def write(self, kind: str, record: Any) -> int:
        """Spool one record of a kind; returns how many of that kind there are now.  A
        retired spool counts the record but no longer writes it."""
        with self._lock:
            self._count += 1
            self._counts[kind] = self._counts.get(kind, 0) + 1
            if not self._retired:
                self.put("%08d.%s" % (self._count, kind), record)
            return self._counts[kind]

    def renewed(self) -> Spool:
        """Retire this spool, remove every record it wrote, and return a fresh one over the
        same directory (the files the test ``put`` there stay).  Whoever still holds this
        spool, a request that was in flight, writes into nothing from now on."""
        with self._lock:
            self._retired = True
            for name in os.listdir(self.directory):
                if _RECORD.match(name):
                    os.remove(os.path.join(self.directory, name))
        return Spool(self.directory)

    def count(self, kind: str) -> int:
        """How many records of a kind this process has written."""
        return self._counts.get(kind, 0)

    def put(self, name: str, record: Any) -> None:
        path = os.path.join(self.directory, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(path + ".tmp", path)

    def get(self, name: str) -> Any:
        with open(os.path.join(self.directory, name), encoding="utf-8") as f:
            return json.load(f)

    def read(self, kind: str) -> list[Any]:
        return [self.get(name) for name in sorted(os.listdir(self.directory))
                if name.endswith("." + kind)]


class ChildServer:
    """``python -m <module> --port P --spool DIR <args>``, started and stopped as a context."""

    def __init__(self, module: str, args: Sequence[str] = ()) -> None:
        self.module = module
        self.args = list(args)
        self.port = 0
        self.spool = Spool(tempfile.mkdtemp(prefix="notify-message-spool-"))
        self._process: subprocess.Popen[str] | None = None
        self._resets = 0

    def __enter__(self) -> ChildServer:
        self.port = free_port()
        command = [sys.executable, "-m", self.module, "--port", str(self.port),
                   "--spool", self.spool.directory] + self.args
        # the servers are oracles, independent of the library: it is not on their path
        env = dict(os.environ, PYTHONPATH=_PACK_DIR)
        self._process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        ready = self._process.stdout.readline() if self._process.stdout else ""
        if ready.strip() != "ready":
            self.__exit__()
            raise RuntimeError(f"the loopback server {self.module} did not start")
        return self

    def reset(self, timeout: float = 10.0) -> None:
        """Have the running child forget what it received and what it was told, and wait
        until it confirms; the caller puts the default state files first."""
        if self._process is None:
            raise RuntimeError(f"the loopback server {self.module} is not running")
        self._resets += 1
        self.spool.put(RESET_REQUEST, {"generation": self._resets})
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.spool.get(RESET_DONE)["generation"] >= self._resets:
                    return
            except FileNotFoundError:
                pass
            if self._process.poll() is not None:
                raise RuntimeError(f"the loopback server {self.module} exited")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the loopback server {self.module} did not reset")
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout:
                self._process.stdout.close()
            self._process = None
        shutil.rmtree(self.spool.directory, ignore_errors=True)


class ResetRequests:
    """The child's side of ``ChildServer.reset()``: ``pending()`` is the generation the test
    asked for and the child has not confirmed yet (0 if none); ``confirm()`` it after
    resetting.  The file is tiny: reading it on every turn of an accept loop is cheap."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._done = 0

    def pending(self) -> int:
        try:
            with open(os.path.join(self.directory, RESET_REQUEST), encoding="utf-8") as f:
                generation = int(json.load(f)["generation"])
        except FileNotFoundError:
            return 0
        return generation if generation > self._done else 0

    def confirm(self, generation: int) -> None:
        self._done = generation
        Spool(self.directory).put(RESET_DONE, {"generation": generation})


def from_json(cls: type[_T], record: Mapping[str, Any]) -> _T:
    """A dataclass from its ``asdict()`` after a JSON round trip: lists become tuples again
    (the dataclasses here hold tuples, never lists)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    return cls(**{name: _tupled(value) for name, value in record.items()})


def _tupled(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    if isinstance(value, dict):
        return {k: _tupled(v) for k, v in value.items()}
    return value


def child_parser() -> argparse.ArgumentParser:
    """The command line every child server takes: what ChildServer passes it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    return parser


def announce_ready() -> None:
    """What a child server prints once it listens."""
    print("ready", flush=True)
