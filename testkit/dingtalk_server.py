"""A real HTTPS server on loopback that behaves like DingTalk's custom robot endpoint.

``POST /robot/send?access_token=T[&timestamp=MS&sign=S]`` is checked the way DingTalk checks
it, in its order: the token (300001, 300005 for a removed robot, 400102 for a disabled one),
the IP whitelist, the timestamp window and the signature (310000 with DingTalk's reasons),
the rate limit (130101 after ``rate_limit`` messages in ``rate_window`` seconds, then
throttled for ``throttle_seconds``), the body size (460101), the JSON shape of each msgtype
(400402 / 400403 for markdown, 40035 otherwise) and the robot's keywords (310000).  Like
DingTalk it answers HTTP 200 with an errcode either way.  Protocol facts come from the
pack's ``dingtalk_protocol`` module; latency and the rate-limit window are configurable so
that tests and the benchmark stay fast.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from notify_message.dingtalk_protocol import (
    MAX_BODY_BYTES,
    MENTION_MSG_TYPES,
    MSG_TYPES,
    RATE_LIMIT_MESSAGES,
    RATE_LIMIT_WINDOW,
    SEND_PATH,
    SIGN_TIMESTAMP_TOLERANCE_MS,
    THROTTLE_SECONDS,
    keywords_found,
    message_text,
    missing_fields,
    sign,
)

__all__ = ["FakeRobot", "DingTalkBehaviour", "ReceivedMessage", "LocalDingTalkServer",
           "ERRMSG"]

# What DingTalk says with each errcode (the words clients see in errmsg).
ERRMSG = {
    0: "ok",
    -1: "系统繁忙",
    130101: "send too fast, exceed 20 times per minute",
    300001: "token is not exist",
    300005: "token is not exist",
    400102: "机器人已停用",
    400402: "markdown.title 不能为空",
    400403: "markdown.text 不能为空",
    410100: "消息处理失败,请稍后再试",
    460101: f"message too long, exceed {MAX_BODY_BYTES} bytes",
    40035: "缺少参数 json",
}


@dataclass
class FakeRobot:
    token: str
    secret: str = ""                         # signing (加签) on when set
    keywords: tuple[str, ...] = ()           # custom keywords (自定义关键词)
    ip_whitelist: tuple[str, ...] = ()       # IP addresses (IP地址段)
    state: str = "active"                    # active | disabled | removed


@dataclass
class DingTalkBehaviour:
    latency: float = 0.0                     # seconds added to every request
    rate_limit: int = RATE_LIMIT_MESSAGES
    rate_window: float = RATE_LIMIT_WINDOW
    throttle_seconds: float = THROTTLE_SECONDS
    clock_offset: float = 0.0                # seconds between DingTalk's clock and ours


@dataclass(frozen=True)
class ReceivedMessage:
    token: str
    body: dict[str, Any]
    signed: bool
    notified: tuple[str, ...]               # mobiles / user ids DingTalk would notify

    @property
    def payload(self) -> dict[str, Any]:
        return self.body[self.body["msgtype"]]


@dataclass
class _State:
    robots: dict[str, FakeRobot]
    behaviour: DingTalkBehaviour
    received: list[ReceivedMessage] = field(default_factory=list)
    requests: int = 0
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0                  # most requests handled at the same time
    scripted: dict[str, deque[Any]] = field(default_factory=dict)
    sent: dict[str, deque[float]] = field(default_factory=dict)
    throttled_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as oapi.dingtalk.com
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with state.lock:
            state.requests += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self._handle(state, raw)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _handle(self, state: _State, raw: bytes) -> None:
        time.sleep(state.behaviour.latency)
        parts = urllib.parse.urlsplit(self.path)
        if parts.path != SEND_PATH:
            self._reply(404, {"errcode": 404, "errmsg": "请求的URI地址不存在"})
            return
        query = urllib.parse.parse_qs(parts.query)
        answer = self._answer(state, query, raw)
        if isinstance(answer, tuple):  # scripted transport behaviour
            kind, value = answer
            if kind == "http":
                self._reply(value, {"message": "upstream error"})
            elif kind == "sleep":
                time.sleep(value)
                self._reply(200, {"errcode": 0, "errmsg": "ok"})
            elif kind == "text":
                self._reply(200, value)
            return
        self._reply(200, answer)

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        self._reply(405, {"errcode": 405, "errmsg": "method not allowed"})

    def _answer(self, state: _State, query: dict[str, list[str]], raw: bytes) -> Any:
        token = (query.get("access_token") or [""])[0]
        robot = state.robots.get(token)
        if robot is None:
            return _errcode(300001)
        if robot.state == "removed":
            return _errcode(300005)
        if robot.state == "disabled":
            return _errcode(400102)
        with state.lock:
            script = state.scripted.get(token)
            if script:
                scripted = script.popleft()
                return _errcode(scripted) if isinstance(scripted, int) else scripted
        client_ip = self.client_address[0]
        if robot.ip_whitelist and client_ip not in robot.ip_whitelist:
            return _errcode(310000, f"ip {client_ip} not in whitelist")
        signed = False
        if robot.secret:
            problem = _signature_problem(robot.secret, query, state.behaviour.clock_offset)
            if problem:
                return _errcode(310000, problem)
            signed = True
        throttled = _throttle(state, token)
        if throttled:
            return throttled
        if len(raw) > MAX_BODY_BYTES:
            return _errcode(460101)
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return _errcode(40035)
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return _errcode(40035)
        shape = _shape_problem(body)
        if shape:
            return shape
        if robot.keywords and not keywords_found(robot.keywords, message_text(body)):
            return _errcode(310000, "keywords not in content")
        with state.lock:
            state.received.append(ReceivedMessage(token, body, signed, _notified(body)))
        return _errcode(0)

    def _reply(self, status: int, answer: Any) -> None:
        data = (answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False))
        encoded = data.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)
        except OSError:  # the client gave up (a timeout test)
            self.close_connection = True


def _errcode(code: int, errmsg: str | None = None) -> dict[str, Any]:
    return {"errcode": code, "errmsg": errmsg if errmsg is not None else ERRMSG.get(code, "error")}


def _signature_problem(secret: str, query: dict[str, list[str]], offset: float) -> str | None:
    timestamp = (query.get("timestamp") or [""])[0]
    given = (query.get("sign") or [""])[0]
    if not timestamp or not given:
        return "sign not match"
    if not timestamp.isdigit():
        return "invalid timestamp"
    now_ms = (time.time() + offset) * 1000
    if abs(now_ms - int(timestamp)) > SIGN_TIMESTAMP_TOLERANCE_MS:
        return "invalid timestamp"
    # the query was url-decoded, as DingTalk decodes it: compare with the decoded signature
    if given != urllib.parse.unquote_plus(sign(secret, int(timestamp))):
        return "sign not match"
    return None


def _throttle(state: _State, token: str) -> dict[str, Any] | None:
    behaviour = state.behaviour
    now = time.monotonic()
    with state.lock:
        if state.throttled_until.get(token, 0.0) > now:
            return _errcode(130101)
        sent = state.sent.setdefault(token, deque())
        while sent and now - sent[0] >= behaviour.rate_window:
            sent.popleft()
        if len(sent) >= behaviour.rate_limit:
            state.throttled_until[token] = now + behaviour.throttle_seconds
            return _errcode(130101)
        sent.append(now)
    return None


def _shape_problem(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict) or body.get("msgtype") not in MSG_TYPES:
        return _errcode(40035, "缺少参数 msgtype")
    msgtype = body["msgtype"]
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        return _errcode(40035, f"缺少参数 {msgtype}")
    missing = missing_fields(msgtype, payload)
    if msgtype == "markdown" and "title" in missing:
        return _errcode(400402)
    if msgtype == "markdown" and "text" in missing:
        return _errcode(400403)
    if missing:
        return _errcode(40035, f"缺少参数 {msgtype}.{missing[0]}")
    at = body.get("at")
    if at is not None:
        if not isinstance(at, dict) or not all(isinstance(at.get(k, []), list)
                                               for k in ("atMobiles", "atUserIds")):
            return _errcode(40035, "缺少参数 at")
    return None


def _notified(body: dict[str, Any]) -> tuple[str, ...]:
    """Who DingTalk notifies: the at list for text; for markdown only those whose @mention
    is also written in the text; nobody for the other types."""
    at = body.get("at") or {}
    msgtype = body["msgtype"]
    if msgtype not in MENTION_MSG_TYPES:
        return ()
    people = [str(p) for p in at.get("atMobiles", []) + at.get("atUserIds", [])]
    if at.get("isAtAll"):
        people.append("@all")
    if msgtype == "markdown":
        text = body["markdown"]["text"]
        people = [p for p in people if p == "@all" or f"@{p}" in text]
    return tuple(people)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tls = tls
        self.state = state

    def finish_request(self, request: Any, client_address: Any) -> None:
        # the TLS handshake runs in the connection's own thread, not the accept loop
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self.state.lock:
            self.state.connections += 1
        try:
            super().finish_request(wrapped, client_address)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            pass


class LocalDingTalkServer:
    """``with LocalDingTalkServer(tls, [FakeRobot("t1", secret="SEC...")]) as server:``"""

    def __init__(self, tls: ssl.SSLContext, robots: list[FakeRobot] = (),  # type: ignore
                 behaviour: DingTalkBehaviour | None = None) -> None:
        self.state = _State(robots={r.token: r for r in robots},
                            behaviour=behaviour or DingTalkBehaviour())
        self._server = _Server(tls, self.state)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def webhook(self, token: str) -> str:
        return f"https://{self.host}{SEND_PATH}?access_token={token}"

    def add_robot(self, robot: FakeRobot) -> FakeRobot:
        self.state.robots[robot.token] = robot
        return robot

    def script(self, token: str, *answers: Any) -> None:
        """Answer the next requests of this robot with these, in order: an errcode, or
        ("http", status), ("sleep", seconds) before answering, ("text", raw body)."""
        with self.state.lock:
            self.state.scripted.setdefault(token, deque()).extend(answers)

    @property
    def received(self) -> list[ReceivedMessage]:
        return self.state.received

    @property
    def requests(self) -> int:
        return self.state.requests

    @property
    def connections(self) -> int:
        return self.state.connections

    @property
    def max_in_flight(self) -> int:
        return self.state.max_in_flight

    def __enter__(self) -> LocalDingTalkServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
