"""The two actions of the component, as plain functions: parameters in, result out.

Data flows one way: raw parameters and config -> typed request -> concurrent deliveries ->
``NotifyResult``.  Nothing is sent unless the whole request is valid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from .config.pack import PackConfig
from .custom.request import CustomRequest, parse_custom_request
from .dryrun import (
    DryRunResult,
    preview_custom,
    preview_message_center,
    preview_relay,
    secrets_of,
    take_dry_run,
)
from .errors import NotifyMessageError, ParameterError
from .result import Channel, Delivery, NotifyResult, Redactor
from .runtime import DeliveryContext, guarded, run_deliveries
from .storm_params import split_storm_params

if TYPE_CHECKING:
    from .message_center.inbox import Inbox
    from .message_center.request import MessageCenterRequest

__all__ = ["notify_by_custom", "deliver_custom", "notify_by_message_center", "reply_dingtalk"]

log = logging.getLogger(__name__)


def notify_by_custom(params: Mapping[str, Any], config: Mapping[str, Any] | PackConfig | None
                     ) -> NotifyResult | DryRunResult:
    """Run notifyByCustom: validate everything, then deliver on every requested channel."""
    try:
        present = _present(params)
        dry_run = take_dry_run(present)
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(config)
        storm_params, plain = split_storm_params(present)
        request = parse_custom_request(plain, pack_config)
    except Exception as exc:  # noqa: BLE001  (every refusal is a result, never a traceback)
        return _refused("notifyByCustom", exc, params, config)
    if dry_run:  # validated as a real call is; nothing is sent, no connection opened
        return preview_custom(request, pack_config, secrets_of(pack_config, request.secrets()))
    # storm control (only with a storm_control section): hold back what must not go now
    storm = None
    if pack_config.storm_control is not None:
        from .state.entry import StormStep
        storm = StormStep.for_custom(request, pack_config, storm_params)
        request, pack_config = storm.request, storm.config
    deliveries = _run(pack_config, lambda ctx: deliver_custom(request, pack_config, ctx),
                      extra_secrets=request.secrets())
    if storm is not None:  # record the outcomes: throttles, dedup claims, the ledger
        deliveries = storm.settle(deliveries)
    result = NotifyResult(deliveries=tuple(deliveries),
                          extra=storm.extra() if storm is not None else {})
    log.info("notifyByCustom: %s", result.message.splitlines()[0])
    return result


async def deliver_custom(request: CustomRequest, config: PackConfig, ctx: DeliveryContext
                         ) -> list[Delivery]:
    """Deliver a validated request; every channel runs concurrently within ctx's bound.
    Each channel's sender is imported only when the request uses it."""
    jobs: list[Awaitable[list[Delivery]]] = []
    if request.email is not None:
        from .channels.email.send import send_email
        jobs.append(guarded(Channel.EMAIL, request.email.targets,
                            send_email(request.email, ctx)))
    if request.sms is not None or request.voice is not None:
        from .channels.phone.sms import new_out_id, send_sms
        from .channels.phone.voice import place_calls
        out_id = new_out_id()  # one OutId for the texts and calls of this notification
        if request.sms is not None:
            jobs.append(guarded(Channel.SMS, [n.display for n in request.sms.numbers],
                                send_sms(request.sms, ctx, out_id=out_id)))
        if request.voice is not None:
            jobs.append(guarded(Channel.VOICE, [n.display for n in request.voice.numbers],
                                place_calls(request.voice, ctx, out_id=out_id)))
    if request.dingtalk is not None:
        from .channels.dingtalk.send import send_dingtalk
        jobs.append(guarded(Channel.DINGTALK, [r.label for r in request.dingtalk.robots],
                            send_dingtalk(request.dingtalk, config.dingtalk, ctx)))
    return [d for batch in await asyncio.gather(*jobs) for d in batch]


