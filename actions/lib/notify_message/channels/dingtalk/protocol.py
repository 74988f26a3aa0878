"""What we know about DingTalk custom group robots: the one place that knows the protocol.

A custom robot is a webhook, ``POST https://oapi.dingtalk.com/robot/send?access_token=T``,
optionally signed with ``&timestamp=MS&sign=S``.  DingTalk answers HTTP 200 even when it
refuses a message; the verdict is the ``errcode`` of the JSON answer.  This module holds the
signing algorithm, the message types and the fields DingTalk requires of each, the size and
rate limits, and what every errcode means.  The channel, the config parser and the loopback
test server all import these facts from here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_HOST",
    "SEND_PATH",
    "MsgType",
    "ItemList",
    "MESSAGE_TYPES",
    "MSG_TYPES",
    "MENTION_MSG_TYPES",
    "MENTION_FIELDS",
    "shape_hint",
    "MAX_BODY_BYTES",
    "RATE_LIMIT_MESSAGES",
    "RATE_LIMIT_WINDOW",
    "THROTTLE_SECONDS",
    "SIGNATURE_WINDOW_MS",
    "SECURITY_REJECTIONS",
    "Errcode",
    "ERRCODES",
    "sign",
    "signed_query",
    "message_text",
    "missing_fields",
    "explain_errcode",
    "keywords_found",
    "MOBILE_PATTERN",
    "encode_body",
]

DEFAULT_HOST = "oapi.dingtalk.com"
SEND_PATH = "/robot/send"
# where a reply to an outgoing robot's message goes: its sessionWebhook, until it expires
SESSION_PATH = "/robot/sendBySession"

# DingTalk refuses a request body above 20000 bytes with errcode 460101, "message too long,
# exceed 20000 bytes" / "body 大小不合法;solution:请保持大小在 20000bytes 以内" (seen in
# github.com/feiyu563/PrometheusAlert/issues/318 and
# github.com/timonwong/prometheus-webhook-dingtalk/issues/30).  We measure the UTF-8 JSON
# body exactly as it is sent and refuse it before sending.
MAX_BODY_BYTES = 20000

# "Each robot sends at most 20 messages per minute; above that it is throttled for 10
# minutes" (DingTalk custom robot documentation, errcode 130101).
RATE_LIMIT_MESSAGES = 20
RATE_LIMIT_WINDOW = 60.0
THROTTLE_SECONDS = 600.0

# What DingTalk takes in atMobiles: a mobile number, digits with an optional +country code.
MOBILE_PATTERN = re.compile(r"^\+?[0-9][0-9-]{4,19}$")

# A signature's timestamp must be within one hour of the receiver's clock: DingTalk's for
# what we send, ours for what DingTalk's outgoing robots send us.
SIGNATURE_WINDOW_MS = 3600 * 1000

# errcode 310000 ("security check failed") carries its reason in errmsg; these are the
# phrases DingTalk uses, each with what to do about it.
SECURITY_REJECTIONS: dict[str, str] = {
    "keywords not in content": (
        "the robot's security settings require one of its custom keywords in every message "
        "and this message has none; put one in dingdingcontext, and list the robot's "
        "keywords under keywords in its dingtalk_robots entry so that the pack checks "
        "before sending"),
    "sign not match": (
        "the signature did not match: the robot uses signing (加签) and the secret is wrong "
        "or missing; copy the robot's SEC... secret into secret of its dingtalk_robots entry"),
    "invalid timestamp": (
        "the signature's timestamp is more than an hour away from DingTalk's clock: "
        "synchronise this host's clock (NTP)"),
    "not in whitelist": (
        "the robot only accepts requests from its IP whitelist (IP地址段) and this host's "
        "public IP is not on it; add the StackStorm host's egress IP to the robot's "
        "security settings"),
}


@dataclass(frozen=True)
class Errcode:
    code: int
    meaning: str
    advice: str
    transient: bool = False


ERRCODES: dict[int, Errcode] = {e.code: e for e in (
    Errcode(0, "ok", ""),
    Errcode(-1, "DingTalk is busy (系统繁忙)", "a temporary failure", transient=True),
    Errcode(130101, "sent too fast: more than 20 messages in a minute to this robot",
            "DingTalk throttles a robot for about 10 minutes after 20 messages in a minute; "
            "merge alerts into one markdown summary or spread them over several robots",
            transient=True),
    Errcode(410100, "DingTalk could not process the message right now",
            "a temporary failure", transient=True),
    Errcode(310000, "security check failed", "check the robot's security settings"),
    Errcode(300001, "the access_token does not exist",
            "the robot was removed or the webhook was copied incompletely; copy the webhook "
            "again from the group's robot settings"),
    Errcode(300005, "the access_token does not exist",
            "the robot was removed from its group; add a robot and update its webhook"),
    Errcode(400102, "the robot is disabled (机器人已停用)",
            "a group admin must enable the robot again in the group's robot settings"),
    Errcode(400402, "markdown title is missing",
            "give a title: dingdingcontext {\"title\": ..., \"text\": ...}"),
    Errcode(400403, "markdown text is missing",
            "give the text: dingdingcontext {\"title\": ..., \"text\": ...}"),
    Errcode(460101, f"the message is longer than {MAX_BODY_BYTES} bytes",
            "shorten dingdingcontext"),
    Errcode(40035, "a required parameter is missing (缺少参数)",
            "the message lacks a field its msgtype requires"),
)}


def signature(secret: str, timestamp_ms: int | str) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{ts}\\n{secret}")): DingTalk's one signature, used
    by custom robots (we send it, URL-encoded) and outgoing robots (DingTalk sends it, as is)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value of a custom robot's webhook: the signature, URL-encoded."""
    return urllib.parse.quote_plus(signature(secret, timestamp_ms))


