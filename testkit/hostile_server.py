"""A loopback server that misbehaves on purpose, to prove that every client attempt of the
pack has a deadline for the whole exchange and reads answers within bounds.

``--mode``:
  silent      accepts, reads, never answers;
  smtp-drip   an SMTP greeting that never ends: ``220-`` continuation lines, one byte per
              ``--interval`` seconds (each read gets a byte in time, so only a deadline for
              the whole attempt ends it);
  http-drip   reads a request, then answers ``HTTP/1.1 200`` and header lines one byte per
              ``--interval``, never ending the headers;
  http-huge   answers ``200`` with a JSON body of ``--size`` bytes, fast;
  http-deep   answers ``200`` with ``--size`` nested ``[`` (JSON that exhausts a recursive
              parser).
With ``--tls PEM`` it speaks TLS first (as DingTalk and Alibaba do).  Every connection is
spooled (kind ``connection``) and closed after at most ``--hold`` seconds, so nothing hangs
past a test.  Runs in a child process (testkit/child.py).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

from testkit.child import ChildServer, Spool, announce_ready, child_parser
from testkit.tls import server_context

__all__ = ["HostileServer", "MODES"]

MODES = ("silent", "smtp-drip", "http-drip", "http-huge", "http-deep")


class HostileServer:
    """``with HostileServer("smtp-drip", tls_pem=...) as server:`` -> ``server.port``."""

    def __init__(self, mode: str, *, tls_pem: str = "", interval: float = 0.2,
                 size: int = 2_000_000, hold: float = 30.0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        args = ["--mode", mode, "--interval", str(interval), "--size", str(size),
                "--hold", str(hold)]
        if tls_pem:
            args += ["--tls", tls_pem]
        self._child = ChildServer("testkit.hostile_server", args)

    @property
    def port(self) -> int:
        return self._child.port

    @property
    def connections(self) -> int:
        return len(self._child.spool.read("connection"))

    def __enter__(self) -> HostileServer:
        self._child.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.__exit__()


def _drip(conn: socket.socket, data: bytes, interval: float, until: float) -> None:
    for byte in data:
        if time.monotonic() > until:
            return
        conn.sendall(bytes([byte]))
        time.sleep(interval)


def _read_request(conn: socket.socket, until: float) -> None:
    """Read until the end of the request headers (and whatever body came with them)."""
    data = b""
    conn.settimeout(1.0)
    while b"\r\n\r\n" not in data and time.monotonic() < until:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            return
        data += chunk


def _serve(conn: socket.socket, mode: str, interval: float, size: int, hold: float) -> None:
    until = time.monotonic() + hold
    try:
        if mode == "silent":
            conn.settimeout(1.0)
            while time.monotonic() < until:
                try:
                    if not conn.recv(65536):
                        return
                except socket.timeout:
                    continue
        elif mode == "smtp-drip":
            while time.monotonic() < until:
                _drip(conn, b"220-slow.example greets you\r\n", interval, until)
        elif mode == "http-drip":
            _read_request(conn, until)
            _drip(conn, b"HTTP/1.1 200 OK\r\n", interval, until)
            while time.monotonic() < until:
                _drip(conn, b"X-Slow: a\r\n", interval, until)
        else:
            _read_request(conn, until)
            body = (b'{"errcode": 0, "pad": "' + b"x" * size + b'"}' if mode == "http-huge"
                    else b"[" * size)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main() -> None:
    parser = child_parser()
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--tls", default="")
    args = parser.parse_args()
    spool = Spool(args.spool)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    context = server_context(args.tls) if args.tls else None
    announce_ready()
    while True:
        conn, _ = listener.accept()
        spool.write("connection", {"at": time.time()})

        def handle(conn: socket.socket = conn) -> None:
            if context is not None:
                try:
                    conn.settimeout(10.0)
                    conn = context.wrap_socket(conn, server_side=True)
                    conn.settimeout(None)
                except (OSError, ssl.SSLError):
                    conn.close()
                    return
            _serve(conn, args.mode, args.interval, args.size, args.hold)

        threading.Thread(target=handle, daemon=True).start()


if __name__ == "__main__":
    main()
