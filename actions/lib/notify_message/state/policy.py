"""Storm control around one call's deliveries: ``admit`` before them, ``settle`` after.

Each channel x target of a call is a ``Slot``.  Before anything is sent, ``admit`` gives
every slot a verdict, in this order: already delivered under the call's ``idempotencyKey``
(the ledger), silenced, outside quiet hours, a duplicate within the dedup window, a DingTalk
robot remembered as throttled (its fallback robots, else the digest), a digest already
waiting for the target (the alert joins it, keeping the budget for the digest), then the
target's rate budget (its fallback robots, the digest, or for SMS and voice a suppression:
Alibaba would refuse it; SMS and voice queue for quiet hours only).  What is left is sent.
``settle`` then turns a DingTalk 130101
into a throttle and a queued alert, gives back the dedup claims of what did not go out, and
writes the ledger.  If the store fails at any point, the call goes out without storm
control and its result says so: an alert is never dropped or held because the store is down.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from ..result import Channel, Delivery, Outcome
from ..storm_params import StormParams
from .settings import QuietRule, StormSettings, open_store
from .silences import Silence, matching_silence
from .store import Store, StoreUnavailable

__all__ = ["Slot", "Verdict", "StormControl", "queue_name", "parse_queue_name", "when"]

log = logging.getLogger(__name__)
THROTTLED_ERRCODE = "130101"


def when(moment: float) -> str:
    """A store time as results show it: UTC, to the second."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def queue_name(channel: str, *parts: str) -> str:
    """The digest queue of one target: ``dingtalk/<robot>``, ``email/<instance>/<address>``
    (each part percent-encoded, so that a name holding ``/`` stays one part)."""
    from urllib.parse import quote

    return "/".join([channel, *(quote(p, safe="@.-_+ ") for p in parts)])


def parse_queue_name(name: str) -> tuple[str, list[str]]:
    from urllib.parse import unquote

    channel, *parts = name.split("/")
    return channel, [unquote(p) for p in parts]


@dataclass(frozen=True)
class Slot:
    """One channel x target of a call, as storm control sees it."""

    channel: Channel
    label: str                  # the target as results name it
    identity: str               # who it is, for dedup, the ledger and silences
    title: str                  # one line, for digests
    text: str                   # what it says, for silences and content hashes
    budget: str | None = None   # the rate budget it spends, None: no budget
    queue: str | None = None    # its digest queue, None: it cannot be queued
    robot: str = ""             # a configured DingTalk robot's name
    event_id: str = ""


@dataclass
class Verdict:
    send: bool = True
    delivery: Delivery | None = None     # what the result says when not sent
    claim: str = ""                      # the dedup key this call claimed
    via: str = ""                        # DingTalk: the fallback robot sent to instead
    why_via: str = ""