def signed_query(secret: str, timestamp_ms: int) -> str:
    """What a signed request appends to the webhook URL (already encoded)."""
    return f"timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


@dataclass(frozen=True)
class ItemList:
    """A list field of objects (actionCard's buttons, feedCard's links), and their fields."""

    key: str
    fields: tuple[str, ...]          # every one required in each item
    urls: tuple[str, ...]            # which of them are links


@dataclass(frozen=True)
class MsgType:
    """One message type: the fields of its payload, as DingTalk spells them.

    ``required`` must be present; ``optional`` may be; ``one_of`` is a choice of field groups
    of which one must be complete (actionCard: one button, or a list of them).  ``urls`` are
    links, ``text`` the fields whose text DingTalk searches for the robot's keywords;
    ``mentions`` says whether DingTalk shows @mentions (the ``at`` object) for this type.
    """

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    urls: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    items: ItemList | None = None
    mentions: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field the payload may have."""
        grouped = tuple(f for group in self.one_of for f in group)
        return tuple(dict.fromkeys(self.required + self.optional + grouped))

    @property
    def url_fields(self) -> tuple[str, ...]:
        return self.urls + (self.items.urls if self.items else ())


# Note the casing: messageUrl / picUrl in link, but messageURL / picURL in feedCard and
# singleURL / actionURL in actionCard.
MESSAGE_TYPES: dict[str, MsgType] = {t.name: t for t in (
    MsgType("text", required=("content",), text=("content",), mentions=True),
    MsgType("markdown", required=("title", "text"), text=("title", "text"), mentions=True),
    MsgType("link", required=("title", "text", "messageUrl"), optional=("picUrl",),
            urls=("messageUrl", "picUrl"), text=("title", "text")),
    MsgType("actionCard", required=("title", "text"), optional=("btnOrientation",),
            one_of=(("singleTitle", "singleURL"), ("btns",)), urls=("singleURL",),
            text=("title", "text", "singleTitle"),
            items=ItemList("btns", ("title", "actionURL"), urls=("actionURL",))),
    MsgType("feedCard", required=("links",),
            items=ItemList("links", ("title", "messageURL", "picURL"),
                           urls=("messageURL", "picURL"))),
)}
MSG_TYPES = tuple(MESSAGE_TYPES)
MENTION_MSG_TYPES = tuple(name for name, t in MESSAGE_TYPES.items() if t.mentions)
MENTION_FIELDS = ("atMobiles", "atUserIds", "isAtAll")


def missing_fields(msgtype: str, payload: Mapping[str, Any]) -> list[str]:
    """The required fields a payload of this msgtype lacks, as dotted paths."""
    def blank(value: Any) -> bool:
        return not isinstance(value, str) or not value.strip()

    spec = MESSAGE_TYPES[msgtype]
    items = spec.items
    missing = [name for name in spec.required
               if (items is None or name != items.key) and blank(payload.get(name))]
    if items is not None:
        value = payload.get(items.key)
        in_choice = any(items.key in group for group in spec.one_of)
        if value is None and in_choice:
            # the other choice must then be complete: the first group without the list
            group = next(g for g in spec.one_of if items.key not in g)
            missing += [name for name in group if blank(payload.get(name))]
        elif not isinstance(value, list) or not value:
            missing.append(items.key)
        else:
            missing += [f"{items.key}[{i}].{name}" for i, item in enumerate(value)
                        for name in items.fields
                        if not isinstance(item, Mapping) or blank(item.get(name))]
    return missing


def message_text(body: Mapping[str, Any]) -> str:
    """Every piece of visible text of a message body, where the robot's keywords count."""
    spec = MESSAGE_TYPES.get(str(body.get("msgtype", "")))
    payload = body.get(spec.name) if spec is not None else None
    if spec is None or not isinstance(payload, Mapping):
        return ""
    parts = [payload.get(name) for name in spec.text]
    if spec.items is not None:
        parts += [item.get("title") for item in _items(payload.get(spec.items.key))]
    return "\n".join(p for p in parts if isinstance(p, str))


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def shape_hint(msgtype: str) -> str:
    """The JSON a dingdingcontext of this msgtype takes, for error messages."""
    spec = MESSAGE_TYPES[msgtype]

    def value(name: str, urls: tuple[str, ...]) -> str:
        return '"https://..."' if name in urls else '"0"' if name == "btnOrientation" else '"..."'

    def obj(names: tuple[str, ...], urls: tuple[str, ...], optional: tuple[str, ...] = ()
            ) -> str:
        parts = []
        for name in names:
            if spec.items is not None and name == spec.items.key:
                item = obj(spec.items.fields, spec.items.urls)
                parts.append(f'"{name}": [{item}]')
            else:
                note = " (optional)" if name in optional else ""
                parts.append(f'"{name}": {value(name, urls)}{note}')
        return "{" + ", ".join(parts) + "}"

    mentions = ', "atMobiles": [...], "atUserIds": [...], "isAtAll": false' if spec.mentions \
        else ""
    if spec.one_of:  # the optional fields go with the item list (btnOrientation with btns)
        listed = spec.items.key if spec.items else ""
        return " or ".join(obj(spec.required + group + (spec.optional if listed in group else ()),
                               spec.urls) for group in spec.one_of)
    shape = obj(spec.required + spec.optional, spec.urls, spec.optional)
    if mentions:
        shape = shape[:-1] + mentions + "}"
        return f'"the {"markdown " if msgtype == "markdown" else ""}text" or {shape}'
    return shape


