"""DingTalk messages over the body limit (``protocol.MAX_BODY_BYTES``), made to fit.

A text or markdown message whose JSON body is too large is either split into several
messages at line boundaries, numbered ``(1/3)``, ``(2/3)``... (``split``, the default), or
cut to one message ending with a marker that says so (``truncate``), as the robot's
``long_messages`` (or the config's ``dingtalk_long_messages``) says.  Every part is a whole
message: it carries the call's and the robot's @mentions (markdown writes them in its text,
as DingTalk requires), and one of the robot's keywords (added to the part's heading when its
share of the text has none).  Other msgtypes cannot be cut and are refused, with the size.

The sizes are measured on the body exactly as it is sent (``protocol.encode_body``): JSON
escapes a line break as two bytes and a control character as six, and UTF-8 spends three
bytes on most Chinese characters, so a part is cut by the bytes its text costs in the body.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .message import DingTalkMessage, RobotTarget
from .protocol import MAX_BODY_BYTES, RATE_LIMIT_MESSAGES, encode_body, keywords_found, message_text

__all__ = ["LONG_MESSAGE_MODES", "DEFAULT_LONG_MESSAGES", "MAX_PARTS", "TooLong",
           "message_bodies", "TEXT_FIELDS", "part_labels", "long_message_mode"]

LONG_MESSAGE_MODES = ("split", "truncate")
DEFAULT_LONG_MESSAGES = "split"
# a robot takes RATE_LIMIT_MESSAGES a minute: more parts than that could not all go out
MAX_PARTS = RATE_LIMIT_MESSAGES
# the payload field that holds each splittable msgtype's text
TEXT_FIELDS = {"text": "content", "markdown": "text"}
TRUNCATED = "[truncated: the whole message was {size} bytes; DingTalk takes at most {limit}]"


class TooLong(ValueError):
    """The message cannot be made to fit: ``str()`` says why, with its size."""


def _cost(text: str) -> int:
    """The bytes ``text`` adds to a JSON body as encode_body writes it."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def message_bodies(message: DingTalkMessage, robot: RobotTarget, mode: str,
                   limit: int = MAX_BODY_BYTES) -> list[dict[str, Any]]:
    """The JSON bodies that carry ``message`` to ``robot``: one when it fits, else the
    parts (``split``) or the cut message (``truncate``); TooLong when it cannot fit."""
    body = message.body(robot.mentions)
    size = len(encode_body(body))
    if size <= limit:
        return [body]
    field = TEXT_FIELDS.get(message.msgtype)
    if field is None:
        raise TooLong(f"makes a {message.msgtype} message of {size} bytes; DingTalk accepts at "
                      f"most {limit} bytes (UTF-8) and refuses longer ones (errcode 460101), "
                      f"and only text and markdown messages can be split or truncated: "
                      "shorten it or link to the details")
    text = str(message.payload[field])
    if mode == "truncate":
        return [_truncated(message, robot, field, text, size, limit)]
    return _split(message, robot, field, text, size, limit)


def _with_text(message: DingTalkMessage, field: str, text: str, title_suffix: str = ""
               ) -> DingTalkMessage:
    payload = dict(message.payload)
    payload[field] = text
    if message.msgtype == "markdown" and title_suffix:
        payload["title"] = f"{payload.get('title', '')}{title_suffix}"
    return replace(message, payload=payload)


def _keyword_line(robot: RobotTarget, body: dict[str, Any]) -> str:
    """The keyword a part's heading adds when its own text has none of the robot's."""
    if not robot.keywords or keywords_found(robot.keywords, message_text(body)):
        return ""
    return robot.keywords[0]


def _pieces(text: str, room: int) -> list[tuple[str, int]]:
    """The text's lines (ends kept) with what each costs, a line costing more than ``room``
    cut into pieces that fit, at character boundaries (a character's cost is its own:
    JSON escapes character by character)."""
    pieces: list[tuple[str, int]] = []
    for line in text.splitlines(keepends=True):
        cost = _cost(line)
        if cost <= room:
            pieces.append((line, cost))
            continue
        start, spent = 0, 0
        for index, char in enumerate(line):
            each = _cost(char)
            if spent and spent + each > room:
                pieces.append((line[start:index], spent))
                start, spent = index, 0
            spent += each
        if start < len(line):
            pieces.append((line[start:], spent))
    return pieces


