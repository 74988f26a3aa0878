"""notifyByCustom's DingTalk parameters, validated into one typed request.

``dingding``          1 / true: send; 0 / false: don't; a robot name (or several): send to
                      those robots.  Blank: send when dingdingWebhooks or dingdingcontext
                      is given.
``dingdingWebhooks``  robots: webhook URLs and / or names of robots in ``dingtalk_robots``,
                      as one string, a JSON list, an array, or separated by commas or new
                      lines.  Blank: the robots marked ``default: true`` (or the only one).
``dingdingMsgType``   text (default), markdown, link, actionCard, feedCard.
``dingdingcontext``   text / markdown: the text itself, or a JSON object; link, actionCard,
                      feedCard: a JSON object with DingTalk's own field names.  @mentions are
                      keys of the object: atMobiles, atUserIds, isAtAll (text and markdown).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from ...bounded import EDGE, ascii_digits, shown
from .config import (
    DingTalkRobot,
    DingTalkSettings,
    parse_mobile,
    parse_session_webhook,
    parse_webhook,
)
from .message import DingTalkMessage, DingTalkRequest, Mentions, RobotTarget
from .protocol import (
    MENTION_FIELDS,
    MESSAGE_TYPES,
    MSG_TYPES,
    missing_fields,
    shape_hint,
)
from ...config.entries import no_such_entry
from ...errors import ParameterError
from ...parameters import REPLY_PARAMETERS
from ...params import (
    as_flag,
    as_json,
    as_list,
    as_text,
    check_line,
    is_blank,
    reject_unknown,
)

__all__ = ["parse_dingtalk_request", "parse_session_reply", "resolve_robots", "check_size",
           "CONTEXT_KEYS"]

# text messages also take their content as "text", like markdown
_ALIASES = {"text": ("text",)}
# The keys dingdingcontext may have, by msgtype: the payload's fields, and the @mentions
# where DingTalk shows them.
CONTEXT_KEYS: dict[str, tuple[str, ...]] = {
    name: spec.fields + _ALIASES.get(name, ()) + (MENTION_FIELDS if spec.mentions else ())
    for name, spec in MESSAGE_TYPES.items()
}
_ITEM_FIELDS = {spec.items.key: spec.items.fields for spec in MESSAGE_TYPES.values()
                if spec.items is not None}
_URL_FIELDS = frozenset(f for spec in MESSAGE_TYPES.values() for f in spec.url_fields)
# DingTalk opens http(s) links, and dingtalk:// links inside the client.
_URL_SCHEMES = ("http", "https", "dingtalk")
MAX_ROBOTS = 100   # robots in one call
_MARKDOWN_MARKERS = re.compile(r"^[\s#>*\-+`]+")
_MARKDOWN_TITLE_LENGTH = 64


def parse_dingtalk_request(params: Mapping[str, Any], settings: DingTalkSettings,
                           extra_robots: Sequence[str] = ()) -> DingTalkRequest | None:
    """The DingTalk part of a call, or None when the call does not ask for DingTalk.
    ``extra_robots`` are robot names or webhook URLs from customReceiver."""
    dingding = params.get("dingding")
    webhooks = params.get("dingdingWebhooks")
    context = params.get("dingdingcontext")
    asked = not is_blank(webhooks) or not is_blank(context) or bool(extra_robots)
    selector = None  # robot names given in dingding itself
    if is_blank(dingding):
        if not asked:
            return None  # a playbook's leftover dingdingMsgType alone asks for nothing
    else:
        flag = as_flag("dingding", dingding)
        if flag is False:
            if asked:
                raise ParameterError("dingding", "is off (false / 0) but dingdingWebhooks or "
                                     "dingdingcontext was given; set dingding to 1 or remove "
                                     "them")
            return None
        if flag is None:
            if not is_blank(webhooks):
                raise ParameterError("dingding", "names robots and so does dingdingWebhooks; "
                                     "set dingding to 1 and list the robots in "
                                     "dingdingWebhooks")
            selector = dingding
    if selector is not None:
        robots = _robots(selector, "dingding", settings)
    elif is_blank(webhooks) and extra_robots:
        robots = ()  # customReceiver names the robots: no default robot on top of them
    else:
        robots = _robots(webhooks, "dingdingWebhooks", settings)
    if extra_robots:
        extra = _robots(list(extra_robots), "customReceiver.dingtalk", settings)
        by_token = {r.webhook.access_token: r for r in robots + extra}
        robots = tuple(by_token.values())
    if len(robots) > MAX_ROBOTS:
        raise ParameterError("dingdingWebhooks", f"names {len(robots)} robots; at most "
                             f"{MAX_ROBOTS} are sent to in one call")
    message = _message(_msgtype(params.get("dingdingMsgType")), context)
    check_size(message, robots, settings)
    return DingTalkRequest(message=message, robots=robots)


def parse_session_reply(params: Mapping[str, Any], settings: DingTalkSettings, now_ms: int
                        ) -> DingTalkRequest:
    """A reply into the conversation an outgoing robot's message came from, through its
    ``sessionWebhook`` (no signing: the session is the credential), refused once expired."""
    reject_unknown(params, REPLY_PARAMETERS, "replyDingTalk")
    url = as_text("sessionWebhook", params.get("sessionWebhook")).strip(EDGE)
    if not url:
        raise ParameterError("sessionWebhook", "is required: the sessionWebhook of the "
                             "notify_message.dingtalk_message trigger")
    try:
        webhook = parse_session_webhook(url, settings.allowed_hosts)
    except ValueError as exc:
        raise ParameterError("sessionWebhook", str(exc)) from None
    expires = params.get("sessionWebhookExpiredTime")
    if not is_blank(expires):
        text = (as_text("sessionWebhookExpiredTime", expires).strip()
                if isinstance(expires, (str, int)) and not isinstance(expires, bool) else "")
        if not ascii_digits(text) or len(text) > 16:
            raise ParameterError("sessionWebhookExpiredTime", "expected milliseconds since "
                                 f"the epoch, as DingTalk gives it, got {shown(expires)}")
        if int(text) <= now_ms:
            raise ParameterError("sessionWebhookExpiredTime", "the session webhook has "
                                 "expired, so DingTalk would refuse the reply: answer through "
                                 "a configured robot (notifyByCustom) instead")
    robot = RobotTarget(label=webhook.masked, webhook=webhook)
    message = _message(_msgtype(params.get("dingdingMsgType")), params.get("dingdingcontext"))
    check_size(message, (robot,), settings)
    return DingTalkRequest(message=message, robots=(robot,))


def check_size(message: DingTalkMessage, robots: Sequence[RobotTarget],
               settings: DingTalkSettings) -> None:
    """Refuse a message that cannot reach a robot within DingTalk's size limit: text and
    markdown over it are split or truncated (split.py), other msgtypes are refused."""
    from .split import TooLong, long_message_mode, message_bodies

    checked: set[tuple[object, ...]] = set()
    for robot in robots:
        mode = long_message_mode(robot, settings.long_messages)
        # robots differ only by what they add to the message: each variant is cut once
        variant = (robot.mentions, robot.keywords, mode)
        if variant in checked:
            continue
        checked.add(variant)
        try:
            message_bodies(message, robot, mode)
        except TooLong as exc:
            raise ParameterError("dingdingcontext", str(exc)) from None


def _robots(value: Any, parameter: str, settings: DingTalkSettings) -> tuple[RobotTarget, ...]:
    entries = as_list(parameter, value)
    if not entries:
        defaults = settings.default_robots
        if not defaults:
            raise ParameterError("dingdingWebhooks", _no_robot_problem(settings))
        return tuple(_configured(r) for r in defaults)
    for i, entry in enumerate(entries):
        if not isinstance(entry, (str, int)) or isinstance(entry, bool):
            raise ParameterError(parameter, f"entry {i} is a {type(entry).__name__}; expected "
                                 "a webhook URL or the name of a robot in dingtalk_robots")
    return resolve_robots([as_text(parameter, entry) for entry in entries], settings, parameter)


def resolve_robots(entries: Sequence[str], settings: DingTalkSettings, parameter: str
                   ) -> tuple[RobotTarget, ...]:
    """The robots that webhook URLs and configured robot names stand for, each robot once;
    ParameterError naming ``parameter`` (never repeating a URL, which holds a token)."""
    found: dict[str, RobotTarget] = {}
    for i, entry in enumerate(entries):
        text = entry.strip(EDGE)
        if "://" in text:
            try:
                webhook = parse_webhook(text, settings.allowed_hosts)
            except ValueError as exc:
                raise ParameterError(parameter, f"entry {i}: the webhook URL {exc}") from None
            robot = settings.robot_for_token(webhook.access_token)
            # a configured robot's URL brings that robot's secret, keywords and mentions
            target = _configured(robot) if robot else RobotTarget(webhook.masked, webhook)
        else:
            robot = settings.robot(text)
            if robot is None:
                raise no_such_entry(f"{parameter}[{i}]" if len(entries) > 1 else parameter,
                                    text, "DingTalk robot (dingtalk_robots)", settings.robots,
                                    "a webhook URL", quote=False)
            target = _configured(robot)
        found.setdefault(target.webhook.access_token, target)
    return tuple(found.values())


def _configured(robot: DingTalkRobot) -> RobotTarget:
    return RobotTarget(label=robot.label, webhook=robot.webhook, secret=robot.secret,
                       keywords=robot.keywords, configured=True,
                       mentions=Mentions(robot.at_mobiles, robot.at_user_ids, robot.at_all),
                       long_messages=robot.long_messages)


def _no_robot_problem(settings: DingTalkSettings) -> str:
    if not settings.robots:
        return ("give one or more robot webhook URLs, or configure robots under "
                "dingtalk_robots in the pack config (see the README)")
    names = ", ".join(r.name for r in settings.robots)
    return (f"is blank and no robot is marked default: true; give webhook URLs or robot "
            f"names ({names})")


def _msgtype(value: Any) -> str:
    text = as_text("dingdingMsgType", value).strip()
    if not text:
        return "text"
    for msgtype in MSG_TYPES:
        if msgtype.lower() == text.lower():
            return msgtype
    raise ParameterError("dingdingMsgType", f"expected one of {', '.join(MSG_TYPES)}, "
                         f"got {shown(text)}")


def _message(msgtype: str, value: Any) -> DingTalkMessage:
    if is_blank(value):
        raise ParameterError("dingdingcontext", "is required when sending to DingTalk: give "
                             "the message text (or, for " + msgtype + ", " +
                             shape_hint(msgtype) + ")")
    fields = _context_object(msgtype, value)
    if not MESSAGE_TYPES[msgtype].mentions and set(fields) & set(MENTION_FIELDS):
        raise ParameterError("dingdingcontext", "atMobiles, atUserIds and isAtAll work only "
                             "in text and markdown messages; DingTalk ignores them in " + msgtype)
    unknown = sorted(str(k) for k in fields if k not in CONTEXT_KEYS[msgtype])
    if unknown:
        raise ParameterError("dingdingcontext", f"has {shown(unknown[0])}, which a {msgtype} "
                             f"message does not take; expected {shape_hint(msgtype)}")
    mentions = _mentions(fields)
    payload = _payload(msgtype, {k: v for k, v in fields.items() if k not in MENTION_FIELDS})
    missing = missing_fields(msgtype, payload)
    if missing:
        raise ParameterError("dingdingcontext", f"a {msgtype} message needs "
                             f"{', '.join(missing)}; expected {shape_hint(msgtype)}")
    return DingTalkMessage(msgtype, payload, mentions)


def _context_object(msgtype: str, value: Any) -> dict[str, Any]:
    """dingdingcontext as an object of fields.  For text and markdown a string is the text
    itself, unless it is a JSON object made only of this msgtype's keys."""
    if isinstance(value, Mapping):
        return dict(value)
    if msgtype == "feedCard" and isinstance(value, list):
        return {"links": value}
    if MESSAGE_TYPES[msgtype].mentions and isinstance(value, (str, int, float)) \
            and not isinstance(value, bool):
        text = as_text("dingdingcontext", value)
        parsed = _json_object(text)
        if parsed is not None and parsed and set(parsed) <= set(CONTEXT_KEYS[msgtype]):
            return parsed
        return {"content": text} if msgtype == "text" else {"text": text}
    looks_like_json = isinstance(value, str) and value.strip()[:1] in ("{", "[")
    parsed = as_json("dingdingcontext", value) if looks_like_json else value
    if msgtype == "feedCard" and isinstance(parsed, list):
        return {"links": parsed}
    if not isinstance(parsed, Mapping):
        raise ParameterError("dingdingcontext", f"a {msgtype} message is given as a JSON "
                             f"object: {shape_hint(msgtype)}")
    return dict(parsed)


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.strip().startswith("{"):
        return None
    try:
        parsed = as_json("dingdingcontext", text)
    except ParameterError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _payload(msgtype: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name, value in fields.items():
        if name in _ITEM_FIELDS:
            payload[name] = _items(name, value)
        elif name == "btnOrientation":
            payload[name] = _orientation(value)
        elif not is_blank(value):
            payload[name] = _field_text(name, value)
    if msgtype == "text" and "text" in payload:
        if "content" in payload:
            raise ParameterError("dingdingcontext", "give content or text, not both")
        payload["content"] = payload.pop("text")
    if msgtype == "markdown" and "title" not in payload and "text" in payload:
        payload["title"] = _markdown_title(payload["text"])
    return payload


def _field_text(name: str, value: Any) -> str:
    text = as_text(f"dingdingcontext.{name}", value)
    if name in _URL_FIELDS:
        text = check_line("dingdingcontext", text.strip(EDGE))
        scheme = urllib.parse.urlsplit(text).scheme.lower()
        if scheme not in _URL_SCHEMES:
            raise ParameterError("dingdingcontext", f"{name} must be an http(s):// or "
                                 f"dingtalk:// link, got {shown(text)}")
    return text


def _items(name: str, value: Any) -> list[dict[str, str]]:
    items = as_json("dingdingcontext", value) if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ParameterError("dingdingcontext", f"{name} must be a non-empty list of objects "
                             f"with {', '.join(_ITEM_FIELDS[name])}")
    parsed = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ParameterError("dingdingcontext", f"{name}[{i}] must be an object with "
                                 f"{', '.join(_ITEM_FIELDS[name])}")
        unknown = sorted(str(k) for k in item if k not in _ITEM_FIELDS[name])
        if unknown:
            raise ParameterError("dingdingcontext", f"{name}[{i}] has {shown(unknown[0])}; "
                                 f"expected {', '.join(_ITEM_FIELDS[name])} (note the casing)")
        parsed.append({k: _field_text(k, v) for k, v in item.items() if not is_blank(v)})
    return parsed


def _orientation(value: Any) -> str:
    text = as_text("dingdingcontext.btnOrientation", value).strip()
    if text not in ("0", "1"):
        raise ParameterError("dingdingcontext", "btnOrientation must be \"0\" (buttons stacked) "
                             f"or \"1\" (side by side), got {shown(text)}")
    return text


def _mentions(fields: Mapping[str, Any]) -> Mentions:
    mobiles = []
    for item in as_list("dingdingcontext.atMobiles", fields.get("atMobiles")):
        mobile = (parse_mobile(as_text("dingdingcontext", item))
                  if isinstance(item, (str, int)) and not isinstance(item, bool) else None)
        if mobile is None:
            raise ParameterError("dingdingcontext", f"atMobiles has {shown(item)}, which is not a "
                                 "mobile number")
        mobiles.append(mobile)
    user_ids = []
    for item in as_list("dingdingcontext.atUserIds", fields.get("atUserIds")):
        text = (as_text("dingdingcontext", item).strip(EDGE)
                if isinstance(item, (str, int)) and not isinstance(item, bool) else "")
        if not text:
            raise ParameterError("dingdingcontext", f"atUserIds has {shown(item)}; expected "
                                 "user ids")
        user_ids.append(check_line("dingdingcontext", text))
    at_all = as_flag("dingdingcontext.isAtAll", fields.get("isAtAll"))
    if at_all is None:
        raise ParameterError("dingdingcontext", "isAtAll must be true or false")
    return Mentions(tuple(dict.fromkeys(mobiles)), tuple(dict.fromkeys(user_ids)), at_all)


def _markdown_title(text: str) -> str:
    """DingTalk shows a markdown message's title in the chat list; without one given, the
    first line of the text, stripped of markdown markers."""
    for line in text.splitlines():
        title = _MARKDOWN_MARKERS.sub("", line).strip()
        if title:
            return title[:_MARKDOWN_TITLE_LENGTH]
    return "Notification"
