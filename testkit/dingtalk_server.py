"""A real HTTPS server on loopback that behaves like DingTalk's custom robot endpoint.

``POST /robot/send?access_token=T[&timestamp=MS&sign=S]`` is checked the way DingTalk checks
it, in its order: the token (300001, 300005 for a removed robot, 400102 for a disabled one),
the IP whitelist, the timestamp window and the signature (310000 with DingTalk's reasons),
the rate limit (130101 after ``rate_limit`` messages in ``rate_window`` seconds, then
throttled for ``throttle_seconds``), the body size (460101), the JSON shape of each msgtype
(400402 / 400403 for markdown, 40035 otherwise) and the robot's keywords (310000).  Like
DingTalk it answers HTTP 200 with an errcode either way.  Latency and the rate-limit window
are configurable so that tests and the benchmark stay fast.

This server is an oracle for the pack's DingTalk channel, so it imports nothing from the
pack (tests/test_oracles_are_independent.py keeps it so): every rule is restated below, in
"DingTalk's rules", from DingTalk's public documentation of the custom group robot
(自定义机器人) on the DingTalk Open Platform (open.dingtalk.com):

- "自定义机器人接入" / "Custom robot access" (open.dingtalk.com/document/group/
  custom-robot-access) and its security settings (安全设置): the webhook
  ``https://oapi.dingtalk.com/robot/send?access_token=...``; custom keywords (up to 10; a
  message must contain at least one of them); 加签 (signing): the string
  ``timestamp + "\\n" + secret`` signed with HmacSHA256 keyed by the secret, Base64-encoded,
  then urlEncoded, UTF-8 throughout, ``timestamp`` in milliseconds and "no more than 1 hour
  away from the time of the call"; and the IP address ranges (IP地址段).
- The same page's send frequency limit (消息发送频率限制): "each robot sends at most 20
  messages a minute; above 20 it is throttled for 10 minutes" (errcode 130101).
- The message types page (消息类型, open.dingtalk.com/document/development/
  robot-message-type): text{content}; link{title, text, messageUrl; picUrl optional};
  markdown{title, text}; actionCard{title, text, singleTitle, singleURL} (one button for the
  whole card) or {title, text, btnOrientation, btns[{title, actionURL}]} (a button each);
  feedCard{links[{title, messageURL, picURL}]}; ``at`` {atMobiles, atUserIds, isAtAll}
  for text and markdown, where markdown must also write the ``@mobile`` in its text.
- DingTalk's server error codes (服务端错误码), and the errmsg of the answers themselves:
  130101, 300001 / 300005, 310000 with its reason ("keywords not in content", "sign not
  match", "invalid timestamp", "ip ... not in whitelist"), 400102, 400402 / 400403, 40035
  (缺少参数), -1 and 410100.  460101 for a body over 20000 bytes is DingTalk's answer as
  users quote it ("message too long, exceed 20000 bytes", in github.com/timonwong/
  prometheus-webhook-dingtalk issue 30 and github.com/feiyu563/PrometheusAlert issue 318);
  the limit was not found stated on the documentation pages above.
- ``/robot/sendBySession``: the ``sessionWebhook`` an outgoing robot's message carries
  (机器人接收消息 / "receive messages"), answered here like the webhook.

The server runs in a child process of its own, as the other loopback servers do (see
testkit/child.py): StackStorm's test base classes monkey patch the test process with
eventlet, so a server thread there would be a greenlet that blocks the client.  The child
spools every request, connection and accepted message (written before the answer goes out)
and reloads ``state.json`` - robots, behaviour, scripted answers - when the test changes it.
``LocalDingTalkServer.reset()`` puts a running server back the way it was made, without a
new process: the robots and behaviour it was given, no scripts, nothing received, and fresh
rate windows and throttles.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testkit.child import (
    ChildServer,
    ResetRequests,
    Spool,
    announce_ready,
    child_parser,
    from_json,
)
from testkit.tls import server_context

__all__ = ["FakeRobot", "DingTalkBehaviour", "ReceivedMessage", "LocalDingTalkServer",
           "ERRMSG", "SEND_PATH", "SESSION_PATH", "BODY_LIMIT_BYTES"]

# --------------------------------------------------------------------------- DingTalk's rules
# Restated from DingTalk's documentation (see the module docstring), never imported from the
# pack: an oracle that shared the pack's reading of the rules would share its mistakes.

SEND_PATH = "/robot/send"
SESSION_PATH = "/robot/sendBySession"

BODY_LIMIT_BYTES = 20000                  # the request body as sent; above it: 460101
SENDS_PER_MINUTE = 20                     # per robot; the 21st is refused (130101) ...
THROTTLE_MINUTES = 10                     # ... and the robot stays throttled this long
TIMESTAMP_LEEWAY_MS = 60 * 60 * 1000      # 加签: the timestamp within an hour of our clock

# The payload fields each msgtype must carry, as non-blank strings.  DingTalk's casing is
# not the same everywhere: link says messageUrl / picUrl, feedCard messageURL / picURL.
_MUST_CARRY: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "markdown": ("title", "text"),
    "link": ("title", "text", "messageUrl"),   # picUrl may be left out
    "actionCard": ("title", "text"),           # and the fields of its kind of buttons
    "feedCard": (),                            # everything is in its links
}
_ONE_BUTTON = ("singleTitle", "singleURL")    # actionCard, one button for the whole card
_EACH_BUTTON = ("title", "actionURL")         # actionCard, btns: every button
_EACH_LINK = ("title", "messageURL", "picURL")  # feedCard, links: every link
# The only msgtypes whose "at" notifies anybody.
_MENTIONING = ("text", "markdown")

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
    460101: f"message too long, exceed {BODY_LIMIT_BYTES} bytes",
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
    rate_limit: int = SENDS_PER_MINUTE
    rate_window: float = 60.0
    throttle_seconds: float = THROTTLE_MINUTES * 60.0
    clock_offset: float = 0.0                # seconds between DingTalk's clock and ours


@dataclass(frozen=True)
class ReceivedMessage:
    token: str
    body: dict[str, Any]
    signed: bool
    notified: tuple[str, ...]               # mobiles / user ids DingTalk would notify

    @property
    def payload(self) -> dict[str, Any]:
        payload = self.body[self.body["msgtype"]]
        if not isinstance(payload, dict):
            raise TypeError(f"the {self.body['msgtype']} payload is not an object")
        return payload


class LocalDingTalkServer:
    """``with LocalDingTalkServer(server_pem, [FakeRobot("t1", secret="SEC...")]) as server:``
    ``server_pem`` is the key and certificate chain the server presents (HTTPS only, as
    DingTalk)."""

    def __init__(self, server_pem: str, robots: list[FakeRobot] | tuple[FakeRobot, ...] = (),
                 behaviour: DingTalkBehaviour | None = None) -> None:
        self.robots = {r.token: r for r in robots}
        self.behaviour = behaviour or DingTalkBehaviour()
        self.scripted: dict[str, list[Any]] = {}
        self._made = copy.deepcopy((list(self.robots.values()), self.behaviour))
        self._child = ChildServer("testkit.dingtalk_server", ["--server-pem", server_pem])

    @property
    def port(self) -> int:
        return self._child.port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def webhook(self, token: str) -> str:
        return f"https://{self.host}{SEND_PATH}?access_token={token}"

    def session_webhook(self, session: str) -> str:
        """A sessionWebhook, as an outgoing robot's message carries it; the session is
        served by the FakeRobot whose token it is."""
        return f"https://{self.host}{SESSION_PATH}?session={session}"

    def add_robot(self, robot: FakeRobot) -> FakeRobot:
        self.robots[robot.token] = robot
        self._publish()
        return robot

    def update(self, **behaviour: Any) -> None:
        """Change the behaviour of the running server (it reloads before each request)."""
        for name, value in behaviour.items():
            setattr(self.behaviour, name, value)
        self._publish()

    def script(self, token: str, *answers: Any) -> None:
        """Answer the next requests of this robot with these, in order: an errcode, or
        ("http", status), ("sleep", seconds) before answering, ("text", raw body)."""
        self.scripted.setdefault(token, []).extend(answers)
        self._publish()

    def reset(self) -> None:
        """Put the running server back the way it was made: the robots and behaviour given to
        the constructor, no scripted answers; nothing received (requests, connections,
        messages), and DingTalk's own memory gone: rate windows, throttles.  Returns once the
        child has confirmed, so the next request is served by the reset server; a request
        still in flight from before is answered, but what it would spool is dropped."""
        robots, behaviour = copy.deepcopy(self._made)
        self.robots = {r.token: r for r in robots}
        self.behaviour = behaviour
        self.scripted = {}
        self._publish()
        self._child.reset()

    def reset_as(self, robots: list[FakeRobot] | tuple[FakeRobot, ...] = (),
                 behaviour: DingTalkBehaviour | None = None) -> None:
        """Reset, and from now on be as if made with these robots and behaviour: a server
        kept running for a whole test session serves each test as that test made it."""
        self._made = copy.deepcopy((list(robots), behaviour or DingTalkBehaviour()))
        self.reset()

    @property
    def received(self) -> list[ReceivedMessage]:
        return [ReceivedMessage(r["token"], r["body"], r["signed"], tuple(r["notified"]))
                for r in self._child.spool.read("message")]

    @property
    def requests(self) -> int:
        return len(self._child.spool.read("request"))

    @property
    def connections(self) -> int:
        return len(self._child.spool.read("connection"))

    @property
    def max_in_flight(self) -> int:
        """The most requests the server was handling at the same time."""
        return max((r["in_flight"] for r in self._child.spool.read("request")), default=0)

    @property
    def request_times(self) -> list[float]:
        """When each request arrived (its body read), as ``time.time()``, in order."""
        return [r["time"] for r in self._child.spool.read("request")]

    def _publish(self) -> None:
        if self._child.port:
            self._child.spool.put("state.json", {
                "robots": [asdict(r) for r in self.robots.values()],
                "behaviour": asdict(self.behaviour),
                "scripted": self.scripted,
            })

    def __enter__(self) -> LocalDingTalkServer:
        self._child.__enter__()
        self._publish()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.__exit__()


# --------------------------------------------------------------------------- the child


class _State:
    """What the child knows: the test's robots, behaviour and scripts (reloaded from
    state.json when it changes), and DingTalk's own per-robot counters.  A reset replaces
    the whole of it; a request keeps the one it started with."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.lock = threading.Lock()
        self.robots: dict[str, FakeRobot] = {}
        self.behaviour = DingTalkBehaviour()
        self.scripted: dict[str, list[Any]] = {}
        self.answered: dict[str, int] = {}       # scripted answers used, by token
        self.sent: dict[str, deque[float]] = {}
        self.throttled_until: dict[str, float] = {}
        self.in_flight = 0
        self._stamp: tuple[int, int, int] | None = None

    def reload(self) -> None:
        path = os.path.join(self.spool.directory, "state.json")
        with self.lock:
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                return
            # each put() is a new file: its inode tells two writes within one mtime tick apart
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            state = self.spool.get("state.json")
            robots = [from_json(FakeRobot, r) for r in state["robots"]]
            self.robots = {r.token: r for r in robots}
            self.behaviour = from_json(DingTalkBehaviour, state["behaviour"])
            self.scripted = {token: [tuple(a) if isinstance(a, list) else a for a in answers]
                             for token, answers in state["scripted"].items()}
            self._stamp = stamp

    def next_scripted(self, token: str) -> Any:
        with self.lock:
            answers = self.scripted.get(token, [])
            used = self.answered.get(token, 0)
            if used >= len(answers):
                return None
            self.answered[token] = used + 1
            return answers[used]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as oapi.dingtalk.com
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        # the Date header by DingTalk's own clock (clock_offset), as the real one's is
        offset = self.server.state.behaviour.clock_offset
        return super().date_time_string(time.time() + offset if timestamp is None else timestamp)

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        state.reload()
        with state.lock:
            state.in_flight += 1
            state.spool.write("request", {"in_flight": state.in_flight, "time": time.time()})
        try:
            self._handle(state, raw)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _handle(self, state: _State, raw: bytes) -> None:
        time.sleep(state.behaviour.latency)
        parts = urllib.parse.urlsplit(self.path)
        if parts.path not in (SEND_PATH, SESSION_PATH):
            self._reply(404, {"errcode": 404, "errmsg": "请求的URI地址不存在"})
            return
        query = urllib.parse.parse_qs(parts.query)
        if parts.path == SESSION_PATH:  # a reply into a conversation: the session is the token
            query = {"access_token": query.get("session", [""])}
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
        scripted = state.next_scripted(token)
        if scripted is not None:
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
        if len(raw) > BODY_LIMIT_BYTES:
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
        if robot.keywords and not _has_keyword(robot.keywords, body):
            return _errcode(310000, "keywords not in content")
        state.spool.write("message", {"token": token, "body": body, "signed": signed,
                                      "notified": list(_notified(body))})
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


