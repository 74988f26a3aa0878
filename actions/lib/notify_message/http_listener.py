"""A small HTTP listener that stays cooperative inside StackStorm's sensor container, and holds
against hostile clients.

st2 runs every sensor in a process that ``eventlet.monkey_patch()`` has patched: sockets,
``time`` and ``threading`` become green, but ``select.poll()`` - which ``socketserver``'s
``serve_forever`` blocks in - does not, so a stdlib server would freeze the whole process.
This listener is a plain accept loop on a socket (with a short timeout, so ``stop()`` is
noticed) and one thread per connection; under eventlet both are green, without it they are
ordinary threads.  Each connection carries one request (HTTP/1.0 semantics: the answer
closes it).

The listener is reachable by anyone who can reach the callback URL, so every resource a
client can make it spend is bounded:

- ``request_timeout``: one deadline for the whole request - request line, headers and body
  together - not per read, so a client dripping a byte at a time is answered 408 and closed
  when it passes (one that sent nothing is closed silently);
- ``max_connections``: connections beyond it are answered 503 and closed at once, never
  queued (the kernel's listen backlog is the only queue, and the accept loop drains it);
- the request line and each header line at most ``MAX_LINE`` bytes (414 / 431), at most
  ``MAX_HEADERS`` header lines and ``MAX_HEAD`` bytes of head in all (431); folded or
  malformed header lines and control characters in values are 400;
- ``Content-Length`` must be ASCII digits (400 otherwise, or when repeated, or with a
  ``Transfer-Encoding``), is required on POST (411), and a body over ``max_body`` is
  answered 413 without being read;
- after answering, the listener shuts its side down and drains what the client still sends
  for at most ``LINGER_SECONDS`` / ``LINGER_BYTES`` before closing, so that an early answer
  (413, 400) reaches a client that is still sending instead of being lost to a reset.

Answers never repeat what the client sent (no header value, no path): a refused request
cannot make the listener echo a signature into an answer or a log.

The application is a callable ``handler(Request) -> (status, JSON-able body)``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.utils import formatdate
from http import HTTPStatus
from http.client import HTTPMessage
from typing import Any

__all__ = ["Request", "HttpListener", "DEFAULT_REQUEST_TIMEOUT", "DEFAULT_MAX_CONNECTIONS",
           "MAX_LINE", "MAX_HEADERS", "MAX_HEAD"]

LOG = logging.getLogger(__name__)
ACCEPT_POLL_SECONDS = 0.2
LISTEN_BACKLOG = 511             # the kernel's queue before accept (as nginx and Apache)
DEFAULT_REQUEST_TIMEOUT = 10.0   # seconds for a whole request, from accept to its last byte
DEFAULT_MAX_CONNECTIONS = 64
MAX_LINE = 8 * 1024              # the request line, and each header line
MAX_HEADERS = 64                 # header lines
MAX_HEAD = 32 * 1024             # request line and headers together
MAX_LENGTH_DIGITS = 18           # a longer Content-Length (leading zeros aside) is too large
LINGER_SECONDS = 0.5
LINGER_BYTES = 64 * 1024
WRITE_FLOOR_SECONDS = 0.1        # an answer fits the socket buffer; this is only a floor
READ_CHUNK = 4096
# the methods BaseHTTPRequestHandler-style servers route; others are answered 501
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.[0-9]")
_HEADER_NAME = re.compile(_TOKEN)
_VALUE_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # HTAB is the one allowed
_CONTENT_LENGTH = re.compile(rb"[ \t]?([0-9]+)")            # "Content-Length: 123", nothing else


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Message
    body: bytes
    client: str


Handler = Callable[[Request], "tuple[int, dict[str, Any]]"]


class _Refused(Exception):
    """The request is answered ``status`` without reaching the application."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Expired(Exception):
    """The request's deadline passed before it was read in full."""


class _ClientGone(Exception):
    """The client closed its side before sending a whole request."""


