"""A loopback stand-in for the one st2 API endpoint the pack calls: ``POST /v1/webhooks/st2``
(dispatch a trigger).  It checks the token and the body the way st2api does and spools what
it accepted.  Runs in a child process (see testkit/child.py); ``reset()`` forgets what it
accepted without a new process."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testkit.child import ChildServer, ResetRequests, Spool, announce_ready, child_parser

__all__ = ["LocalSt2Api"]


class LocalSt2Api:
    """``with LocalSt2Api(token) as api:`` -> ``api.url`` (``http://127.0.0.1:P/v1``)."""

    def __init__(self, token: str) -> None:
        self._child = ChildServer("testkit.st2_api", ["--token", token])

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/v1" % self._child.port

    @property
    def dispatched(self) -> list[dict[str, Any]]:
        return self._child.spool.read("trigger")

    def reset(self) -> None:
        """Forget the triggers dispatched so far; returns once the child has confirmed."""
        self._child.reset()

    def __enter__(self) -> LocalSt2Api:
        self._child.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.__exit__()


class _Current:
    """The spool of the current generation (a reset renews it)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool


class _Server(ThreadingHTTPServer):
    def __init__(self, port: int, token: str, current: _Current) -> None:
        super().__init__(("127.0.0.1", port), _handler(token, current))
        self.current = current
        self.resets = ResetRequests(current.spool.directory)

    def service_actions(self) -> None:
        generation = self.resets.pending()
        if generation:
            self.current.spool = self.current.spool.renewed()
            self.resets.confirm(generation)


def _handler(token: str, current: _Current) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            spool = current.spool  # the generation this request began in
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/webhooks/st2":
                return self._answer(404, {"faultstring": "Not Found"})
            if self.headers.get("X-Auth-Token") != token:
                return self._answer(401, {"faultstring": "Unauthorized"})
            try:
                data = json.loads(body)
            except ValueError:
                return self._answer(400, {"faultstring": "Invalid JSON"})
            if not isinstance(data, dict) or not isinstance(data.get("trigger"), str) \
                    or not isinstance(data.get("payload"), dict):
                return self._answer(400, {"faultstring": "Trigger not specified."})
            spool.write("trigger", data)
            self._answer(202, data)

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


def main() -> None:
    parser = child_parser()
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    server = _Server(args.port, args.token, _Current(Spool(args.spool)))
    announce_ready()
    server.serve_forever(0.01)  # a reset waits for a turn of this loop


if __name__ == "__main__":
    main()