# The query parameters of a webhook URL that are credentials (a robot's token, a session),
# and those a signed request adds.
CREDENTIAL_PARAMETERS = ("access_token", "session")
SIGNING_PARAMETERS = ("timestamp", "sign")
_CREDENTIAL = re.compile(r"(?:%s)=([^&\s'\"\\,;\]}]{1,512})" % "|".join(CREDENTIAL_PARAMETERS))
_MAX_CREDENTIALS = 100


def credentials_in(value: Any) -> list[str]:
    """Every webhook credential (``access_token=...``, ``session=...``) in the strings of a
    value, however deep: what a result must not show even when the URL was refused."""
    found: list[str] = []
    pending = [value]
    while pending:
        current = pending.pop()
        if len(found) >= _MAX_CREDENTIALS:
            break
        if isinstance(current, str):
            found += _CREDENTIAL.findall(current)[:_MAX_CREDENTIALS]
        elif isinstance(current, Mapping):
            pending += list(current.keys()) + list(current.values())
        elif isinstance(current, (list, tuple)):
            pending += list(current)
    return found


def explain_errcode(errcode: int, errmsg: str) -> tuple[bool, str]:
    """(transient, explanation) for an errcode DingTalk answered."""
    known = ERRCODES.get(errcode)
    if errcode == 310000:
        for phrase, advice in SECURITY_REJECTIONS.items():
            if phrase in errmsg:
                return False, f"security check failed ({phrase}): {advice}"
        return False, ("security check failed: the message did not pass the robot's security "
                       "settings (custom keywords, signing or IP whitelist)")
    if known is None:
        return False, "DingTalk refused the message"
    text = known.meaning if not known.advice else f"{known.meaning}: {known.advice}"
    return known.transient, text


def keywords_found(keywords: Iterable[str], text: str) -> bool:
    """DingTalk's keyword rule: at least one keyword occurs in the text, as written."""
    return any(keyword in text for keyword in keywords)


def encode_body(body: Mapping[str, Any]) -> bytes:
    """The request body exactly as it is sent: compact UTF-8 JSON (DingTalk requires UTF-8)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
