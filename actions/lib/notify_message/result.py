"""What an action returns: one ``Delivery`` per channel x target, and their verdict."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

__all__ = ["Channel", "Outcome", "Delivery", "NotifyResult", "Reply", "Redactor", "http_status"]


class Channel(str, Enum):
    """The channels a delivery goes out on; the value is how results spell it."""

    EMAIL = "email"
    DINGTALK = "dingtalk"
    SMS = "sms"
    VOICE = "voice"
    PMSG = "pmsg"
    MESSAGE_CENTER = "message_center"

    def __str__(self) -> str:
        return self.value


class Outcome(str, Enum):
    """What became of one message to one target.

    ``DELIVERED``: the service took it.  ``FAILED``: the service answered and refused it.
    ``NOT_SENT``: it never reached the service (a check before sending, a connection that
    could not be made).  ``UNKNOWN``: it may have reached the service, but no answer says
    so (a timeout after sending, a dropped answer): sending again could duplicate it.
    Storm control (``storm_control``) adds two that are not failures: ``SUPPRESSED``, held
    back on purpose (a duplicate, a silence, quiet hours), and ``QUEUED``, kept for a
    digest that goes out when the target's budget allows.
    """

    DELIVERED = "delivered"
    FAILED = "failed"
    NOT_SENT = "not sent"
    UNKNOWN = "outcome unknown"
    SUPPRESSED = "suppressed"
    QUEUED = "queued"

    def __str__(self) -> str:
        return self.value


MAX_DETAIL = 1000   # characters of a delivery's detail: a server's answer is cut to fit
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str, limit: int) -> str:
    """Text from a server, fit for a result: control characters (a forged line) and lone
    surrogates (no JSON encoder takes them) become spaces and U+FFFD, and the text is cut
    at ``limit`` characters."""
    clean = _UNPRINTABLE.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else " ", text)
    return clean if len(clean) <= limit else clean[:limit - 3] + "..."


def http_status(status: int) -> str:
    """How a delivery's ``code`` spells an HTTP status without a provider code."""
    return f"HTTP {status}"


@dataclass(frozen=True)
class Delivery:
    """The outcome of one message to one target on one channel.

    ``target`` is safe to show (an address, a robot's name, a masked URL); ``code`` is what
    the provider answered (an SMTP reply code, a DingTalk errcode, an SMS Code, or
    ``HTTP 503``), or None when the request never got an answer.  ``reference`` is the
    provider's id of the message, for looking it up later (SMS BizId, voice CallId, an
    internal message's id), or None.  ``uncertain_attempts`` counts the attempts that may
    have reached the service without an answer saying so (a retried timeout): above 0 with
    a delivered outcome, the message may have arrived more than once.  ``transaction``
    names the SMTP transaction of the call that carried an email (``"1"``, ``"2"``...: one
    message to many receivers shares one), None elsewhere.  Build one with the factories.
    """

    channel: Channel
    target: str
    outcome: Outcome
    code: str | None = None
    attempts: int = 0
    detail: str = ""
    reference: str | None = None
    uncertain_attempts: int = 0
    transaction: str | None = None

    def __post_init__(self) -> None:
        # what servers answer lands here: one line of valid, printable text, bounded
        object.__setattr__(self, "detail", printable(self.detail, MAX_DETAIL))
        for name, limit in (("code", 64), ("reference", 128), ("target", 512),
                            ("transaction", 64)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, printable(value, limit))

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    @property
    def held(self) -> bool:
        """Suppressed or queued by storm control: not sent now, on purpose."""
        return self.outcome in (Outcome.SUPPRESSED, Outcome.QUEUED)

    @classmethod
    def delivered(cls, channel: Channel, target: str, detail: str, *, code: str | None = None,
                  attempts: int = 1, reference: str | None = None,
                  uncertain_attempts: int = 0) -> Delivery:
        return cls(channel, target, Outcome.DELIVERED, code, attempts, detail, reference,
                   uncertain_attempts)

    @classmethod
    def failed(cls, channel: Channel, target: str, detail: str, *, code: str | None = None,
               attempts: int = 1) -> Delivery:
        """The service answered and refused (or the call broke in a way that says so)."""
        return cls(channel, target, Outcome.FAILED, code, attempts, detail)

    @classmethod
    def not_sent(cls, channel: Channel, target: str, why: str, *, code: str | None = None,
                 attempts: int = 0) -> Delivery:
        """Never reached the service; the detail says ``not sent: <why>``."""
        return cls(channel, target, Outcome.NOT_SENT, code, attempts, f"not sent: {why}")

    @classmethod
    def unknown(cls, channel: Channel, target: str, detail: str, *, code: str | None = None,
                attempts: int = 1, uncertain_attempts: int = 1) -> Delivery:
        """Sent without an answer: it may have been delivered."""
        return cls(channel, target, Outcome.UNKNOWN, code, attempts, detail, None,
                   uncertain_attempts)

    @classmethod
    def suppressed(cls, channel: Channel, target: str, why: str, *,
                   reference: str | None = None) -> Delivery:
        """Held back on purpose; the detail says ``suppressed: <why>`` and ``reference``
        names what held it (the execution it duplicates, a silence's id)."""
        return cls(channel, target, Outcome.SUPPRESSED, None, 0, f"suppressed: {why}", reference)

    @classmethod
    def queued(cls, channel: Channel, target: str, digest_id: str, why: str) -> Delivery:
        """Kept for the digest ``digest_id`` (also the ``reference``)."""
        return cls(channel, target, Outcome.QUEUED, None, 0,
                   f"queued for digest {digest_id}: {why}", digest_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "target": self.target,
            "ok": self.ok,
            "outcome": self.outcome.value,
            "code": self.code,
            "attempts": self.attempts,
            "detail": self.detail,
            "reference": self.reference,
            "uncertain_attempts": self.uncertain_attempts,
            "transaction": self.transaction,
        }


