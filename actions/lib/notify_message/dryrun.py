"""Dry runs (``dryRun: true``): what a call would send, per target; nothing is sent.

A dry run takes the same path as a real call up to the moment of sending: the same
parameter and config checks (and so the same refusals), the same message builders (the MIME
message of each email, the JSON body of each DingTalk message, the parameters of each SendSms
and SingleCallByTts request, the Message Center's channel plan).  It opens no connection:
nothing here imports a sender's network code path or makes a DeliveryContext.

Every delivery that would be attempted is ``not sent`` with code ``dry run``; a delivery a
real call would refuse before sending (a DingTalk message without the robot's keyword, a
Message Center contact without an address) is the same refusal as in a real call.  The
``preview`` list says what each request would carry, with every configured secret masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from .errors import ParameterError
from .params import FALSE_WORDS, TRUE_WORDS
from .result import Channel, Delivery, Outcome, Redactor

if TYPE_CHECKING:
    from .channels.dingtalk.config import DingTalkSettings
    from .channels.dingtalk.message import DingTalkRequest
    from .channels.email.message import EmailRequest
    from .channels.phone.message import SmsRequest, VoiceRequest
    from .config.pack import PackConfig
    from .custom.request import CustomRequest
    from .message_center.receiving import ChannelPlan, Recipient
    from .message_center.request import MessageCenterRequest

__all__ = ["DRY_RUN", "DRY_RUN_CODE", "DryRunResult", "take_dry_run", "preview_custom",
           "preview_message_center", "preview_relay", "MAX_PREVIEW_TEXT"]

DRY_RUN = "dryRun"            # the parameter's name
DRY_RUN_CODE = "dry run"      # the code of every delivery a dry run would have attempted
# characters of one text shown in a preview (an email body, a template parameter): a dry run
# of a 1 MB body to 1000 recipients must not answer 1 GB
MAX_PREVIEW_TEXT = 20000

Preview = dict[str, Any]


def take_dry_run(params: dict[str, Any]) -> bool:
    """Remove ``dryRun`` from the parameters and read it: true / false (or 1 / 0, yes / no,
    as every flag of the pack); ParameterError for anything else."""
    value = params.pop(DRY_RUN, None)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ParameterError(DRY_RUN, "expected true or false")


@dataclass(frozen=True)
class DryRunResult:
    """What a dry run answers: the deliveries a real call would attempt (each ``not sent``,
    code ``dry run``) or refuse, and the preview of every request.  ``status`` is true when
    every delivery would be attempted."""

    deliveries: tuple[Delivery, ...]
    preview: tuple[Preview, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> bool:
        return bool(self.deliveries) and all(would_attempt(d) for d in self.deliveries)

    @property
    def message(self) -> str:
        total = len(self.deliveries)
        counts: dict[str, list[int]] = {}
        for d in self.deliveries:
            tally = counts.setdefault(d.channel.value, [0, 0])
            tally[0] += would_attempt(d)
            tally[1] += 1
        by_channel = ", ".join(f"{name} {ok}/{all_}" for name, (ok, all_) in counts.items())
        refused = [d for d in self.deliveries if not would_attempt(d)]
        if not total:
            return "Dry run, nothing was sent: there is nothing to send."
        if not refused:
            what = "The delivery" if total == 1 else f"All {total} deliveries"
            return f"Dry run, nothing was sent: {what} would be attempted ({by_channel})."
        lines = [f"Dry run, nothing was sent: {len(refused)} of {total} deliveries would not "
                 f"be attempted ({by_channel}):"]
        lines += [f"- {d.channel.value} to {d.target}: {d.detail}" for d in refused]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status,
                "deliveries": [d.to_dict() for d in self.deliveries], "dryRun": True,
                "preview": list(self.preview), **self.extra}


def would_attempt(delivery: Delivery) -> bool:
    return delivery.outcome is Outcome.NOT_SENT and delivery.code == DRY_RUN_CODE


def _would_send(channel: Channel, target: str, what: str) -> Delivery:
    return Delivery.not_sent(channel, target, f"dry run: {what}", code=DRY_RUN_CODE)


class _Collector:
    """Deliveries and previews of one dry run, every preview string through the redactor."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self.deliveries: list[Delivery] = []
        self.previews: list[Preview] = []

    def add(self, delivery: Delivery, preview: Preview | None) -> None:
        self.deliveries.append(delivery)
        if preview is not None:
            self.previews.append(_redacted(preview, self.redactor))

    def refused(self, deliveries: Iterable[Delivery]) -> None:
        self.deliveries += deliveries

    def result(self, extra: dict[str, Any] | None = None) -> DryRunResult:
        return DryRunResult(tuple(self.deliveries), tuple(self.previews), extra or {})


