"""The ``local`` Message Center provider: the receiving-management model in the pack config,
delivered through this pack's own channels."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from ..channels.dingtalk.message import DingTalkMessage, DingTalkRequest
from ..channels.dingtalk.request import check_size, resolve_robots
from ..channels.email.message import EmailRequest, unique_addresses
from ..channels.phone.message import SmsRequest
from ..channels.phone.numbers import unique_numbers
from ..config.pack import PackConfig
from ..errors import ParameterError
from ..result import Channel, Delivery
from ..runtime import DeliveryContext, guarded
from .inbox import Inbox, InternalMessage
from .receiving import ChannelPlan, Recipient, plan_channels
from .request import MessageCenterRequest
from .templates import RenderedMessage

__all__ = ["find_recipient", "plan_for", "deliver_local", "email_request", "thread_key",
           "sms_request",
           "webhook_request", "internal_message"]


def find_recipient(request: MessageCenterRequest, config: PackConfig) -> Recipient:
    recipients = config.message_center.recipients
    recipient = recipients.get(request.aliuid)
    if recipient is None:
        known = ", ".join(recipients) or "none"
        raise ParameterError("aliuid", f"{request.aliuid!r} has no receiving configuration; "
                             f"expected an aliuid of message_center.recipients (configured: "
                             f"{known})")
    return recipient


def plan_for(request: MessageCenterRequest, recipient: Recipient) -> ChannelPlan:
    return plan_channels(request.channels, recipient.statuses(request.event_id))


async def deliver_local(request: MessageCenterRequest, recipient: Recipient, plan: ChannelPlan,
                        config: PackConfig, ctx: DeliveryContext, inbox: Inbox
                        ) -> list[Delivery]:
    """Deliver the rendered template on every channel of the plan, concurrently."""
    message = request.render()
    jobs: list[Awaitable[list[Delivery]]] = []
    target = [recipient.aliuid]
    for channel in plan.used:
        if channel == "email":
            jobs.append(guarded(Channel.EMAIL, target, _email(message, recipient, config, ctx,
                                                              thread_key(request))))
        elif channel == "pmsg":
            jobs.append(guarded(Channel.PMSG, target, _pmsg(message, recipient, inbox, ctx)))
        elif channel == "sms":
            jobs.append(guarded(Channel.SMS, target, _sms(message, recipient, config, ctx)))
        elif channel == "webhook":
            jobs.append(guarded(Channel.DINGTALK, target,
                                _webhook(message, recipient, config, ctx)))
    return [d for batch in await asyncio.gather(*jobs) for d in batch]


# What each channel of the plan would send, or the deliveries that say why it cannot: the
# sending below and a dry run (dryrun.py) take the same decisions.

def thread_key(request: MessageCenterRequest) -> str:
    """An incident's (or alert's) mails thread together: the new one and its updates."""
    for name, kind in (("incidentID", "incident"), ("alertID", "alert")):
        value = str(request.variables.get(name) or "").strip()
        if value:
            return f"{kind}:{value}"
    return ""


def email_request(message: RenderedMessage, recipient: Recipient, config: PackConfig,
                  thread: str = "") -> EmailRequest | list[Delivery]:
    addresses = unique_addresses(c.email for c in recipient.contacts if c.email)
    if not addresses:
        return [Delivery.not_sent(Channel.EMAIL, recipient.aliuid,
                                  "no contact of this account has an email address "
                                  "(message_center.recipients[].contacts[].email)")]
    instance = config.smtp_instance(recipient.smtp_instance)
    if instance is None:
        wanted = recipient.smtp_instance or "a default SMTP instance"
        return [Delivery.not_sent(Channel.EMAIL, address,
                                  f"{wanted} is not configured under smtp_instances")
                for address in addresses]
    return EmailRequest(instance, addresses, message.subject, message.body, html=False,
                        thread_key=thread)


def sms_request(message: RenderedMessage, recipient: Recipient, config: PackConfig
                ) -> SmsRequest | list[Delivery]:
    numbers = unique_numbers(c.mobile for c in recipient.contacts if c.mobile is not None)
    if not numbers:
        return [Delivery.not_sent(Channel.SMS, recipient.aliuid,
                                  "no contact of this account has a mobile number "
                                  "(message_center.recipients[].contacts[].mobile)")]
    profile = config.default_sms_profile
    if config.aliyun is None or profile is None:
        return [Delivery.not_sent(Channel.SMS, number.display,
                                  "SMS needs the aliyun section and an sms_profiles entry "
                                  "in the pack config") for number in numbers]
    # the body carries every detail of the event; the subject only names it
    return SmsRequest(config.aliyun, profile, numbers, message.body)


def webhook_request(message: RenderedMessage, recipient: Recipient, config: PackConfig
                    ) -> DingTalkRequest | list[Delivery]:
    if not recipient.webhooks:
        return [Delivery.not_sent(Channel.DINGTALK, recipient.aliuid,
                                  "this account has no DingTalk robot "
                                  "(message_center.recipients[].webhooks)")]
    # the same robot resolution and size check as notifyByCustom's DingTalk parameters
    markdown = DingTalkMessage.markdown(message.subject,
                                        f"### {message.subject}\n\n{message.body}")
    try:
        robots = resolve_robots(recipient.webhooks, config.dingtalk,
                                "message_center.recipients[].webhooks")
        check_size(markdown, robots, config.dingtalk)
    except ParameterError as exc:
        return [Delivery.not_sent(Channel.DINGTALK, recipient.aliuid,
                                  f"message_center.recipients[].webhooks: {exc.problem}")]
    return DingTalkRequest(markdown, robots)


def internal_message(message: RenderedMessage, recipient: Recipient) -> InternalMessage:
    return InternalMessage.new(recipient.aliuid, message.event_id, message.lang,
                               message.subject, message.body)


async def _email(message: RenderedMessage, recipient: Recipient, config: PackConfig,
                 ctx: DeliveryContext, thread: str = "") -> list[Delivery]:
    request = email_request(message, recipient, config, thread)
    if isinstance(request, list):
        return request
    from ..channels.email.send import send_email

    return await send_email(request, ctx)


async def _sms(message: RenderedMessage, recipient: Recipient, config: PackConfig,
               ctx: DeliveryContext) -> list[Delivery]:
    request = sms_request(message, recipient, config)
    if isinstance(request, list):
        return request
    from ..channels.phone.sms import send_sms

    return await send_sms(request, ctx)


async def _webhook(message: RenderedMessage, recipient: Recipient, config: PackConfig,
                   ctx: DeliveryContext) -> list[Delivery]:
    request = webhook_request(message, recipient, config)
    if isinstance(request, list):
        return request
    from ..channels.dingtalk.send import send_dingtalk

    return await send_dingtalk(request, config.dingtalk, ctx)


async def _pmsg(message: RenderedMessage, recipient: Recipient, inbox: Inbox,
                ctx: DeliveryContext) -> list[Delivery]:
    internal = internal_message(message, recipient)
    try:
        where = inbox.store(internal)
    except Exception as exc:  # a datastore outage must not lose the other channels' results
        return [Delivery.failed(Channel.PMSG, recipient.aliuid,
                                "not kept: " + ctx.redactor(f"{type(exc).__name__}: {exc}"))]
    return [Delivery.delivered(Channel.PMSG, recipient.aliuid, where, reference=internal.id)]