def _overhead(message: DingTalkMessage, robot: RobotTarget, field: str, title_suffix: str,
              heading: str) -> int:
    """The bytes of a part without its share of the text: the rest of the body, the
    @mentions written into markdown, the heading and room for a keyword."""
    empty = _with_text(message, field, "", title_suffix).body(robot.mentions)
    keyword = max((_cost(k) + 1 for k in robot.keywords), default=0)
    return len(encode_body(empty)) + _cost(heading) + keyword


def _split(message: DingTalkMessage, robot: RobotTarget, field: str, text: str, size: int,
           limit: int) -> list[dict[str, Any]]:
    gap = "\n\n" if message.msgtype == "markdown" else "\n"
    widest = f"({MAX_PARTS}/{MAX_PARTS})"
    room = limit - _overhead(message, robot, field, f" {widest}", widest + gap)
    if room < 64:
        raise TooLong(f"leaves no room for text in a message of at most {limit} bytes")
    if _cost(text) > room * MAX_PARTS * 2:  # far too long: no need to cut it to count
        raise TooLong(f"makes a message of {size} bytes, far more than {MAX_PARTS} messages "
                      f"of {limit} bytes (DingTalk's limit per minute for a robot): shorten "
                      "it, link to the details, or set long_messages: truncate")
    shares: list[str] = []
    current: list[str] = []
    spent = 0
    for piece, cost in _pieces(text, room):
        if current and spent + cost > room:
            shares.append("".join(current))
            current, spent = [], 0
        current.append(piece)
        spent += cost
    if "".join(current).strip():
        shares.append("".join(current))
    if len(shares) > MAX_PARTS:
        raise TooLong(f"makes a message of {size} bytes, which would be split into "
                      f"{len(shares)} messages; at most {MAX_PARTS} go to a robot (DingTalk's "
                      "limit per minute): shorten it, link to the details, or set "
                      "long_messages: truncate")
    bodies = []
    for number, share in enumerate(shares, 1):
        mark = f"({number}/{len(shares)})"
        part = _with_text(message, field, f"{mark}{gap}{share.rstrip()}", f" {mark}")
        body = part.body(robot.mentions)
        keyword = _keyword_line(robot, body)
        if keyword:
            body = _with_text(message, field, f"{mark} {keyword}{gap}{share.rstrip()}",
                              f" {mark}").body(robot.mentions)
        bodies.append(_checked(body, limit))
    return bodies


def _truncated(message: DingTalkMessage, robot: RobotTarget, field: str, text: str, size: int,
               limit: int) -> dict[str, Any]:
    gap = "\n\n" if message.msgtype == "markdown" else "\n"
    marker = gap + TRUNCATED.format(size=size, limit=limit)
    room = limit - _overhead(message, robot, field, "", marker)
    if room < 64:
        raise TooLong(f"leaves no room for text in a message of at most {limit} bytes")
    kept: list[str] = []
    spent = 0
    for piece, cost in _pieces(text[:limit], room):  # what fits is within the first limit
        if spent + cost > room:
            break
        kept.append(piece)
        spent += cost
    kept_text = "".join(kept)
    body = _with_text(message, field, kept_text.rstrip() + marker).body(robot.mentions)
    keyword = _keyword_line(robot, body)
    if keyword:
        body = _with_text(message, field, f"{keyword}{gap}{kept_text.rstrip()}{marker}").body(
            robot.mentions)
    return _checked(body, limit)


def _checked(body: dict[str, Any], limit: int) -> dict[str, Any]:
    size = len(encode_body(body))
    if size > limit:  # the estimate is an upper bound: this is a bug of ours
        raise TooLong(f"a part came to {size} bytes, over DingTalk's {limit}")
    return body


def long_message_mode(robot: RobotTarget, default: str) -> str:
    """The robot's own choice, else the config's."""
    return robot.long_messages or default


def part_labels(label: str, count: int) -> Sequence[str]:
    """How results name each part of a message to a robot."""
    if count == 1:
        return [label]
    return [f"{label} (part {n}/{count})" for n in range(1, count + 1)]
