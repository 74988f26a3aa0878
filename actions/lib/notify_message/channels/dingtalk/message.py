"""A DingTalk message as it goes out, and the robots it goes to: typed, already checked.

``DingTalkMessage.body(robot_mentions)`` is the JSON body for one robot; ``DingTalkRequest``
is what the sender (``send``) takes.  Parameters become these objects in ``request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import Webhook
from .protocol import MESSAGE_TYPES, keywords_found, message_text

__all__ = ["Mentions", "DingTalkMessage", "RobotTarget", "DingTalkRequest", "keyword_problem"]


@dataclass(frozen=True)
class Mentions:
    mobiles: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    all: bool = False

    def merged(self, other: Mentions) -> Mentions:
        return Mentions(tuple(dict.fromkeys(self.mobiles + other.mobiles)),
                        tuple(dict.fromkeys(self.user_ids + other.user_ids)),
                        self.all or other.all)

    def __bool__(self) -> bool:
        return bool(self.mobiles or self.user_ids or self.all)


@dataclass(frozen=True)
class DingTalkMessage:
    msgtype: str
    payload: Mapping[str, Any] = field(compare=False)
    mentions: Mentions = Mentions()

    @classmethod
    def markdown(cls, title: str, text: str) -> DingTalkMessage:
        return cls("markdown", {"title": title, "text": text})

    def body(self, robot_mentions: Mentions = Mentions()) -> dict[str, Any]:
        """The JSON body for one robot: the message, plus the call's and the robot's
        @mentions where DingTalk shows them."""
        payload = dict(self.payload)
        body: dict[str, Any] = {"msgtype": self.msgtype, self.msgtype: payload}
        if not MESSAGE_TYPES[self.msgtype].mentions:
            return body
        mentions = self.mentions.merged(robot_mentions)
        if not mentions:
            return body
        if self.msgtype == "markdown":
            # markdown only notifies a person whose @mobile / @userId is also in the text
            text = payload["text"]
            missing = [f"@{m}" for m in mentions.mobiles + mentions.user_ids
                       if f"@{m}" not in text]
            if missing:
                payload["text"] = text.rstrip() + "\n\n" + " ".join(missing)
        body["at"] = {"atMobiles": list(mentions.mobiles), "atUserIds": list(mentions.user_ids),
                      "isAtAll": mentions.all}
        return body


@dataclass(frozen=True)
class RobotTarget:
    """One robot a call sends to: a configured robot, or a webhook given as a parameter."""

    label: str  # safe to show: the robot's name or its masked URL
    webhook: Webhook
    secret: str = field(default="", repr=False)
    keywords: tuple[str, ...] = ()
    mentions: Mentions = Mentions()
    configured: bool = False
    long_messages: str = ""   # split / truncate; blank: the config's dingtalk_long_messages


@dataclass(frozen=True)
class DingTalkRequest:
    message: DingTalkMessage
    robots: tuple[RobotTarget, ...]

    def secrets(self) -> list[str]:
        """Credentials that came with the parameters (webhook URLs and their tokens)."""
        return [s for r in self.robots for s in (r.webhook.url, r.webhook.access_token)]


def keyword_problem(robot: RobotTarget, body: Mapping[str, Any]) -> str | None:
    """Why DingTalk would refuse this body for the robot's keywords (310000), or None."""
    if not robot.keywords or keywords_found(robot.keywords, message_text(body)):
        return None
    return (f"robot {robot.label} only accepts messages that contain one of its keywords "
            f"({', '.join(robot.keywords)}) and this message has none; DingTalk would refuse "
            "it (errcode 310000). Put one of them in dingdingcontext")
