"""Silences: matchers that suppress deliveries until a moment, kept in the state store.

A silence matches a delivery when every matcher it has matches: ``channel`` (email,
dingtalk, sms, voice, pmsg), ``target`` (the target as results name it, case-insensitive),
``key`` (the call's eventId or dedupKey), ``text`` (a piece of the message, case-insensitive).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError
from .settings import CHANNELS
from .store import Store

if TYPE_CHECKING:
    from .policy import Slot

__all__ = ["Silence", "matching_silence", "new_silence", "MAX_SILENCE_SECONDS"]

MAX_SILENCE_SECONDS = 90 * 86400.0
MATCHERS = ("channel", "target", "key", "text")


@dataclass(frozen=True)
class Silence:
    id: str
    until: float
    created: float
    channel: str = ""
    target: str = ""
    key: str = ""
    text: str = ""
    comment: str = ""
    created_by: str = ""

    def matches(self, slot: Slot, dedup_key: str) -> bool:
        if self.channel and self.channel != slot.channel.value:
            return False
        if self.target and self.target.lower() != slot.label.lower():
            return False
        if self.key and self.key not in (dedup_key, slot.event_id):
            return False
        return not self.text or self.text.lower() in slot.text.lower()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        from .policy import when

        shown = {k: v for k, v in asdict(self).items() if v not in ("", None)}
        shown.update(until=when(self.until), created=when(self.created))
        return shown

    @classmethod
    def from_json(cls, silence_id: str, data: str) -> Silence:
        found = json.loads(data)
        return cls(**{**found, "id": silence_id})


def matching_silence(silences: list[Silence], slot: Slot, dedup_key: str, now: float
                     ) -> Silence | None:
    for silence in silences:
        if silence.until > now and silence.matches(slot, dedup_key):
            return silence
    return None


def new_silence(store: Store, matchers: dict[str, str], *, duration: float,
                until: float, comment: str, created_by: str) -> Silence:
    """Check the matchers and the end, and keep the silence in the store."""
    matchers = {k: v.strip() for k, v in matchers.items() if v and v.strip()}
    if not matchers:
        raise ParameterError("matchers", "give at least one of channel, target, key, text: "
                             "a silence of everything would hide every alert")
    channel = matchers.get("channel", "").lower()
    if channel and channel not in CHANNELS:
        raise ParameterError("channel", f"expected one of {', '.join(CHANNELS)}")
    now = store.now()
    if duration and until:
        raise ParameterError("until", "give until or duration, not both")
    end = until if until else now + duration
    if end <= now:
        raise ParameterError("until" if until else "duration", "must end in the future")
    if end - now > MAX_SILENCE_SECONDS:
        raise ParameterError("until" if until else "duration",
                             f"a silence lasts at most {MAX_SILENCE_SECONDS / 86400:g} days")
    silence = Silence(id="sil-" + uuid.uuid4().hex[:10], until=end, created=now,
                      channel=channel, target=matchers.get("target", ""),
                      key=matchers.get("key", ""), text=matchers.get("text", ""),
                      comment=comment.strip()[:500], created_by=created_by)
    store.silence_put(silence.id, silence.to_json(), end)
    return silence
