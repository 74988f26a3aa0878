"""DingTalk's outgoing robot, seen from our side: the requests DingTalk POSTs to us.

When someone @-mentions an outgoing robot, DingTalk POSTs the message as JSON to the robot's
callback URL with two headers: ``timestamp`` (ms) and ``sign`` =
``base64(HMAC_SHA256(key=appSecret, msg=f"{timestamp}\\n{appSecret}"))`` (not urlencoded).
A request is genuine when the signature matches and the timestamp is within one hour of our
clock.  The signature does not cover the body, so a captured pair of headers could carry any
body for up to an hour: messages are also deduplicated on ``msgId``.

``InboundVerifier.handle(headers, body)`` turns one request into an ``InboundMessage`` or
raises ``InboundRejected`` carrying the HTTP status to answer and a reason that never contains
the secret or the signature.  Nothing here knows about sockets or StackStorm.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ... import bounded
from ...config.reader import ConfigReader
from .protocol import SIGNATURE_WINDOW_MS, signature
from ...errors import ConfigError

__all__ = [
    "SIGNATURE_WINDOW_MS",
    "TRIGGER",
    "outgoing_sign",
    "DingTalkInboundConfig",
    "InboundMessage",
    "InboundRejected",
    "ReplayGuard",
    "InboundVerifier",
    "InboundEndpoint",
]

TRIGGER = "notify_message.dingtalk_message"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PATH = "/dingtalk/outgoing"
DEFAULT_REPLAY_CACHE = 10000
MAX_BODY_BYTES = 64 * 1024
MAX_BODY_DEPTH = 16            # DingTalk's own messages nest 3 deep (content.richText[])
DEFAULT_REQUEST_TIMEOUT = 10.0  # seconds for a whole request, as http_listener counts it
DEFAULT_MAX_CONNECTIONS = 64


def outgoing_sign(timestamp_ms: str, secret: str) -> str:
    """The ``sign`` header DingTalk sends with an outgoing robot's request: the same signature
    as a custom robot's, not URL-encoded."""
    return signature(secret, timestamp_ms)


@dataclass(frozen=True)
class DingTalkInboundConfig:
    """The ``dingtalk_inbound`` section: where the listener runs and the robot's AppSecret."""

    app_secret: str = field(repr=False)
    port: int
    host: str = DEFAULT_HOST
    path: str = DEFAULT_PATH
    replay_cache_size: int = DEFAULT_REPLAY_CACHE
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    @classmethod
    def from_mapping(cls, value: Any, path: str = "dingtalk_inbound") -> DingTalkInboundConfig:
        reader = ConfigReader(value, path)
        port = reader.port("port")
        url_path = reader.string("path", default=DEFAULT_PATH)
        if not url_path.startswith("/") or any(c.isspace() or c in "?#" for c in url_path):
            raise ConfigError(reader.key("path"),
                              f"expected a URL path such as {DEFAULT_PATH}, got {url_path!r}")
        cache = reader.integer("replay_cache_size", default=DEFAULT_REPLAY_CACHE, minimum=1,
                               maximum=10_000_000)
        return cls(
            app_secret=reader.string("app_secret", required=True),
            port=port,
            host=reader.string("host", default=DEFAULT_HOST),
            path=url_path,
            replay_cache_size=cache,
            request_timeout=reader.seconds("request_timeout", default=DEFAULT_REQUEST_TIMEOUT,
                                           maximum=600.0),
            max_connections=reader.integer("max_connections", default=DEFAULT_MAX_CONNECTIONS,
                                           minimum=1, maximum=10_000),
        )


