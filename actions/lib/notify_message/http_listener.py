"""A small HTTP listener that stays cooperative inside StackStorm's sensor container.

st2 runs every sensor in a process that ``eventlet.monkey_patch()`` has patched: sockets,
``time`` and ``threading`` become green, but ``select.poll()`` - which ``socketserver``'s
``serve_forever`` blocks in - does not, so a stdlib server would freeze the whole process.
This listener is a plain accept loop on a socket (with a short timeout, so ``stop()`` is
noticed) and one thread per connection; under eventlet both are green, without it they are
ordinary threads.  Each connection carries one request (HTTP/1.0 semantics: the answer
closes it), parsed by ``http.server.BaseHTTPRequestHandler``.

The application is a callable ``handler(Request) -> (status, JSON-able body)``.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["Request", "HttpListener"]

LOG = logging.getLogger(__name__)
ACCEPT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Message
    body: bytes
    client: str


Handler = Callable[[Request], "tuple[int, dict[str, Any]]"]


class HttpListener:
    """``bind()`` (errors surface here), ``serve_forever()`` until ``stop()``."""

    def __init__(self, host: str, port: int, handler: Handler, *, max_body: int = 64 * 1024,
                 connection_timeout: float = 10.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.max_body = max_body
        self.connection_timeout = connection_timeout
        self.log = log or LOG.warning
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._serving = False

    def bind(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        sock.settimeout(ACCEPT_POLL_SECONDS)
        self.port = sock.getsockname()[1]  # the real port when 0 asked for any
        self._socket = sock

    def serve_forever(self) -> None:
        if self._socket is None:
            self.bind()
        self._serving = True
        try:
            while not self._stopping.is_set():
                try:
                    connection, address = self._socket.accept()  # type: ignore[union-attr]
                except socket.timeout:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    raise
                worker = threading.Thread(target=self._serve_connection,
                                          args=(connection, address), daemon=True)
                worker.start()
        finally:
            self._close()
            self._stopped.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting; returns once the accept loop has closed the socket."""
        self._stopping.set()
        if self._serving:
            self._stopped.wait(timeout)
        else:
            self._close()

    def _close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def _serve_connection(self, connection: socket.socket, address: Any) -> None:
        connection.settimeout(self.connection_timeout)
        try:
            _RequestHandler(connection, address, self)  # type: ignore[arg-type]  # duck-typed
        except OSError:
            pass  # the client went away or timed out: nothing to answer
        except Exception as exc:  # a bug must not take the listener down
            self.log(f"HTTP listener: {type(exc).__name__} while serving {address[0]}")
        finally:
            try:
                connection.close()
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    server: HttpListener  # type: ignore[assignment]
    protocol_version = "HTTP/1.0"
    server_version = "notify_message"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # requests are logged by the application, without their headers

    def do_POST(self) -> None:  # noqa: N802
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.strip().isdigit():
            return self._answer(411, {"error": "Content-Length is required"})
        length = int(length_text)
        if length > self.server.max_body:
            return self._answer(413, {"error": f"the body is larger than {self.server.max_body}"
                                               " bytes"})
        body = self.rfile.read(length)
        self._respond(body)

    def do_GET(self) -> None:  # noqa: N802
        self._respond(b"")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815

    def _respond(self, body: bytes) -> None:
        request = Request(self.command, self.path, self.headers, body, self.client_address[0])
        status, answer = self.server.handler(request)
        self._answer(status, answer)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)