def _expected_sign(secret: str, timestamp: str) -> str:
    """加签: Base64(HmacSHA256(key=secret, timestamp + "\\n" + secret)), UTF-8 throughout.
    The client urlEncodes it into the query; DingTalk decodes the query before comparing, so
    this, not its urlEncoded form, is what the decoded ``sign`` must equal."""
    message = (timestamp + "\n" + secret).encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _signature_problem(secret: str, query: dict[str, list[str]], offset: float) -> str | None:
    timestamp = (query.get("timestamp") or [""])[0]
    given = (query.get("sign") or [""])[0]    # parse_qs decoded it: '+' became a space
    if not timestamp or not given:
        return "sign not match"
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "invalid timestamp"
    now_ms = (time.time() + offset) * 1000
    if abs(now_ms - int(timestamp)) > TIMESTAMP_LEEWAY_MS:
        return "invalid timestamp"
    expected = _expected_sign(secret, timestamp)
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
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
    if not isinstance(body, dict) or body.get("msgtype") not in _MUST_CARRY:
        return _errcode(40035, "缺少参数 msgtype")
    msgtype = body["msgtype"]
    payload = body.get(msgtype)
    if not isinstance(payload, dict):
        return _errcode(40035, f"缺少参数 {msgtype}")
    missing = _first_missing(msgtype, payload)
    if msgtype == "markdown" and missing == "title":
        return _errcode(400402)
    if msgtype == "markdown" and missing == "text":
        return _errcode(400403)
    if missing:
        return _errcode(40035, f"缺少参数 {msgtype}.{missing}")
    at = body.get("at")
    if at is not None:
        if not isinstance(at, dict) or not all(isinstance(at.get(k, []), list)
                                               for k in ("atMobiles", "atUserIds")):
            return _errcode(40035, "缺少参数 at")
    return None


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def _first_missing(msgtype: str, payload: dict[str, Any]) -> str | None:
    """The first field DingTalk would say the payload lacks (缺少参数), as a dotted path."""
    for name in _MUST_CARRY[msgtype]:
        if _blank(payload.get(name)):
            return name
    if msgtype == "feedCard":
        return _first_missing_in_each(payload, "links", _EACH_LINK)
    if msgtype == "actionCard":
        if payload.get("btns") is not None:
            return _first_missing_in_each(payload, "btns", _EACH_BUTTON)
        for name in _ONE_BUTTON:
            if _blank(payload.get(name)):
                return name
    return None