@dataclass(frozen=True)
class InboundMessage:
    """One message someone sent the robot, as the trigger payload carries it."""

    msg_id: str
    text: str
    msgtype: str
    sender_nick: str
    sender_staff_id: str
    sender_id: str
    conversation_id: str
    conversation_title: str
    conversation_type: str
    is_admin: bool
    is_in_at_list: bool
    session_webhook: str
    session_webhook_expired_time: int | None
    create_at: int | None
    robot_code: str

    def to_payload(self) -> dict[str, Any]:
        """DingTalk's own field names, so that its documentation reads for the trigger too."""
        return {
            "msgId": self.msg_id,
            "text": self.text,
            "msgtype": self.msgtype,
            "senderNick": self.sender_nick,
            "senderStaffId": self.sender_staff_id,
            "senderId": self.sender_id,
            "conversationId": self.conversation_id,
            "conversationTitle": self.conversation_title,
            "conversationType": self.conversation_type,
            "isAdmin": self.is_admin,
            "isInAtList": self.is_in_at_list,
            "sessionWebhook": self.session_webhook,
            "sessionWebhookExpiredTime": self.session_webhook_expired_time,
            "createAt": self.create_at,
            "robotCode": self.robot_code,
        }

    @classmethod
    def from_body(cls, data: Mapping[str, Any]) -> InboundMessage:
        msg_id = data.get("msgId")
        if not isinstance(msg_id, str) or not msg_id.strip():
            raise InboundRejected(400, "the body has no msgId")
        return cls(
            msg_id=msg_id,
            text=_text_of(data),
            msgtype=_string(data, "msgtype") or "text",
            sender_nick=_string(data, "senderNick"),
            sender_staff_id=_string(data, "senderStaffId"),
            sender_id=_string(data, "senderId"),
            conversation_id=_string(data, "conversationId"),
            conversation_title=_string(data, "conversationTitle"),
            conversation_type=_string(data, "conversationType"),
            is_admin=data.get("isAdmin") is True,
            is_in_at_list=data.get("isInAtList") is True,
            session_webhook=_string(data, "sessionWebhook"),
            session_webhook_expired_time=_milliseconds(data.get("sessionWebhookExpiredTime")),
            create_at=_milliseconds(data.get("createAt")),
            robot_code=_string(data, "robotCode"),
        )


def _string(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value)
    raise InboundRejected(400, f"{name} in the body is not text")