def notify_by_message_center(params: Mapping[str, Any],
                             config: Mapping[str, Any] | PackConfig | None,
                             *, inbox: Inbox | None = None,
                             inbox_for: Callable[[PackConfig], Inbox] | None = None
                             ) -> NotifyResult | DryRunResult:
    """Run notifyByMessageCenter: render the event's template and deliver it on the channels
    that are both requested and configured for the recipient (provider ``local``), or hand it
    to Alibaba Cloud SOAR's Message Center (provider ``aliyun_soar``)."""
    from .message_center.inbox import MemoryInbox
    from .message_center.request import parse_message_center_request

    try:
        present = _present(params)
        dry_run = take_dry_run(present)
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(config)
        settings = pack_config.message_center
        storm_params, plain = split_storm_params(present)
        request = parse_message_center_request(plain, settings.templates,
                                               settings.default_lang)
        if settings.provider == "aliyun_soar":
            from .message_center.soar import check_relayable
            check_relayable(request)
            if dry_run:
                return preview_relay(request, pack_config, secrets_of(pack_config), {
                    "provider": "aliyun_soar", "eventId": request.event_id,
                    "lang": request.lang, "channels": {"requested": list(request.channels)}})
            return _relay(request, pack_config)
        from .message_center.local import deliver_local, find_recipient, plan_for
        recipient = find_recipient(request, pack_config)
    except Exception as exc:  # noqa: BLE001
        return _refused("notifyByMessageCenter", exc, params, config)
    plan = plan_for(request, recipient)
    extra = {"provider": "local", "eventId": request.event_id, "lang": request.lang,
             "channels": plan.to_dict()}
    if not plan.used:
        asked = ", ".join(plan.requested) or "every configured channel"
        configured = ", ".join(plan.configured) or "none"
        return NotifyResult(error=f"no channel to deliver on for {request.event_id}: requested "
                            f"{asked}; configured for aliuid {request.aliuid}: {configured}",
                            extra=extra)
    if dry_run:
        return preview_message_center(request, recipient, plan, pack_config,
                                      secrets_of(pack_config), extra)
    # internal messages go to the given inbox, or the one the caller makes for this config
    # (st2's datastore), or are kept in memory (the command line)
    chosen_inbox = (inbox if inbox is not None else inbox_for(pack_config) if inbox_for
                    else MemoryInbox())
    storm = None
    if pack_config.storm_control is not None:  # dedup, silences, quiet hours, the ledger
        from .state.entry import MessageCenterStep
        storm = MessageCenterStep.for_plan(request, plan, pack_config, storm_params)
        plan = storm.plan
    deliveries = _run(pack_config, lambda ctx: deliver_local(
        request, recipient, plan, pack_config, ctx, chosen_inbox)) if plan.used else []
    if storm is not None:
        deliveries = storm.settle(deliveries)
        extra.update(storm.extra())
    result = NotifyResult(deliveries=tuple(deliveries), extra=extra)
    log.info("notifyByMessageCenter: %s", result.message.splitlines()[0])
    return result


def reply_dingtalk(params: Mapping[str, Any], config: Mapping[str, Any] | PackConfig | None,
                   *, now_ms: int | None = None) -> NotifyResult:
    """Answer a DingTalk outgoing robot's message in its conversation (replyDingTalk)."""
    from .channels.dingtalk.request import parse_session_reply
    from .channels.dingtalk.send import send_dingtalk

    try:
        pack_config = config if isinstance(config, PackConfig) else PackConfig.from_mapping(config)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        request = parse_session_reply(_present(params), pack_config.dingtalk, now)
    except Exception as exc:  # noqa: BLE001
        return _refused("replyDingTalk", exc, params, config)
    deliveries = _run(pack_config, lambda ctx: send_dingtalk(request, pack_config.dingtalk, ctx),
                      extra_secrets=request.secrets())
    result = NotifyResult(deliveries=tuple(deliveries))
    log.info("replyDingTalk: %s", result.message.splitlines()[0])
    return result


def _relay(request: MessageCenterRequest, config: PackConfig) -> NotifyResult:
    from .message_center.soar import deliver_via_soar

    account, relay = config.aliyun, config.message_center.aliyun_soar
    assert account is not None and relay is not None  # PackConfig checked both
    deliveries = _run(config, lambda ctx: deliver_via_soar(request, account, relay, ctx))
    result = NotifyResult(deliveries=tuple(deliveries), extra={
        "provider": "aliyun_soar", "eventId": request.event_id, "lang": request.lang,
        # Message Center applies its own receiving management to the requested channels
        "channels": {"requested": list(request.channels)}})
    log.info("notifyByMessageCenter: %s", result.message.splitlines()[0])
    return result


def _run(config: PackConfig, deliver: Callable[[DeliveryContext], Awaitable[list[Delivery]]],
         *, extra_secrets: list[str] | None = None) -> list[Delivery]:
    return run_deliveries(deliver, secrets=config.secrets() + (extra_secrets or []),
                          max_concurrency=config.max_concurrency)


def _refused(action: str, exc: Exception, params: Any, config: Any) -> NotifyResult:
    """A call refused before anything was sent.  Its reason passes through a redactor that
    knows every secret of the config (parsed or not) and every webhook credential in the
    parameters (a URL refused for its host still holds its token).  A refusal that is not
    a ParameterError or ConfigError is a bug of ours: named by type, logged, never raised."""
    from .channels.dingtalk.protocol import credentials_in
    from .config.pack import raw_secrets

    mapping = config.mapping if isinstance(config, PackConfig) else config
    secrets = raw_secrets(mapping)
    # a webhook's token is a secret on its own too: given alone, it must not show either
    redact = Redactor(secrets + credentials_in(secrets) + credentials_in(params))
    if isinstance(exc, NotifyMessageError):
        return NotifyResult.failed(redact(str(exc)))
    log.error("%s: unexpected %s while reading the parameters: %s", action,
              type(exc).__name__, redact(str(exc))[:300])
    return NotifyResult.failed(f"the parameters could not be read ({type(exc).__name__}); "
                               "this is a bug of notify_message, please report it")


def _present(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop parameters st2 passes as None because the caller left them out."""
    if not isinstance(params, Mapping):
        raise ParameterError("parameters", f"expected an object of parameters, got "
                             f"{type(params).__name__}")
    return {name: value for name, value in params.items() if value is not None}
