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
              parser);
  http-script reads one HTTP request and answers what the current *script* says (below);
  smtp-script an SMTP dialogue whose every reply comes from the current script.
With ``--tls PEM`` it speaks TLS first (as DingTalk and Alibaba do).

The two script modes reload ``script.json`` from the spool at every connection
(``HostileServer.script(...)``), so one process serves a whole module of hostile answers.  A
script is a JSON object; every record the server spools for the connection carries its
``tag``.  ``tls``: the PEM to speak TLS with ("" for plain; overrides ``--tls``).

http-script keys: ``answer`` (text sent at once after the request was read; ``{pad}`` becomes
``size`` bytes of ``x``, ``{port}`` this server's port, ``{length}`` the length of what follows
the first blank line), ``after`` (``close``; ``hold`` the connection open; ``reset`` it with
an RST; ``trickle``: send ``trickle`` every ``interval`` seconds until ``hold`` runs out or
the client goes), ``size``, ``interval``, ``hold``.  Text is sent as latin-1, so ``\xff`` is
one byte.  Spooled: ``request`` (the request line, the body's length) and ``ended`` (when the
connection ended, how many bytes were sent, and why).

smtp-script keys: ``replies``, by command verb (``greeting``, ``EHLO``, ``HELO``, ``AUTH-END``
for the answer to the last AUTH line, ``MAIL``, ``RCPT``, ``DATA`` for the 354,
``DATA-END`` for the answer to the message, ``RSET``, ``QUIT``, ``NOOP``, ``STARTTLS``, ``*`` for
anything else); a reply may span lines (``\r\n`` inside), may quote the client's last line
(``{line}``) or the base64 it carried, decoded (``{decoded}``, NULs as spaces), or be
``@hang`` (never answer), ``@close``, ``@reset``, ``@drip:TEXT`` (TEXT a byte per
``interval``, for ever) or ``@flood:TEXT`` (TEXT repeated to ``size`` bytes, then a final
``250 end`` line).  AUTH LOGIN and PLAIN are played through (334 prompts), whatever EHLO
advertised.  Spooled: ``command`` (each verb received) and ``message`` (each message
received in full, before DATA-END goes out).  Every connection is
spooled (kind ``connection``) and closed after at most ``--hold`` seconds, so nothing hangs
past a test.  Runs in a child process (testkit/child.py).
"""

from __future__ import annotations

import base64
import socket
import ssl
import struct
import threading
import time
from typing import Any

from testkit.child import ChildServer, Spool, announce_ready, child_parser
from testkit.tls import server_context

__all__ = ["HostileServer", "MODES"]

MODES = ("silent", "smtp-drip", "http-drip", "http-huge", "http-deep", "http-script",
         "smtp-script")
SCRIPT = "script.json"


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

    def script(self, tag: str, **script: Any) -> None:
        """What the script modes do from the next connection on; records carry ``tag``."""
        self._child.spool.put(SCRIPT, dict(script, tag=tag))

    def records(self, kind: str, tag: str) -> list[dict[str, Any]]:
        """The records of a kind spooled for connections made under the script ``tag``."""
        return [r for r in self._child.spool.read(kind) if r.get("tag") == tag]

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


# --- the script modes -------------------------------------------------------------------

def _load_script(spool: Spool) -> dict[str, Any]:
    try:
        return dict(spool.get(SCRIPT))
    except (FileNotFoundError, ValueError):
        return {}


def _reset(conn: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass


class _Lines:
    """Reads from a socket within a deadline: lines, or a number of bytes."""

    def __init__(self, conn: socket.socket, until: float) -> None:
        self.conn = conn
        self.until = until
        self.buffer = b""
        conn.settimeout(0.2)

    def _more(self) -> bool:
        while time.monotonic() < self.until:
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            except ssl.SSLWantReadError:
                continue
            if not chunk:
                return False
            self.buffer += chunk
            return True
        return False

    def line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if len(self.buffer) > 1_000_000 or not self._more():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def until_blank_line(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > 1_000_000 or not self._more():
                return None
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        return head

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count and self._more():
            pass
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data


def _hold_open(conn: socket.socket, until: float) -> None:
    conn.settimeout(0.2)
    while time.monotonic() < until:
        try:
            if not conn.recv(65536):
                return
        except (socket.timeout, ssl.SSLWantReadError):
            continue


def _http_script(conn: socket.socket, script: dict[str, Any], port: int, spool: Spool) -> None:
    tag = script.get("tag", "")
    hold = float(script.get("hold", 10.0))
    until = time.monotonic() + hold
    sent, why = 0, "done"
    try:
        reader = _Lines(conn, until)
        head = reader.until_blank_line()
        if head is None:
            why = "no request"
            return
        lines = head.split(b"\r\n")
        length = 0
        for header in lines[1:]:
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        body = reader.exactly(length)
        spool.write("request", {"tag": tag, "line": lines[0].decode("latin-1"),
                                "body_bytes": len(body)})
        answer = str(script.get("answer", ""))
        size = int(script.get("size", 0))
        answer = answer.replace("{pad}", "x" * size).replace("{port}", str(port))
        if "{length}" in answer:
            _, _, rest = answer.partition("\r\n\r\n")
            answer = answer.replace("{length}", str(len(rest.encode("latin-1"))))
        data = answer.encode("latin-1")
        if data:
            conn.sendall(data)
            sent += len(data)
        after = script.get("after", "close")
        if after == "reset":
            _reset(conn)
            why = "reset"
        elif after == "hold":
            _hold_open(conn, until)
            why = "held"
        elif after == "trickle":
            trickle = str(script.get("trickle", "x")).encode("latin-1")
            interval = float(script.get("interval", 0.1))
            while time.monotonic() < until:
                conn.sendall(trickle)
                sent += len(trickle)
                time.sleep(interval)
            why = "hold ran out"
    except (OSError, ssl.SSLError, ValueError) as exc:
        why = type(exc).__name__
    finally:
        spool.write("ended", {"tag": tag, "at": time.time(), "sent": sent, "why": why})


_SMTP_DEFAULTS = {
    "greeting": "220 hostile.example ESMTP",
    "EHLO": "250-hostile.example\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME",
    "HELO": "250 hostile.example",
    "AUTH-END": "235 2.7.0 Authentication successful",
    "MAIL": "250 2.1.0 Ok",
    "RCPT": "250 2.1.5 Ok",
    "DATA": "354 End data with <CR><LF>.<CR><LF>",
    "DATA-END": "250 2.0.0 Ok: queued as 4711",
    "RSET": "250 2.0.0 Ok",
    "QUIT": "221 2.0.0 Bye",
    "NOOP": "250 2.0.0 Ok",
    "STARTTLS": "220 2.0.0 Ready to start TLS",
    "*": "502 5.5.2 Error: command not recognized",
}


class _Stop(Exception):
    pass


def _decoded(line: bytes) -> str:
    token = line.strip().split(b" ")[-1]
    try:
        return base64.b64decode(token + b"=" * (-len(token) % 4)).replace(
            b"\x00", b" ").decode("latin-1")
    except ValueError:
        return ""


def _smtp_script(conn: socket.socket, script: dict[str, Any], spool: Spool,
                 context: ssl.SSLContext | None) -> None:
    tag = script.get("tag", "")
    replies = dict(_SMTP_DEFAULTS, **script.get("replies", {}))
    hold = float(script.get("hold", 10.0))
    interval = float(script.get("interval", 0.1))
    size = int(script.get("size", 100_000))
    until = time.monotonic() + hold
    state: dict[str, Any] = {"conn": conn, "last": b""}

    def say(name: str) -> str:
        text = replies.get(name, replies["*"])
        live = state["conn"]
        if text == "@hang":
            _hold_open(live, until)
            raise _Stop("hung")
        if text == "@close":
            raise _Stop("closed")
        if text == "@reset":
            _reset(live)
            raise _Stop("reset")
        if text.startswith("@drip:"):
            payload = text[len("@drip:"):].encode("latin-1")
            while time.monotonic() < until:
                for byte in payload:
                    live.sendall(bytes([byte]))
                    time.sleep(interval)
            raise _Stop("dripped")
        if text.startswith("@flood:"):
            payload = text[len("@flood:"):].encode("latin-1")
            live.sendall(payload * max(1, size // max(1, len(payload))) + b"250 end\r\n")
            return "250"
        last = state["last"]
        text = text.replace("{line}", last.strip().decode("latin-1")).replace(
            "{decoded}", _decoded(last))
        live.sendall(text.encode("latin-1") + b"\r\n")
        return str(text)

    why = "done"
    try:
        say("greeting")
        reader = _Lines(conn, until)
        auth = None
        while time.monotonic() < until:
            line = reader.line()
            if line is None:
                why = "client went"
                return
            state["last"] = line
            if auth is not None:
                spool.write("command", {"tag": tag, "verb": "AUTH-LINE"})
                if auth == "username":
                    auth = "password"
                    state["conn"].sendall(b"334 UGFzc3dvcmQ6\r\n")
                else:
                    auth = None
                    say("AUTH-END")
                continue
            words = line.strip().split(b" ")
            verb = words[0].upper().decode("latin-1")
            spool.write("command", {"tag": tag, "verb": verb})
            if verb == "AUTH":
                mechanism = words[1].upper() if len(words) > 1 else b""
                if mechanism == b"LOGIN":
                    auth = "password" if len(words) > 2 else "username"
                    state["conn"].sendall(b"334 UGFzc3dvcmQ6\r\n" if len(words) > 2
                                          else b"334 VXNlcm5hbWU6\r\n")
                elif mechanism == b"PLAIN" and len(words) <= 2:
                    auth = "plain"
                    state["conn"].sendall(b"334 \r\n")
                else:
                    say("AUTH-END")
            elif verb == "DATA":
                if say("DATA").startswith("354"):
                    size_read = 0
                    while True:
                        body_line = reader.line()
                        if body_line is None:
                            why = "client went during DATA"
                            return
                        if body_line in (b".\r\n", b".\n"):
                            break
                        size_read += len(body_line)
                    spool.write("message", {"tag": tag, "bytes": size_read})
                    say("DATA-END")
            elif verb == "STARTTLS":
                if say("STARTTLS").startswith("220") and context is not None:
                    state["conn"] = context.wrap_socket(state["conn"], server_side=True)
                    reader = _Lines(state["conn"], until)
            elif verb == "QUIT":
                say("QUIT")
                return
            elif verb in replies and verb not in ("greeting", "AUTH-END", "DATA-END", "*"):
                say(verb)
            else:
                say("*")
    except _Stop as stop:
        why = str(stop)
    except (OSError, ssl.SSLError) as exc:
        why = type(exc).__name__
    finally:
        spool.write("ended", {"tag": tag, "at": time.time(), "why": why})
        try:
            state["conn"].close()
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
    scripted = args.mode in ("http-script", "smtp-script")
    while True:
        conn, _ = listener.accept()
        script = _load_script(spool) if scripted else {}
        spool.write("connection", {"at": time.time(), "tag": script.get("tag", "")})

        def handle(conn: socket.socket = conn, script: dict[str, Any] = script) -> None:
            tls = context
            if scripted and "tls" in script:
                tls = server_context(script["tls"]) if script["tls"] else None
            if args.mode == "smtp-script" and script.get("starttls_pem"):
                _smtp_script(conn, script, spool, server_context(script["starttls_pem"]))
                return
            if tls is not None:
                try:
                    conn.settimeout(10.0)
                    conn = tls.wrap_socket(conn, server_side=True)
                    conn.settimeout(None)
                except (OSError, ssl.SSLError) as exc:
                    spool.write("tls-refused", {"tag": script.get("tag", ""),
                                                "why": type(exc).__name__})
                    conn.close()
                    return
            if args.mode == "http-script":
                try:
                    _http_script(conn, script, args.port, spool)
                finally:
                    try:
                        conn.close()
                    except OSError:
                        pass
            elif args.mode == "smtp-script":
                _smtp_script(conn, script, spool, None)
            else:
                _serve(conn, args.mode, args.interval, args.size, args.hold)

        threading.Thread(target=handle, daemon=True).start()


if __name__ == "__main__":
    main()