def _milliseconds(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and bounded.ascii_digits(value.strip()) and len(value.strip()) <= 16:
        return int(value)
    return None


def _text_of(data: Mapping[str, Any]) -> str:
    """The typed text: ``text.content`` (DingTalk puts a space after the @mention), or the
    text parts of a rich text message; other message types carry no text."""
    content = data.get("content")
    text = data.get("text")
    if isinstance(text, Mapping) and isinstance(text.get("content"), str):
        return str(text["content"]).strip()
    if isinstance(content, Mapping) and isinstance(content.get("richText"), list):
        parts = [p.get("text") for p in content["richText"] if isinstance(p, Mapping)]
        return "".join(p for p in parts if isinstance(p, str)).strip()
    return ""


class InboundRejected(Exception):
    """A request that must not become a trigger; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")


class ReplayGuard:
    """Remembers the msgIds seen, the newest ``capacity`` of them for ``ttl_ms`` each."""

    def __init__(self, capacity: int = DEFAULT_REPLAY_CACHE,
                 ttl_ms: int = 2 * SIGNATURE_WINDOW_MS) -> None:
        self.capacity = capacity
        self.ttl_ms = ttl_ms
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, msg_id: str, now_ms: int) -> bool:
        """True the first time a msgId is seen (and records it); False for a replay."""
        with self._lock:
            while self._seen:
                oldest, seen_at = next(iter(self._seen.items()))
                if now_ms - seen_at < self.ttl_ms:
                    break
                del self._seen[oldest]
            if msg_id in self._seen:
                return False
            self._seen[msg_id] = now_ms
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return True

    def forget(self, msg_id: str) -> None:
        """Let a msgId through again (its trigger could not be dispatched)."""
        with self._lock:
            self._seen.pop(msg_id, None)

    def __len__(self) -> int:
        return len(self._seen)


def _now_ms() -> int:
    return int(time.time() * 1000)


class InboundVerifier:
    """Checks one outgoing robot request: signature, timestamp window, body, replay."""

    def __init__(self, app_secret: str, *, replay_guard: ReplayGuard | None = None,
                 clock_ms: Callable[[], int] = _now_ms,
                 window_ms: int = SIGNATURE_WINDOW_MS) -> None:
        if not app_secret:
            raise ValueError("an outgoing robot needs its AppSecret")
        self._secret = app_secret
        self.replay_guard = replay_guard if replay_guard is not None else ReplayGuard()
        self.clock_ms = clock_ms
        self.window_ms = window_ms

    def handle(self, headers: Mapping[str, str], body: bytes) -> InboundMessage:
        now = self.clock_ms()
        self.verify_signature(headers, now)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InboundRejected(400, "the body is not JSON") from None
        try:  # bounded: a body nested 60000 deep is refused, not a RecursionError
            data = bounded.loads(text, max_bytes=MAX_BODY_BYTES, max_depth=MAX_BODY_DEPTH)
        except bounded.BoundsError as exc:
            raise InboundRejected(400, f"the body {exc}") from None
        except ValueError:
            raise InboundRejected(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise InboundRejected(400, "the body is not a JSON object")
        message = InboundMessage.from_body(data)
        if not self.replay_guard.first_time(message.msg_id, now):
            raise InboundRejected(409, f"msgId {message.msg_id} was already received (replay)")
        return message

    def verify_signature(self, headers: Mapping[str, str], now_ms: int) -> None:
        timestamp = _header(headers, "timestamp")
        sign = _header(headers, "sign")
        if not timestamp or not sign:
            raise InboundRejected(401, "the timestamp or sign header is missing")
        if not bounded.ascii_digits(timestamp) or len(timestamp) > 16:
            raise InboundRejected(401, "the timestamp header is not milliseconds")
        expected = outgoing_sign(timestamp, self._secret)
        if not hmac.compare_digest(expected.encode("ascii"), sign.encode("utf-8", "replace")):
            raise InboundRejected(401, "the signature does not match the AppSecret")
        if abs(now_ms - int(timestamp)) > self.window_ms:
            raise InboundRejected(401, "the timestamp is more than one hour away from our clock")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict from a test or another server: look case-insensitively
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return (value or "").strip()


class InboundRequest(Protocol):
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client: str


class InboundEndpoint:
    """The callback URL: routes one HTTP request through the verifier to ``dispatch``.

    Returns ``(status, JSON body)``.  A message whose dispatch raises is answered 503 and its
    msgId forgotten, so that DingTalk's retry of it is not taken for a replay.
    """

    def __init__(self, config: DingTalkInboundConfig,
                 dispatch: Callable[[InboundMessage], None], *,
                 verifier: InboundVerifier | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.path = config.path
        self.verifier = verifier or InboundVerifier(
            config.app_secret, replay_guard=ReplayGuard(config.replay_cache_size))
        self.dispatch = dispatch
        self.log = log or (lambda text: None)

    def __call__(self, request: InboundRequest) -> tuple[int, dict[str, Any]]:
        if request.path.split("?", 1)[0] != self.path:
            return 404, {"error": "not found"}
        if request.method != "POST":
            return 405, {"error": "only POST is accepted"}
        try:
            message = self.verifier.handle(request.headers, request.body)
        except InboundRejected as exc:
            self.log(f"refused a DingTalk request from {request.client}: {exc.reason}")
            return exc.status, {"error": exc.reason}
        try:
            self.dispatch(message)
        except Exception as exc:  # the message bus is down: let DingTalk retry
            self.verifier.replay_guard.forget(message.msg_id)
            self.log(f"could not dispatch {TRIGGER} for msgId {message.msg_id}: "
                     f"{type(exc).__name__}")
            return 503, {"error": "the message could not be handed to StackStorm"}
        return 200, {}
