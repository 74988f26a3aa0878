"""Internal messages (the ``pmsg`` channel): kept per aliuid where the recipient can list them.

The library only needs somewhere to put a message; StackStorm's adapter keeps them in the
datastore and announces each one as a trigger, the command line keeps them in memory.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from ..bounded import shown
from ..errors import ParameterError
from ..parameters import LIST_MESSAGES_PARAMETERS
from ..params import as_text, reject_unknown
from ..result import Reply

__all__ = ["InternalMessage", "Inbox", "MemoryInbox", "inbox_key_prefix",
           "list_internal_messages"]


def inbox_key_prefix(aliuid: str) -> str:
    """Datastore keys of an account's messages. Not pack-local on purpose: st2 scopes "local"
    keys to one action class, and the action that lists them is another class."""
    return f"notify_message.pmsg.{aliuid}."


@dataclass(frozen=True)
class InternalMessage:
    id: str
    aliuid: str
    event_id: str
    lang: str
    subject: str
    body: str
    created_at: str  # ISO 8601, UTC

    @classmethod
    def new(cls, aliuid: str, event_id: str, lang: str, subject: str, body: str
            ) -> InternalMessage:
        now = datetime.now(timezone.utc)
        # time first, so that the datastore's key order is arrival order
        message_id = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]
        return cls(message_id, aliuid, event_id, lang, subject, body,
                   now.isoformat(timespec="seconds"))

    @property
    def key(self) -> str:
        return inbox_key_prefix(self.aliuid) + self.id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> InternalMessage:
        return cls(**json.loads(text))


class Inbox(Protocol):
    def store(self, message: InternalMessage) -> str:
        """Keep the message; return what the delivery entry should say about where it went."""

    def list(self, aliuid: str, limit: int) -> list[InternalMessage]:
        """The newest ``limit`` messages of an account, newest first."""


class MemoryInbox:
    def __init__(self) -> None:
        self.messages: list[InternalMessage] = []

    def store(self, message: InternalMessage) -> str:
        self.messages.append(message)
        return "kept in memory (this process only)"

    def list(self, aliuid: str, limit: int) -> list[InternalMessage]:
        mine = [m for m in self.messages if m.aliuid == aliuid]
        return sorted(mine, key=lambda m: m.id, reverse=True)[:limit]


MAX_LIST_LIMIT = 1000


def list_internal_messages(params: Mapping[str, Any], inbox: Inbox) -> Reply:
    """listInternalMessages: an account's newest internal messages, newest first."""
    try:
        reject_unknown(params, LIST_MESSAGES_PARAMETERS, "listInternalMessages")
        aliuid = as_text("aliuid", params.get("aliuid")).strip()
        if not aliuid:
            raise ParameterError("aliuid", "is required: the account whose messages to list")
        limit = params.get("limit", 20)
        if isinstance(limit, bool) or not isinstance(limit, int) \
                or not 1 <= limit <= MAX_LIST_LIMIT:
            raise ParameterError("limit", f"expected a whole number from 1 to {MAX_LIST_LIMIT}, "
                                 f"got {shown(limit)}")
    except ParameterError as exc:
        return Reply(False, f"Nothing was listed: {exc}",
                     {"aliuid": "", "count": 0, "messages": []})
    messages = inbox.list(aliuid, limit)
    return Reply(True, f"{len(messages)} internal message(s) of aliuid {aliuid}",
                 {"aliuid": aliuid, "count": len(messages),
                  "messages": [m.to_dict() for m in messages]})