def _redacted(value: Any, redactor: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, Mapping):
        return {k: _redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, redactor) for v in value]
    return value


def _cut(text: str) -> str:
    if len(text) <= MAX_PREVIEW_TEXT:
        return text
    return f"{text[:MAX_PREVIEW_TEXT]}... ({len(text) - MAX_PREVIEW_TEXT} more characters)"


# --- notifyByCustom ------------------------------------------------------------------------

def preview_custom(request: CustomRequest, config: PackConfig, redactor: Redactor
                   ) -> DryRunResult:
    """The deliveries and requests of a validated notifyByCustom request, in the order a
    real call reports them (email, SMS, voice, DingTalk)."""
    out = _Collector(redactor)
    if request.email is not None:
        _email(request.email, out)
    if request.sms is not None or request.voice is not None:
        from .channels.phone.sms import new_out_id

        out_id = new_out_id()  # one OutId for the texts and calls, as a real call has
        if request.sms is not None:
            _sms(request.sms, out_id, out)
        if request.voice is not None:
            _voice(request.voice, out_id, out)
    if request.dingtalk is not None:
        _dingtalk(request.dingtalk, config.dingtalk, out)
    return out.result()


def _email(request: EmailRequest, out: _Collector) -> None:
    from .channels.email.address import envelope_address
    from .channels.email.message import batches, build_message, message_bytes

    instance = request.instance
    for batch in batches(request):  # the transactions the sender would make
        try:
            message = build_message(request, batch.to)
        except Exception as exc:  # noqa: BLE001  (as the sender: one message's problem)
            for recipient in batch.recipients:
                out.add(Delivery.not_sent(Channel.EMAIL, recipient, "the message could not "
                                          f"be built ({type(exc).__name__})"), None)
            continue
        size = len(message_bytes(message))  # serialised as the sender does
        preview = {
            "channel": Channel.EMAIL.value,
            "targets": list(batch.recipients),
            "server": instance.endpoint,
            "tls": instance.tls,
            "login": instance.username,
            "envelope": {"mail_from": instance.username,
                         "rcpt_to": [envelope_address(r) for r in batch.recipients]},
            "bytes": size,
            "headers": [[name, str(value)] for name, value in message.items()],
            "parts": _parts(message),
        }
        for index, recipient in enumerate(batch.recipients):  # one preview per message
            out.add(_would_send(Channel.EMAIL, recipient, f"would be sent through "
                                f"{instance.endpoint} as {instance.username}"),
                    preview if index == 0 else None)


def _parts(message: EmailMessage) -> list[dict[str, str]]:
    parts = message.iter_parts() if message.is_multipart() else [message]
    return [{"content_type": part.get_content_type(),
             "content": _cut(str(part.get_content()))} for part in parts
            if isinstance(part, EmailMessage)]


def _sms(request: SmsRequest, out_id: str, out: _Collector) -> None:
    from .aliyun.signing import DYSMSAPI
    from .channels.phone.sms import ACTION, batches, sms_params

    endpoint = request.account.url(DYSMSAPI)
    for batch in batches(request.numbers):
        params = sms_params(request, batch, out_id)
        preview = _api_preview(Channel.SMS, [n.display for n in batch], endpoint, ACTION,
                               params)
        shared = f" (one request for {len(batch)} numbers)" if len(batch) > 1 else ""
        for index, number in enumerate(batch):
            out.add(_would_send(Channel.SMS, number.display,
                                f"would be sent by {ACTION} to {endpoint}{shared}"),
                    preview if index == 0 else None)


def _voice(request: VoiceRequest, out_id: str, out: _Collector) -> None:
    from .aliyun.signing import DYVMSAPI
    from .channels.phone.voice import ACTION, call_params

    endpoint = request.account.url(DYVMSAPI)
    for number in request.numbers:
        params = {k: v for k, v in call_params(request, number, out_id).items()
                  if v is not None}
        out.add(_would_send(Channel.VOICE, number.display,
                            f"would be called by {ACTION} through {endpoint}"),
                _api_preview(Channel.VOICE, [number.display], endpoint, ACTION, params))