def _first_missing_in_each(payload: dict[str, Any], name: str,
                           fields: tuple[str, ...]) -> str | None:
    """A list of items, each carrying these fields: the list itself must not be empty."""
    items = payload.get(name)
    if not isinstance(items, list) or not items:
        return name
    for index, item in enumerate(items):
        for field in fields:
            if not isinstance(item, dict) or _blank(item.get(field)):
                return f"{name}[{index}].{field}"
    return None


def _has_keyword(keywords: tuple[str, ...], body: dict[str, Any]) -> bool:
    """自定义关键词: the message contains at least one of the robot's keywords, as written."""
    words = list(_words(body[body["msgtype"]]))
    return any(keyword in word for keyword in keywords for word in words)


def _words(value: Any, key: str = "") -> Iterator[str]:
    """What a reader of the message sees: every string of the payload, except where it
    links (messageUrl, picURL, actionURL, ...) and how it lays out buttons."""
    if key.lower().endswith("url") or key == "btnOrientation":
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _words(item)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _words(item, str(name))


def _notified(body: dict[str, Any]) -> tuple[str, ...]:
    """Who DingTalk notifies: the at list for text; for markdown only those whose @mention
    is also written in the text; nobody for the other types."""
    at = body.get("at") or {}
    msgtype = body["msgtype"]
    if msgtype not in _MENTIONING:
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

    def __init__(self, port: int, tls: ssl.SSLContext, state: _State) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.tls = tls
        self.state = state
        self.resets = ResetRequests(state.spool.directory)

    def service_actions(self) -> None:
        """Every turn of the accept loop: a reset the test asked for.  The old state's spool
        is retired first, so requests still holding it spool nothing from then on."""
        generation = self.resets.pending()
        if generation:
            state = _State(self.state.spool.renewed())
            state.reload()
            self.state = state
            self.resets.confirm(generation)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # the TLS handshake runs in the connection's own thread, not the accept loop
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        self.state.spool.write("connection", {"client": client_address[0]})
        try:
            super().finish_request(wrapped, client_address)
        except (ssl.SSLError, ConnectionError, socket.timeout):
            pass


def main() -> None:
    parser = child_parser()
    parser.add_argument("--server-pem", required=True)
    args = parser.parse_args()
    server = _Server(args.port, server_context(args.server_pem), _State(Spool(args.spool)))
    announce_ready()
    try:
        server.serve_forever(0.01)  # a reset waits for a turn of this loop
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
