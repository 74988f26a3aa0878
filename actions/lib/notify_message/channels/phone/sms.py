"""SMS through Alibaba Cloud SMS (SendSms, Dysmsapi 2017-05-25).

The numbers go out in batches of at most 1000 (SendSms's limit), each batch one request
with the profile's signature, template and the text in the template variable.  Alibaba
answers once per request, so every number of a batch shares its ``Code`` and ``BizId``.

SendSms is not idempotent: a request that went out without an answer is reported as
"outcome unknown, not retried" and never sent again; only requests refused before they ran
(no connection, API throttling) are repeated.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from ...aliyun.client import AliyunClient, answer_delivery
from ...aliyun.signing import DYSMSAPI
from ...result import Channel, Delivery
from ...runtime import DeliveryContext, guarded, report
from .codes import SMS_ERRORS, explain_sms_code
from .numbers import PhoneNumber
from .message import SmsRequest

__all__ = ["CHANNEL", "ACTION", "MAX_NUMBERS_PER_REQUEST", "SMS_ERRORS", "explain_sms_code",
           "send_sms", "new_out_id", "batches", "sms_params"]

CHANNEL = Channel.SMS
ACTION = "SendSms"
MAX_NUMBERS_PER_REQUEST = 1000


def new_out_id() -> str:
    """OutId for one notification: Alibaba hands it back in delivery receipts."""
    return uuid.uuid4().hex[:15]


async def send_sms(request: SmsRequest, ctx: DeliveryContext, *,
                   out_id: str | None = None) -> list[Delivery]:
    """Text every number of the request; one delivery per number."""
    client = AliyunClient(request.account, ctx)
    out_id = out_id or new_out_id()
    results = await asyncio.gather(*(
        guarded(CHANNEL, [n.display for n in batch], _send_batch(client, request, batch, out_id,
                                                                 ctx))
        for batch in batches(request.numbers)))
    return [delivery for batch in results for delivery in batch]


def batches(numbers: Sequence[PhoneNumber]) -> list[Sequence[PhoneNumber]]:
    """The numbers as SendSms requests take them: at most MAX_NUMBERS_PER_REQUEST each."""
    return [numbers[i:i + MAX_NUMBERS_PER_REQUEST]
            for i in range(0, len(numbers), MAX_NUMBERS_PER_REQUEST)]


def sms_params(request: SmsRequest, batch: Sequence[PhoneNumber], out_id: str) -> dict[str, str]:
    """SendSms's own parameters for one batch (the signed common ones are added by the client)."""
    profile = request.profile
    return {
        "PhoneNumbers": ",".join(n.wire for n in batch),
        "SignName": profile.sign_name,
        "TemplateCode": profile.template_code,
        "TemplateParam": profile.template_json(request.text),
        "OutId": out_id,
    }


async def _send_batch(client: AliyunClient, request: SmsRequest, batch: Sequence[PhoneNumber],
                      out_id: str, ctx: DeliveryContext) -> list[Delivery]:
    params = sms_params(request, batch, out_id)
    async with ctx.limit:
        answer = await client.call(DYSMSAPI, ACTION, params)
    biz_id = str(answer.body.get("BizId") or "")
    shared = f" (one request for {len(batch)} numbers)" if len(batch) > 1 else ""
    return [report(answer_delivery(
        answer, CHANNEL, number.display, action=ACTION, explain=explain_sms_code,
        accepted=(f"accepted by {answer.endpoint}: BizId {biz_id}, RequestId "
                  f"{answer.request_id}, OutId {out_id}{shared}"),
        check_before_resending=f"check the SMS console's send records (OutId {out_id})",
        reference=biz_id or None, note=shared)) for number in batch]
