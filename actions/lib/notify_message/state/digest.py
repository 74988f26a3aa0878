"""Digests: the alerts queued for one target, sent as one summary when its budget allows.

``flush_digests(config)`` goes through every queue of the store: a target whose last digest
went out less than ``group_interval`` ago, whose robot is throttled, or whose budget is
spent waits for a later flush; otherwise up to ``max_items`` alerts are leased, summarised
(how many, first and last time, each title once with its repeat count, cut to the channel's
size limit with "and N more") and sent.  Only a delivered digest acknowledges its alerts;
any other outcome gives them back, and a flusher that dies mid-send leaves them leased until
the lease ends, when the next flusher takes them: nothing queued is lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..result import Channel, Delivery
from ..runtime import run_deliveries
from .policy import THROTTLED_ERRCODE, parse_queue_name, when
from .settings import StormSettings, open_store
from .store import Leased, QueuedItem, Store

if TYPE_CHECKING:
    from ..config.pack import PackConfig

__all__ = ["flush_digests", "DigestReport", "summarise"]

log = logging.getLogger(__name__)
DINGTALK_TEXT_BYTES = 18000   # DingTalk takes 20000 bytes of body: room for the JSON around it
EMAIL_TEXT_CHARS = 100000


@dataclass(frozen=True)
class DigestReport:
    """What one flush did with one queue."""

    queue: str
    alerts: int = 0
    delivery: Delivery | None = None
    waiting: str = ""     # why nothing was sent this time
    next_at: float = 0.0  # when this queue's next digest may go (0.0: not known)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"digest": self.queue, "alerts": self.alerts}
        if self.next_at:
            found["next_at"] = self.next_at
        if self.delivery is not None:
            found["delivery"] = self.delivery.to_dict()
        if self.waiting:
            found["waiting"] = self.waiting
        return found


@dataclass(frozen=True)
class Summary:
    title: str
    text: str
    alerts: int
    shown: int


def summarise(items: Sequence[QueuedItem], target: str, *, limit: int, markdown: bool,
              size: Any = len) -> Summary:
    """One summary of ``items``: each title once with its count, in first-seen order, cut
    so that ``size(text)`` stays within ``limit`` with "and N more"."""
    counts: dict[str, int] = {}
    for item in items:
        title = str(json.loads(item.data).get("title") or "(no title)")
        counts[title] = counts.get(title, 0) + 1
    first, last = min(i.pushed_at for i in items), max(i.pushed_at for i in items)
    n = len(items)
    head = (f"{n} alert{'s' if n != 1 else ''} for {target}, {when(first)} to {when(last)}")
    lines = [f"### {head}", ""] if markdown else [head, ""]
    bullet = "- " if markdown else "* "
    titles = list(counts.items())
    shown = 0
    for index, (title, count) in enumerate(titles):
        line = bullet + (f"{count}x " if count > 1 else "") + title
        rest = len(titles) - index - 1
        tail = f"and {rest} more" if rest else ""
        if size("\n".join(lines + [line, tail])) > limit:
            lines.append(f"and {len(titles) - index} more")
            break
        lines.append(line)
        shown += 1
    return Summary(title=head[:120], text="\n".join(lines), alerts=n, shown=shown)


def flush_digests(config: PackConfig, *, store: Store | None = None) -> list[DigestReport]:
    """Send every digest that is due; one report per queue looked at."""
    settings = config.storm_control
    if settings is None:
        return []
    own = store is None
    store = store or open_store(settings.state)
    try:
        return [_flush_one(config, settings, store, queue) for queue in store.queues()]
    finally:
        if own:
            store.close()


def _flush_one(config: PackConfig, settings: StormSettings, store: Store, queue: str
               ) -> DigestReport:
    next_turn = store.get_until("digest-next:" + queue)
    if next_turn:
        return DigestReport(queue, waiting=f"the next digest may go at {when(next_turn)}",
                            next_at=next_turn)
    channel, parts = parse_queue_name(queue)
    budget = _budget(config, channel, parts)
    if channel == "dingtalk":
        throttled = store.get_until("throttled:" + budget)
        if throttled:
            return DigestReport(queue, waiting=f"the robot is throttled until {when(throttled)}",
                                next_at=throttled)
    leased = store.lease(queue, settings.lease_seconds, settings.max_digest_items)
    if not leased.items:
        return DigestReport(queue, waiting="no alert is due yet")
    # the group interval runs from this digest's start, so that the next one is not later
    # by the time this one takes to send
    started = leased.until - settings.lease_seconds
    windows = settings.windows(channel, digest=True)
    wait = store.take(budget, windows) if windows else 0.0
    if wait > 0:
        store.unlease(leased)
        return DigestReport(queue, len(leased.items), waiting="the target's budget is spent",
                            next_at=started + wait)
    try:
        delivery = _send(config, channel, parts, leased)
    except Exception as exc:  # noqa: BLE001  (the alerts stay queued; the flusher goes on)
        store.unlease(leased)
        log.error("digest %s could not be sent: %s", queue, type(exc).__name__)
        return DigestReport(queue, len(leased.items), waiting=f"not sent ({type(exc).__name__})")
    next_at = 0.0
    if delivery.ok:
        store.ack(leased)
        next_at = started + settings.group_interval
        store.set_until("digest-next:" + queue, next_at)
    else:
        if delivery.code == THROTTLED_ERRCODE:
            next_at = store.now() + settings.dingtalk_throttle
            store.set_until("throttled:" + budget, next_at)
        store.unlease(leased)
    return DigestReport(queue, len(leased.items), delivery, next_at=next_at)


def _budget(config: PackConfig, channel: str, parts: list[str]) -> str:
    """The rate budget a digest spends: the same key as the calls' (policy's slots)."""
    if channel == "dingtalk":
        return "dingtalk:" + parts[0]
    if channel in ("sms", "voice"):
        from ..channels.phone.numbers import parse_phone

        wire = parse_phone("telephone", parts[1]).wire
        if channel == "voice":
            return "voice:" + wire
        profile = _profile(config, parts[0])
        if profile is not None:
            return f"sms:{profile.sign_name}:{profile.template_code}:{wire}"
        return f"sms:{parts[0]}:{wire}"
    return f"email:{parts[0]}"


def _profile(config: PackConfig, name: str) -> Any:
    return next((p for p in config.sms_profiles if p.name == name), None)


def summarise_line(items: Sequence[QueuedItem], *, limit: int, size: Any = len) -> str:
    """One line for SMS and voice: how many, first and last time, each text once with its
    count, cut with "and N more" so that ``size(line)`` stays within ``limit``."""
    counts: dict[str, int] = {}
    for item in items:
        data = json.loads(item.data)
        text = " ".join(str(data.get("text") or data.get("title") or "(no text)").split())
        counts[text] = counts.get(text, 0) + 1
    first, last = min(i.pushed_at for i in items), max(i.pushed_at for i in items)
    n = len(items)
    line = f"{n} alert{'s' if n != 1 else ''}, {when(first)} to {when(last)}:"
    texts = list(counts.items())
    for index, (text, count) in enumerate(texts):
        part = f" {count}x {text};" if count > 1 else f" {text};"
        rest = len(texts) - index - 1
        if size(line + part + (f" and {rest} more" if rest else "")) > limit:
            line += f" and {len(texts) - index} more"
            break
        line += part
    while size(line) > limit and line:   # a head longer than the limit is cut too
        line = line[:-1]
    return line


def _send(config: PackConfig, channel: str, parts: list[str], leased: Leased) -> Delivery:
    if channel in ("sms", "voice"):
        return _send_phone(config, channel, parts[0], parts[1], leased)
    if channel == "dingtalk":
        return _send_dingtalk(config, parts[0], leased)
    if channel == "email":
        return _send_email(config, parts[0], parts[1], leased)
    raise ValueError(f"no digest is sent on {channel}")


def _one(deliveries: list[Delivery], channel: Channel, target: str
         ) -> Delivery:
    return deliveries[0] if deliveries else Delivery.unknown(channel, target, "no outcome")


def _send_dingtalk(config: PackConfig, name: str, leased: Leased) -> Delivery:
    from ..channels.dingtalk.message import DingTalkMessage, DingTalkRequest
    from ..channels.dingtalk.protocol import keywords_found
    from ..channels.dingtalk.request import configured_target
    from ..channels.dingtalk.send import send_dingtalk

    robot = config.dingtalk.robot(name)
    if robot is None:
        return Delivery.not_sent(Channel.DINGTALK, name, "the robot is no longer configured "
                                 "under dingtalk_robots; its digest stays queued")
    summary = summarise(leased.items, name, limit=DINGTALK_TEXT_BYTES, markdown=True,
                        size=lambda text: len(text.encode("utf-8")))
    text = summary.text
    if robot.keywords and not keywords_found(robot.keywords, text):
        text += f"\n\n{robot.keywords[0]}"   # the robot accepts only messages with one
    request = DingTalkRequest(DingTalkMessage.markdown(summary.title, text),
                              (configured_target(robot),))
    settings = replace(config.dingtalk, retry_throttled=False)
    deliveries = run_deliveries(lambda ctx: send_dingtalk(request, settings, ctx),
                                secrets=config.secrets(), max_concurrency=1)
    return _one(deliveries, Channel.DINGTALK, name)


def _send_email(config: PackConfig, asset: str, address: str, leased: Leased) -> Delivery:
    from ..channels.email.message import EmailRequest
    from ..channels.email.send import send_email

    instance = config.smtp_instance(asset)
    if instance is None:
        return Delivery.not_sent(Channel.EMAIL, address, f"SMTP instance {asset} is no longer "
                                 "configured; its digest stays queued")
    summary = summarise(leased.items, address, limit=EMAIL_TEXT_CHARS, markdown=False)
    request = EmailRequest(instance, (address,), f"[digest] {summary.title}", summary.text,
                           html=False)
    deliveries = run_deliveries(lambda ctx: send_email(request, ctx),
                                secrets=config.secrets(), max_concurrency=1)
    return _one(deliveries, Channel.EMAIL, address)


def _send_phone(config: PackConfig, channel: str, name: str, display: str, leased: Leased
                ) -> Delivery:
    """One SMS through the call's profile (the summary in its template variable), or one
    call whose TtsParam stays under Alibaba's limit."""
    from ..channels.phone.message import SmsRequest, VoiceRequest
    from ..channels.phone.numbers import parse_phone
    from ..channels.phone.request import MAX_TEXT, TTS_PARAM_LIMIT

    kind = Channel.SMS if channel == "sms" else Channel.VOICE
    profile = _profile(config, name)
    missing = profile is None or (kind is Channel.VOICE and profile.voice is None)
    if missing or config.aliyun is None:
        return Delivery.not_sent(kind, display, f"SMS profile {name} (or its voice template) "
                                 "is no longer configured; its digest stays queued")
    number = parse_phone("telephone", display)
    if kind is Channel.SMS:
        from ..channels.phone.sms import send_sms

        text = summarise_line(leased.items, limit=MAX_TEXT)
        sms = SmsRequest(config.aliyun, profile, (number,), text)
        deliveries = run_deliveries(lambda ctx: send_sms(sms, ctx),
                                    secrets=config.secrets(), max_concurrency=1)
        return _one(deliveries, kind, display)
    from ..channels.phone.voice import place_calls

    voice = profile.voice
    text = summarise_line(leased.items, limit=TTS_PARAM_LIMIT - 1,
                          size=lambda t: len(voice.tts_json(t)))
    call = VoiceRequest(config.aliyun, voice, (number,), text)
    deliveries = run_deliveries(lambda ctx: place_calls(call, ctx),
                                secrets=config.secrets(), max_concurrency=1)
    return _one(deliveries, kind, display)
