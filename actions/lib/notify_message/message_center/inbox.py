"""Internal messages (the ``pmsg`` channel): kept per aliuid where the recipient can list them.

The library only needs somewhere to put a message; StackStorm's adapter keeps them in the
datastore and announces each one as a trigger, the command line keeps them in memory.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

__all__ = ["InternalMessage", "Inbox", "MemoryInbox", "inbox_key_prefix"]


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