@dataclass(frozen=True)
class NotifyResult:
    """The result of one action call: ``status`` is true only when every delivery succeeded
    (or was held back on purpose by storm control: suppressed or queued)."""

    deliveries: tuple[Delivery, ...] = ()
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, error: str) -> NotifyResult:
        """A call refused before anything was sent."""
        return cls(error=error)

    @property
    def status(self) -> bool:
        return not self.error and bool(self.deliveries) and all(
            d.ok or d.held for d in self.deliveries)

    @property
    def message(self) -> str:
        if self.error:
            return f"Nothing was sent: {self.error}"
        failed = [d for d in self.deliveries if not d.ok and not d.held]
        total = len(self.deliveries)
        if not failed:
            what = "The delivery" if total == 1 else f"All {total} deliveries"
            verb = ("succeeded or were held by storm control"
                    if any(d.held for d in self.deliveries) else "succeeded")
            return f"{what} {verb} ({_by_channel(self.deliveries)})."
        lines = [f"{len(failed)} of {total} deliveries failed ({_by_channel(self.deliveries)}):"]
        grouped: dict[tuple[str, str], list[str]] = {}
        for d in failed:  # one line per distinct reason, not per recipient
            grouped.setdefault((d.channel.value, d.detail), []).append(d.target)
        lines += [f"- {channel} to {', '.join(targets)}: {detail}"
                  for (channel, detail), targets in grouped.items()]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "status": self.status,
            "deliveries": [d.to_dict() for d in self.deliveries],
            **self.extra,
        }


def _by_channel(deliveries: Sequence[Delivery]) -> str:
    counts: dict[str, list[int]] = {}
    for d in deliveries:
        ok_total = counts.setdefault(d.channel.value, [0, 0])
        ok_total[0] += d.ok
        ok_total[1] += 1
    shown = ", ".join(f"{name} {ok}/{total}" for name, (ok, total) in counts.items())
    held = [f"{count} {o.value}" for o in (Outcome.SUPPRESSED, Outcome.QUEUED)
            if (count := sum(d.outcome is o for d in deliveries))]
    return shown + (f"; {', '.join(held)}" if held else "")


_SPLIT = re.compile(r"\s+(?:[0-9]{3}[ -])?")


class Redactor:
    """Replaces every known secret value in a text with ``***``.

    Provider answers and library exceptions are shown to users; this is the last line of
    defence that keeps a password or token that a server echoed out of them.
    """

    MASK = "***"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # each secret also as it looks percent-encoded or decoded (a token in a URL), in any
        # letter case (an upper-cased token gives the token away as well)
        forms = {form for s in secrets if s and len(s) >= 4
                 for form in (s, quote(s, safe=""), quote_plus(s), unquote(s), unquote_plus(s))}
        # longest first, so that a secret containing another is masked whole
        ordered = sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)
        self._pattern = (re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE)
                         if ordered else None)

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        masked = self._pattern.sub(self.MASK, text)
        # a secret a server split over lines or spaces ("535-...Xq7h\n535 TbLr") shows
        # anyway: such a text is withheld whole
        if self._pattern.search(_SPLIT.sub("", masked)):
            return "(withheld: it held a secret)"
        return masked


@dataclass(frozen=True)
class Reply:
    """The result of an action that notifies nobody (importPlaybook, listInternalMessages):
    ``status``, a one-paragraph ``message``, and the action's own fields."""

    status: bool
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status, **self.data}