def _api_preview(channel: Channel, targets: list[str], endpoint: str, action: str,
                 params: Mapping[str, Any]) -> Preview:
    # the action's own parameters: the signed common ones (AccessKeyId, Signature, nonce,
    # timestamp) are made when sending and are never shown
    return {"channel": channel.value, "targets": targets, "endpoint": endpoint,
            "action": action, "params": {k: _cut(str(v)) for k, v in params.items()}}


def _dingtalk(request: DingTalkRequest, settings: DingTalkSettings, out: _Collector) -> None:
    from .channels.dingtalk.message import keyword_problem
    from .channels.dingtalk.protocol import encode_body
    from .channels.dingtalk.split import TooLong, long_message_mode, message_bodies, part_labels

    for robot in request.robots:
        problem = keyword_problem(robot, request.message.body(robot.mentions))
        if problem is not None:
            out.add(Delivery.not_sent(Channel.DINGTALK, robot.label, problem), None)
            continue
        try:
            bodies = message_bodies(request.message, robot,
                                    long_message_mode(robot, settings.long_messages))
        except TooLong as exc:
            out.add(Delivery.not_sent(Channel.DINGTALK, robot.label, f"dingdingcontext {exc}"),
                    None)
            continue
        url = robot.webhook.masked + ("&timestamp=...&sign=***" if robot.secret else "")
        for label, body in zip(part_labels(robot.label, len(bodies)), bodies):
            size = len(encode_body(body))
            out.add(_would_send(Channel.DINGTALK, label,
                                f"would be posted to {robot.webhook.netloc} ({size} bytes"
                                f"{', signed' if robot.secret else ''})"), {
                "channel": Channel.DINGTALK.value,
                "targets": [label],
                "url": url,
                "signed": bool(robot.secret),
                "bytes": size,
                "body": body,
            })


# --- notifyByMessageCenter -----------------------------------------------------------------

def preview_message_center(request: MessageCenterRequest, recipient: Recipient,
                           plan: ChannelPlan, config: PackConfig, redactor: Redactor,
                           extra: dict[str, Any]) -> DryRunResult:
    """The ``local`` provider's plan: for every channel it would use, what it would send
    (the rendered template), decided as a real call decides it."""
    from .message_center.local import (
        email_request,
        internal_message,
        sms_request,
        webhook_request,
    )

    out = _Collector(redactor)
    message = request.render()
    out.previews.append(_redacted({
        "channel": Channel.MESSAGE_CENTER.value, "targets": [f"aliuid {recipient.aliuid}"],
        "plan": plan.to_dict(), "subject": message.subject, "body": _cut(message.body)},
        redactor))
    for channel in plan.used:
        if channel == "email":
            mail = email_request(message, recipient, config)
            out.refused(mail) if isinstance(mail, list) else _email(mail, out)
        elif channel == "sms":
            sms = sms_request(message, recipient, config)
            if isinstance(sms, list):
                out.refused(sms)
            else:
                from .channels.phone.sms import new_out_id
                _sms(sms, new_out_id(), out)
        elif channel == "webhook":
            robots = webhook_request(message, recipient, config)
            out.refused(robots) if isinstance(robots, list) else _dingtalk(
                robots, config.dingtalk, out)
        elif channel == "pmsg":
            internal = internal_message(message, recipient)
            out.add(_would_send(Channel.PMSG, recipient.aliuid,
                                f"would be kept as internal message {internal.key}"), {
                "channel": Channel.PMSG.value, "targets": [recipient.aliuid],
                "key": internal.key, "subject": internal.subject,
                "body": _cut(internal.body)})
    return out.result(extra)


def preview_relay(request: MessageCenterRequest, config: PackConfig, redactor: Redactor,
                  extra: dict[str, Any]) -> DryRunResult:
    """The ``aliyun_soar`` provider: the one RunNotifyComponentWithMessageCenter request."""
    from .aliyun.signing import SOPHONSOAR
    from .message_center.soar import ACTION, CHANNEL, relay_params

    account, relay = config.aliyun, config.message_center.aliyun_soar
    assert account is not None and relay is not None  # PackConfig checked both
    endpoint = account.url(SOPHONSOAR)
    target = f"aliuid {request.aliuid}"
    out = _Collector(redactor)
    out.add(_would_send(CHANNEL, target, f"would be handed to {ACTION} at {endpoint}"),
            _api_preview(CHANNEL, [target], endpoint, ACTION, relay_params(request, relay)))
    return out.result(extra)


def secrets_of(config: PackConfig, extra: Sequence[str] = ()) -> Redactor:
    """The redactor of a dry run: every secret of the config and of the parameters."""
    return Redactor(list(config.secrets()) + list(extra))