@dataclass
class StormControl:
    """One call's storm control; ``store`` is None once the store failed (``note`` says)."""

    settings: StormSettings
    store: Store | None
    params: StormParams
    execution: str
    fallbacks: dict[str, Any] = field(default_factory=dict)   # robot name -> can it be used
    note: str = ""

    @classmethod
    def open(cls, settings: StormSettings, params: StormParams, execution: str
             ) -> StormControl:
        try:
            store: Store | None = open_store(settings.state)
            note = ""
        except Exception as exc:  # noqa: BLE001  (a store that cannot be used never stops a call)
            store, note = None, _off(_unavailable(exc))
        return cls(settings, store, params, execution, note=note)

    def _failed(self, exc: StoreUnavailable) -> None:
        log.warning("storm control off for this call: %s", exc)
        self.note = _off(exc)
        if self.store is not None:
            try:
                self.store.close()
            except Exception:  # noqa: BLE001  (closing a broken connection may fail too)
                pass
        self.store = None

    def summary(self) -> dict[str, Any]:
        """What the result's ``storm_control`` field says."""
        found: dict[str, Any] = {"active": self.store is not None, "execution": self.execution}
        if self.store is not None:
            found["store"] = self.store.where
        if self.note:
            found["note"] = self.note
        return found

    # --- before ---------------------------------------------------------------------------

    def admit(self, slots: Sequence[Slot], usable_robot: Any = None) -> list[Verdict]:
        """A verdict for every slot; all ``send`` when the store is or becomes unavailable.
        ``usable_robot(name)`` says whether a fallback robot name is configured."""
        if self.store is None:
            return [Verdict() for _ in slots]
        try:
            return self._admit(self.store, slots, usable_robot or (lambda name: False))
        except Exception as exc:  # noqa: BLE001  (down, locked, or holding what we cannot read)
            self._failed(_unavailable(exc))
            return [Verdict() for _ in slots]

    def _admit(self, store: Store, slots: Sequence[Slot], usable_robot: Any) -> list[Verdict]:
        now = store.now()
        ledger = store.ledger_get(self.params.idempotency_key) \
            if self.params.idempotency_key else {}
        silences = [Silence.from_json(sid, data) for sid, data in store.silences()]
        verdicts: list[Verdict] = []
        via_taken: set[str] = set()
        for slot in slots:
            verdict = Verdict()
            verdicts.append(verdict)
            if slot.identity in ledger:
                entry = json.loads(ledger[slot.identity])
                verdict.send = False
                verdict.delivery = Delivery.delivered(
                    slot.channel, slot.label, (
                        f"already delivered at {when(entry['at'])} by execution "
                        f"{entry['execution']} (idempotencyKey {self.params.idempotency_key}); "
                        "not sent again"), attempts=0, reference=entry["execution"])
                continue
            silence = matching_silence(silences, slot, self.params.dedup_key, now)
            if silence is not None:
                verdict.send = False
                verdict.delivery = Delivery.suppressed(slot.channel, slot.label, (
                    f"silenced by {silence.id} until {when(silence.until)}"
                    + (f" ({silence.comment})" if silence.comment else "")),
                    reference=silence.id)
                continue
            quiet = self._quiet(slot, now)
            if quiet is not None:
                rule, opens = quiet
                why = (f"quiet hours rule {rule.name}: {slot.channel.value} only "
                       f"{_clock(rule.start)}-{_clock(rule.end)} {rule.timezone}")
                if rule.action == "queue" and slot.queue is not None:
                    verdict.send = False
                    verdict.delivery = self._queue(store, slot, f"{why}; deferred to "
                                                   f"{when(opens)}", not_before=opens)
                else:
                    verdict.send = False
                    verdict.delivery = Delivery.suppressed(slot.channel, slot.label, why)
                continue
            dedup = self._dedup_key(slot)
            window = self.settings.dedup_window(slot.channel.value)
            if dedup and window > 0:
                claim = store.claim(dedup, self.execution, window)
                if not claim.won:
                    verdict.send = False
                    verdict.delivery = Delivery.suppressed(slot.channel, slot.label, (
                        f"duplicate of execution {claim.owner} at {when(claim.at)} (dedup "
                        f"window {window:g}s)"), reference=claim.owner)
                    continue
                verdict.claim = dedup
            held = self._budgeted(store, slot, verdict, now, usable_robot, via_taken)
            if held is not None:
                verdict.send = False
                verdict.delivery = held  # a queued alert keeps its dedup claim
        return verdicts

    def _dedup_key(self, slot: Slot) -> str:
        if self.params.dedup_key:
            return f"dedup:{slot.identity}:{self.params.dedup_key}"
        if self.settings.content_hash:
            digest = hashlib.sha256(slot.text.encode("utf-8", "replace")).hexdigest()[:32]
            return f"dedup:{slot.identity}:sha256:{digest}"
        return ""

    def _quiet(self, slot: Slot, now: float) -> tuple[QuietRule, float] | None:
        for rule in self.settings.quiet_hours:
            if slot.channel.value not in rule.channels or self.params.severity in rule.unless:
                continue
            opens = _outside(rule, now)
            if opens is not None:
                return rule, opens
        return None

    def _budgeted(self, store: Store, slot: Slot, verdict: Verdict, now: float,
                  usable_robot: Any, via_taken: set[str]) -> Delivery | None:
        """None when the slot may be sent now (possibly ``via`` a fallback robot), else
        what its result says."""
        if slot.budget is None:
            return None
        if slot.channel is Channel.DINGTALK:
            throttled = store.get_until(_throttle_key(slot.budget))
            if throttled:
                why = f"robot {slot.label} is throttled by DingTalk until {when(throttled)}"
                if self._fallback(store, slot, verdict, why, usable_robot, via_taken):
                    return None
                return self._queue(store, slot, why) if slot.queue is not None else None
        # SMS and voice queue only for quiet hours: past a number's budget Alibaba would
        # refuse the digest too, and an alert let through (a critical one) never waits
        queue = None if slot.channel in (Channel.SMS, Channel.VOICE) else slot.queue
        if queue is not None and store.pending(queue):
            return self._queue(store, slot, "a digest is already waiting for this target")
        windows = self.settings.windows(slot.channel.value)
        if not windows:
            return None
        wait = store.take(slot.budget, windows)
        if wait == 0.0:
            return None
        limits = ", ".join(f"{w.limit} per {w.seconds:g}s" for w in windows)
        why = f"the rate budget of {slot.label} ({limits}) is spent for {wait:.0f}s more"
        if slot.channel is Channel.DINGTALK and self._fallback(store, slot, verdict, why,
                                                               usable_robot, via_taken):
            return None
        if queue is not None:
            return self._queue(store, slot, why)
        return Delivery.suppressed(slot.channel, slot.label, why + (
            "; the provider would refuse it" if slot.channel in (Channel.SMS, Channel.VOICE)
            else ""))

    def _fallback(self, store: Store, slot: Slot, verdict: Verdict, why: str,
                  usable_robot: Any, via_taken: set[str]) -> bool:
        """Whether a fallback robot of the slot's robot, neither throttled nor out of
        budget, takes the message (``verdict.via`` names it)."""
        for name in self.settings.fallback.get(slot.robot, ()):
            if not usable_robot(name):
                continue
            if name in via_taken:  # another robot of this call already goes through it
                verdict.via, verdict.why_via = name, why
                return True
            key = "dingtalk:" + name
            if store.get_until(_throttle_key(key)):
                continue
            if store.take(key, self.settings.windows("dingtalk")) == 0.0:
                via_taken.add(name)
                verdict.via, verdict.why_via = name, why
                return True
        return False

    def _queue(self, store: Store, slot: Slot, why: str, *, not_before: float = 0.0
               ) -> Delivery:
        assert slot.queue is not None
        item = json.dumps({"title": slot.title, "text": slot.text[:4000],
                           "execution": self.execution, "severity": self.params.severity,
                           "event": slot.event_id}, ensure_ascii=False)
        item_id = store.push(slot.queue, item, not_before=not_before)
        return Delivery.queued(slot.channel, slot.label, slot.queue, f"{why} (item {item_id})")

    # --- after ----------------------------------------------------------------------------

    def settle(self, slots: Sequence[Slot], verdicts: Sequence[Verdict],
               sent: Sequence[Delivery]) -> list[Delivery]:
        """The deliveries of every slot, in order: the verdict's, or what sending it gave
        (one delivery, or one per part of a DingTalk message split in parts)."""
        groups: list[list[Delivery]] = []
        claimed: set[int] = set()
        for slot, verdict in zip(slots, verdicts):
            if not verdict.send:
                assert verdict.delivery is not None
                groups.append([verdict.delivery])
                continue
            name = verdict.via or slot.label
            mine = [d for d in sent if d.channel is slot.channel and
                    (d.target == name or d.target.startswith(name + " (part "))]
            claimed.update(id(d) for d in mine)
            if not mine:  # a sender that skipped a target: never silently
                mine = [Delivery.unknown(slot.channel, slot.label,
                                         "no outcome came back for this target")]
            if verdict.via:
                mine = [replace(d, target=slot.label + d.target[len(name):], detail=(
                    f"sent through fallback robot {verdict.via} ({verdict.why_via}): "
                    f"{d.detail}")) for d in mine]
            groups.append(mine)
        # what a sender returned beyond the slots (a bug elsewhere) stays shown
        stray = [d for d in sent if id(d) not in claimed]
        if self.store is not None:
            try:
                self._record(self.store, slots, verdicts, groups)
            except Exception as exc:  # noqa: BLE001
                self._failed(_unavailable(exc))
                self.note += "; the outcomes above were not recorded"
        return [d for group in groups for d in group] + stray

    def _record(self, store: Store, slots: Sequence[Slot], verdicts: Sequence[Verdict],
                groups: list[list[Delivery]]) -> None:
        now = store.now()
        for i, (slot, verdict) in enumerate(zip(slots, verdicts)):
            if not verdict.send:
                continue
            group = groups[i]
            if slot.channel is Channel.DINGTALK and slot.budget is not None and any(
                    d.code == THROTTLED_ERRCODE and not d.ok for d in group):
                robot_key = "dingtalk:" + verdict.via if verdict.via else slot.budget
                until = now + self.settings.dingtalk_throttle
                store.set_until(_throttle_key(robot_key), until)
                if slot.queue is not None:
                    group = groups[i] = [self._queue(store, slot, (
                        f"DingTalk answered errcode 130101 (sent too fast); robot "
                        f"{verdict.via or slot.label} is remembered as throttled until "
                        f"{when(until)}"))]
            if verdict.claim and all(d.outcome in (Outcome.FAILED, Outcome.NOT_SENT)
                                     for d in group):
                store.release(verdict.claim, self.execution)
            if all(d.ok for d in group) and self.params.idempotency_key:
                store.ledger_put(self.params.idempotency_key, slot.identity,
                                 json.dumps({"at": now, "execution": self.execution}),
                                 self.settings.ledger_days * 86400.0)

    def settle_channels(self, slots: Sequence[Slot], verdicts: Sequence[Verdict],
                        sent: Sequence[Delivery]) -> list[Delivery]:
        """Settle slots that stand for a whole channel (notifyByMessageCenter: one slot per
        channel of the account, a delivery per contact): the held slots' deliveries, then
        what was sent; a channel's claim is given back when nothing of it went out, and the
        ledger records a channel all of whose deliveries were delivered."""
        out = [v.delivery for v in verdicts if not v.send and v.delivery is not None]
        out += list(sent)
        if self.store is None:
            return out
        try:
            now = self.store.now()
            for slot, verdict in zip(slots, verdicts):
                if not verdict.send:
                    continue
                mine = [d for d in sent if d.channel is slot.channel]
                if verdict.claim and not any(d.ok or d.outcome is Outcome.UNKNOWN
                                             for d in mine):
                    self.store.release(verdict.claim, self.execution)
                if mine and all(d.ok for d in mine) and self.params.idempotency_key:
                    self.store.ledger_put(self.params.idempotency_key, slot.identity,
                                          json.dumps({"at": now, "execution": self.execution}),
                                          self.settings.ledger_days * 86400.0)
        except Exception as exc:  # noqa: BLE001
            self._failed(_unavailable(exc))
            self.note += "; the outcomes above were not recorded"
        return out