class _DeadlineReader:
    """Reads a connection against one deadline: every ``recv`` waits at most what is left."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        self.connection = connection
        self.deadline = deadline
        self.buffer = bytearray()
        self.received = 0
        self.method = ""  # once the request line is read: for the answer to a refusal

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _Expired()
        self.connection.settimeout(remaining)
        try:
            data = self.connection.recv(READ_CHUNK)
        except socket.timeout:
            raise _Expired() from None
        if not data:
            raise _ClientGone()
        self.received += len(data)
        self.buffer += data

    def line(self, too_long: _Refused) -> bytes:
        """The next line without its LF or CRLF; ``too_long`` once it exceeds MAX_LINE."""
        searched = 0
        while True:
            end = self.buffer.find(b"\n", searched)
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                if len(line) > MAX_LINE:
                    raise too_long
                return line
            if len(self.buffer) > MAX_LINE + 1:  # + 1: the CR of a CRLF still to come
                raise too_long
            searched = len(self.buffer)
            self._fill()

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


class HttpListener:
    """``bind()`` (errors surface here), ``serve_forever()`` until ``stop()``."""

    def __init__(self, host: str, port: int, handler: Handler, *, max_body: int = 64 * 1024,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 log: Callable[[str], None] | None = None) -> None:
        if request_timeout <= 0 or max_connections < 1:
            raise ValueError("request_timeout must be above 0 and max_connections at least 1")
        self.host = host
        self.port = port
        self.handler = handler
        self.max_body = max_body
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.log = log or LOG.warning
        # what happened to the connections so far, by outcome: for tests and diagnostics
        self.stats: Counter[str] = Counter()
        self._active = 0
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._serving = False

    @property
    def connections(self) -> int:
        """How many connections are being served now."""
        return self._active

    def bind(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(LISTEN_BACKLOG)
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
                self._admit(connection, address)
        finally:
            self._close()
            self._stopped.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting; returns once the accept loop has closed the socket.  Connections
        still being served end by their deadline at the latest."""
        self._stopping.set()
        if self._serving:
            self._stopped.wait(timeout)
        else:
            self._close()

    def _close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    # --- one connection ---------------------------------------------------------------------

    def _admit(self, connection: socket.socket, address: Any) -> None:
        deadline = time.monotonic() + self.request_timeout  # the deadline starts at accept
        with self._lock:
            full = self._active >= self.max_connections
            if not full:
                self._active += 1
        if full:
            self._count("refused: too many connections")
            _refuse_at_once(connection)
            return
        worker = threading.Thread(target=self._serve_connection,
                                  args=(connection, address, deadline), daemon=True)
        try:
            worker.start()
        except RuntimeError:  # no thread to be had: as good as full
            self._release()
            self._count("refused: no thread")
            _refuse_at_once(connection)

    def _release(self) -> None:
        with self._lock:
            self._active -= 1

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.stats[outcome] += 1

    def _serve_connection(self, connection: socket.socket, address: Any,
                          deadline: float) -> None:
        reader = _DeadlineReader(connection, deadline)
        try:
            try:
                request = self._read_request(reader, address)
            except _Refused as refused:
                self._count(f"refused: {refused.status}")
                self._send(connection, deadline, refused.status, {"error": refused.reason},
                           reader.method)
            except _Expired:
                self._count("expired")
                if reader.received:  # one that sent nothing gets nothing back
                    self._send(connection, deadline, 408,
                               {"error": "the request was not received within "
                                         f"{self.request_timeout:g} s"}, reader.method)
            except _ClientGone:
                self._count("client gone")
                return
            else:
                status, answer = self._call_handler(request)
                self._count(f"answered: {status}")
                self._send(connection, deadline, status, answer, request.method)
            self._linger(connection)
        except OSError:
            pass  # the client went away while we answered: nothing more to do
        except Exception as exc:  # a bug must not take the listener down
            self.log(f"HTTP listener: {type(exc).__name__} while serving {address[0]}")
        finally:
            try:
                connection.close()
            except OSError:
                pass
            self._release()

    def _call_handler(self, request: Request) -> tuple[int, dict[str, Any]]:
        try:
            return self.handler(request)
        except Exception as exc:  # the application's bug: answered, logged without details
            self.log(f"HTTP listener: the handler raised {type(exc).__name__} for a request "
                     f"from {request.client}")
            return 500, {"error": "internal error"}

    def _read_request(self, reader: _DeadlineReader, address: Any) -> Request:
        too_long = _Refused(414, f"the request line is longer than {MAX_LINE} bytes")
        line, head = b"", 0
        while not line:  # empty lines before a request line are ignored (RFC 9112 2.2)
            line = reader.line(too_long)
            head += len(line) + 2
            if head > MAX_HEAD:
                raise _Refused(400, "only empty lines came, no request line")
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            raise _Refused(400, "the request line is not METHOD /path HTTP/1.x")
        method = reader.method = match.group(1).decode("ascii")
        if method not in METHODS:
            raise _Refused(501, "the method is not supported")
        headers = self._read_headers(reader, head)
        length = self._content_length(headers, method)
        body = reader.exactly(length) if length else b""
        message = HTTPMessage()
        for name, value in headers:
            message[name.decode("ascii")] = value.strip(b" \t").decode("latin-1")
        return Request(method, match.group(2).decode("ascii"), message, body, address[0])

    @staticmethod
    def _read_headers(reader: _DeadlineReader, head: int) -> list[tuple[bytes, bytes]]:
        too_long = _Refused(431, f"a header line is longer than {MAX_LINE} bytes")
        headers: list[tuple[bytes, bytes]] = []
        while True:
            line = reader.line(too_long)
            head += len(line) + 2
            if head > MAX_HEAD:
                raise _Refused(431, f"the headers are longer than {MAX_HEAD} bytes")
            if not line:
                return headers
            if len(headers) >= MAX_HEADERS:
                raise _Refused(431, f"more than {MAX_HEADERS} header lines")
            if line[:1] in (b" ", b"\t"):
                raise _Refused(400, "folded header lines are not accepted")
            name, colon, value = line.partition(b":")
            if not colon or _HEADER_NAME.fullmatch(name) is None:
                raise _Refused(400, "a header line is not name: value")
            if _VALUE_CONTROL.search(value):
                raise _Refused(400, "a header value holds a control character")
            headers.append((name, value))

    def _content_length(self, headers: list[tuple[bytes, bytes]], method: str) -> int:
        lengths = [value for name, value in headers if name.lower() == b"content-length"]
        if any(name.lower() == b"transfer-encoding" for name, _ in headers):
            raise _Refused(400, "Transfer-Encoding is not accepted; send a Content-Length")
        if len(lengths) > 1:
            raise _Refused(400, "Content-Length is given more than once")
        if not lengths:
            if method == "POST":
                raise _Refused(411, "Content-Length is required")
            return 0
        match = _CONTENT_LENGTH.fullmatch(lengths[0])
        if match is None:
            raise _Refused(400, "Content-Length is not a number of bytes in ASCII digits")
        digits = match.group(1).lstrip(b"0") or b"0"
        if len(digits) > MAX_LENGTH_DIGITS or int(digits) > self.max_body:
            raise _Refused(413, f"the body is larger than {self.max_body} bytes")
        return int(digits)

    def _send(self, connection: socket.socket, deadline: float, status: int,
              body: dict[str, Any], method: str) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        head = (f"HTTP/1.0 {status} {_phrase(status)}\r\n"
                "Server: notify_message\r\n"
                f"Date: {formatdate(usegmt=True)}\r\n"
                "Content-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(raw)}\r\n"
                "Connection: close\r\n\r\n").encode("latin-1")
        connection.settimeout(max(deadline - time.monotonic(), WRITE_FLOOR_SECONDS))
        connection.sendall(head if method == "HEAD" else head + raw)

    @staticmethod
    def _linger(connection: socket.socket) -> None:
        """Half-close, then drain what the client still sends (bounded), so that closing
        with unread input does not reset the connection before the answer is read."""
        connection.shutdown(socket.SHUT_WR)
        until = time.monotonic() + LINGER_SECONDS
        drained = 0
        while drained < LINGER_BYTES:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            connection.settimeout(remaining)
            try:
                data = connection.recv(READ_CHUNK)
            except OSError:
                return
            if not data:
                return
            drained += len(data)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_OVERLOADED_BODY = b'{"error": "too many connections, retry later"}'
_OVERLOADED = (b"HTTP/1.0 503 Service Unavailable\r\n"
               b"Server: notify_message\r\n"
               b"Content-Type: application/json; charset=utf-8\r\n"
               b"Content-Length: %d\r\n"
               b"Retry-After: 1\r\n"
               b"Connection: close\r\n\r\n" % len(_OVERLOADED_BODY)) + _OVERLOADED_BODY


def _refuse_at_once(connection: socket.socket) -> None:
    """503 without waiting for anything: the answer goes into the empty socket buffer or not
    at all, then the connection is closed."""
    try:
        connection.setblocking(False)
        connection.send(_OVERLOADED)
    except OSError:
        pass
    finally:
        connection.close()
