"""Storm control for notifyByCustom: the request's targets as slots, and the request narrowed
to the slots that are sent."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from ..result import Channel, Delivery
from .policy import Slot, StormControl, Verdict, queue_name

if TYPE_CHECKING:
    from ..channels.dingtalk.message import RobotTarget
    from ..channels.email.message import EmailRequest
    from ..config.pack import PackConfig
    from ..custom.request import CustomRequest

__all__ = ["admit_custom", "first_line"]

TITLE_LIMIT = 120


def first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= TITLE_LIMIT else line[:TITLE_LIMIT - 3] + "..."


def custom_slots(request: CustomRequest, config: PackConfig | None = None) -> list[Slot]:
    """One slot per channel x target, in the order the deliveries come back.  SMS and voice
    queue under ``<channel>/<profile name>/<number>``: the flusher finds the account and
    templates in the config again, so that no AccessKey is kept in the store."""
    slots: list[Slot] = []
    if request.email is not None:
        email = request.email
        asset = email.instance.assetname
        for address in email.targets:   # To, then cc, then bcc: one delivery each
            slots.append(Slot(Channel.EMAIL, address, f"email:{address.lower()}",
                              first_line(email.subject), f"{email.subject}\n{email.body}",
                              budget=f"email:{asset}", queue=queue_name("email", asset, address)))
    if request.sms is not None:
        sms = request.sms
        for number in sms.numbers:
            slots.append(Slot(Channel.SMS, number.display, f"sms:{number.wire}",
                              first_line(sms.text), sms.text, budget=(
                                  f"sms:{sms.profile.sign_name}:{sms.profile.template_code}:"
                                  f"{number.wire}"),
                              queue=queue_name("sms", sms.profile.name, number.display)))
    if request.voice is not None:
        voice = request.voice
        profile = next((p.name for p in (config.sms_profiles if config else ())
                        if p.voice == voice.template), None)
        for number in voice.numbers:
            slots.append(Slot(Channel.VOICE, number.display, f"voice:{number.wire}",
                              first_line(voice.text), voice.text, budget=f"voice:{number.wire}",
                              queue=None if profile is None else
                              queue_name("voice", profile, number.display)))
    if request.dingtalk is not None:
        from ..channels.dingtalk.protocol import message_text

        message = request.dingtalk.message
        text = message_text(message.body())
        title = first_line(str(message.payload.get("title") or text))
        for robot in request.dingtalk.robots:
            if robot.configured:
                slots.append(Slot(Channel.DINGTALK, robot.label, f"dingtalk:{robot.label}",
                                  title, text, budget=f"dingtalk:{robot.label}",
                                  queue=queue_name("dingtalk", robot.label), robot=robot.label))
            else:  # a webhook given as a parameter: dedup and silences only (no digest can
                # reach it later without keeping its token in the store)
                token = hashlib.sha256(robot.webhook.access_token.encode()).hexdigest()[:16]
                slots.append(Slot(Channel.DINGTALK, robot.label, f"dingtalk:{token}", title,
                                  text))
    return slots


def admit_custom(storm: StormControl, request: CustomRequest, config: PackConfig
                 ) -> tuple[CustomRequest, Callable[[list[Delivery]], list[Delivery]]]:
    """The request narrowed to what storm control lets through, and how to settle what
    sending it gave into one delivery per requested target."""
    slots = custom_slots(request, config)
    settings = config.dingtalk if request.dingtalk is not None else None
    verdicts = storm.admit(slots, lambda name: settings is not None and
                           settings.robot(name) is not None)
    narrowed = _narrow(request, slots, verdicts, config)
    return narrowed, lambda sent: storm.settle(slots, verdicts, sent)


def _narrow_email(email: EmailRequest, sent: set[str]) -> EmailRequest | None:
    """The email to the targets that are sent; when none of its To receivers is left, the
    cc and bcc left each get a message of their own (a bcc never shows in anyone's To)."""
    to, cc, bcc = ([a for a in group if a in sent]
                   for group in (email.recipients, email.cc, email.bcc))
    if not (to or cc or bcc):
        return None
    if to:
        return replace(email, recipients=tuple(to), cc=tuple(cc), bcc=tuple(bcc))
    return replace(email, recipients=tuple(cc + bcc), cc=(), bcc=(), per_recipient=True)


def _narrow(request: CustomRequest, slots: list[Slot], verdicts: list[Verdict],
            config: PackConfig) -> CustomRequest:
    sent = {(s.channel, s.label) for s, v in zip(slots, verdicts) if v.send}
    email = sms = voice = dingtalk = None
    if request.email is not None:
        email = _narrow_email(request.email, {a for c, a in sent if c is Channel.EMAIL})
    if request.sms is not None:
        numbers = tuple(n for n in request.sms.numbers if (Channel.SMS, n.display) in sent)
        sms = replace(request.sms, numbers=numbers) if numbers else None
    if request.voice is not None:
        numbers = tuple(n for n in request.voice.numbers if (Channel.VOICE, n.display) in sent)
        voice = replace(request.voice, numbers=numbers) if numbers else None
    if request.dingtalk is not None:
        from ..channels.dingtalk.request import configured_target

        robots: dict[str, RobotTarget] = {}
        by_label = {r.label: r for r in request.dingtalk.robots}
        for slot, verdict in zip(slots, verdicts):
            if slot.channel is not Channel.DINGTALK or not verdict.send:
                continue
            if verdict.via:
                configured = config.dingtalk.robot(verdict.via)
                assert configured is not None  # admit only picks configured fallbacks
                robot = configured_target(configured)
            else:
                robot = by_label[slot.label]
            robots.setdefault(robot.webhook.access_token, robot)
        dingtalk = replace(request.dingtalk, robots=tuple(robots.values())) if robots else None
    return replace(request, email=email, sms=sms, voice=voice, dingtalk=dingtalk)