def _throttle_key(budget: str) -> str:
    return "throttled:" + budget


def _unavailable(exc: Exception) -> StoreUnavailable:
    """The store's own error, or one naming what else went wrong (never its text, which
    could quote a value from the store)."""
    if isinstance(exc, StoreUnavailable):
        return exc
    log.error("storm control failed unexpectedly: %s", type(exc).__name__)
    return StoreUnavailable(f"storm control failed unexpectedly ({type(exc).__name__}); "
                            "the action's log has the exception type")


def _off(exc: StoreUnavailable) -> str:
    return f"off for this call, delivered without it: {exc}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _outside(rule: QuietRule, now: float) -> float | None:
    """When the rule's window next opens, if ``now`` is outside it; None inside it."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    local = datetime.fromtimestamp(now, ZoneInfo(rule.timezone))
    minute = local.hour * 60 + local.minute
    if rule.start <= rule.end:
        inside = rule.start <= minute < rule.end
    else:  # a window across midnight, such as 22:00-06:00
        inside = minute >= rule.start or minute < rule.end
    if inside:
        return None
    opens = local.replace(hour=rule.start // 60, minute=rule.start % 60, second=0,
                          microsecond=0)
    if opens <= local:
        opens += timedelta(days=1)
    return opens.timestamp()
