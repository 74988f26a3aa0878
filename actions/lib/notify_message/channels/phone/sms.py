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

from ...aliyun.signing import DYSMSAPI
from ...aliyun.client import NOT_SENT, UNKNOWN, AliyunClient, RpcAnswer, explain_common_error
from ...runtime import DeliveryContext
from .request import SmsRequest
from .numbers import PhoneNumber
from ...result import Delivery

__all__ = ["CHANNEL", "ACTION", "MAX_NUMBERS_PER_REQUEST", "SMS_ERRORS", "explain_sms_code",
           "send_sms", "new_out_id"]

CHANNEL = "sms"
ACTION = "SendSms"
MAX_NUMBERS_PER_REQUEST = 1000

# What SendSms's business error codes mean and what to do about them.
SMS_ERRORS: dict[str, str] = {
    "isv.BUSINESS_LIMIT_CONTROL": "flow control: Alibaba limits how many messages one number "
                                  "receives per minute, hour and day for the same signature "
                                  "(and template); this number hit the limit. Wait, or raise "
                                  "the frequency limits in the SMS console (国内消息设置)",
    "isv.DAY_LIMIT_CONTROL": "the account's daily sending limit set in the SMS console is "
                             "reached; raise it under 安全设置 or wait until tomorrow",
    "isv.MONTH_LIMIT_CONTROL": "the account's monthly sending limit set in the SMS console is "
                               "reached; raise it under 安全设置",
    "isv.MOBILE_NUMBER_ILLEGAL": "Alibaba refused a number of this request as malformed; check "
                                 "the numbers (mainland mobiles have 11 digits)",
    "isv.MOBILE_COUNT_OVER_LIMIT": "more numbers than one SendSms request takes",
    "isv.SMS_SIGNATURE_ILLEGAL": "the signature (sign_name of the SMS profile) is not an "
                                 "approved signature of this account; check its exact text in "
                                 "the SMS console",
    "isv.SMS_SIGN_ILLEGAL": "the signature may not be used; apply for a compliant one",
    "isv.SIGN_STATE_ILLEGAL": "the signature is not usable (状态不可用); fix it in the SMS console",
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": "the signature is for verification codes only and cannot "
                                       "send notifications; use a general (通用) signature",
    "isv.SMS_TEMPLATE_ILLEGAL": "the template (template_code of the SMS profile) is not an "
                                "approved template of this account, or does not go with the "
                                "signature",
    "isv.TEMPLATE_MISSING_PARAMETERS": "the template has variables this request did not fill: "
                                       "set template_param to the variable that carries the "
                                       "text and give the others in template_constants",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "a template variable has a value the template does not "
                                   "allow; shorten or simplify smscontext",
    "isv.PARAM_LENGTH_LIMIT": "the text is longer than the template variable allows; shorten "
                              "smscontext",
    "isv.PARAM_NOT_SUPPORT_URL": "template variables may not contain links; remove URLs from "
                                 "smscontext",
    "isv.INVALID_JSON_PARAM": "TemplateParam was not valid JSON",
    "isv.INVALID_PARAMETERS": "Alibaba refused a parameter of the request",
    "isv.SMS_CONTENT_ILLEGAL": "the text contains content SMS may not carry; reword smscontext",
    "isv.BLACK_KEY_CONTROL_LIMIT": "the text contains a blocked keyword; reword smscontext",
    "isv.AMOUNT_NOT_ENOUGH": "the account balance is too low: top up the Alibaba Cloud account",
    "isv.OUT_OF_SERVICE": "the service is suspended, usually for an overdue balance: top up "
                          "the account",
    "isv.PRODUCT_UN_SUBSCRIPT": "this account has not activated Alibaba Cloud communications "
                                "(SMS)",
    "isv.PRODUCT_UNSUBSCRIBE": "this account has not activated SMS",
    "isv.ACCOUNT_NOT_EXISTS": "the account of this AccessKey does not exist",
    "isv.ACCOUNT_ABNORMAL": "the account is abnormal (often an overdue balance)",
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": "an international template cannot send to mainland "
                                         "numbers; use a mainland (国内) template for them",
    "isv.DENY_IP_RANGE": "Alibaba refuses mainland SMS requests from this machine's IP region; "
                         "send from a mainland China IP",
    "isv.EXTEND_CODE_ERROR": "the same extension code is used by several signatures",
    "isp.RAM_PERMISSION_DENY": "the RAM user of this AccessKey lacks SMS permission: grant it "
                               "AliyunDysmsFullAccess",
    "isp.SYSTEM_ERROR": "Alibaba's system failed; the message was not retried automatically "
                        "(SendSms is not idempotent): send again if it did not arrive",
}


def explain_sms_code(code: str | None) -> str | None:
    """What to do about a SendSms answer code (its own or the API gateway's), or None."""
    if code is None:
        return None
    return SMS_ERRORS.get(code) or explain_common_error(code)


def new_out_id() -> str:
    """OutId for one notification: Alibaba hands it back in delivery receipts."""
    return uuid.uuid4().hex[:15]


async def send_sms(request: SmsRequest, ctx: DeliveryContext, *,
                   out_id: str | None = None) -> list[Delivery]:
    """Text every number of the request; one delivery per number."""
    client = AliyunClient(request.account, ctx)
    out_id = out_id or new_out_id()
    numbers = request.numbers
    batches = [numbers[i:i + MAX_NUMBERS_PER_REQUEST]
               for i in range(0, len(numbers), MAX_NUMBERS_PER_REQUEST)]
    results = await asyncio.gather(*(_send_batch(client, request, batch, out_id, ctx)
                                     for batch in batches))
    return [delivery for batch in results for delivery in batch]


async def _send_batch(client: AliyunClient, request: SmsRequest, batch: Sequence[PhoneNumber],
                      out_id: str, ctx: DeliveryContext) -> list[Delivery]:
    profile = request.profile
    params = {
        "PhoneNumbers": ",".join(n.wire for n in batch),
        "SignName": profile.sign_name,
        "TemplateCode": profile.template_code,
        "TemplateParam": profile.template_json(request.text),
        "OutId": out_id,
    }
    async with ctx.limit:
        answer = await client.call(DYSMSAPI, ACTION, params)
    detail = _detail(answer, out_id, len(batch))
    reference = str(answer.body.get("BizId") or "") if answer.ok else ""
    return [Delivery(CHANNEL, n.display, answer.ok, answer.code, answer.attempts, detail,
                     reference or None) for n in batch]


def _detail(answer: RpcAnswer, out_id: str, batch_size: int) -> str:
    shared = f" (one request for {batch_size} numbers)" if batch_size > 1 else ""
    if answer.ok:
        return (f"accepted by {answer.endpoint}: BizId {answer.body.get('BizId', '')}, "
                f"RequestId {answer.request_id}, OutId {out_id}{shared}")
    if answer.outcome == UNKNOWN:
        said = f"{answer.error} ({answer.said()})" if answer.body else answer.error
        return (f"outcome unknown, not retried: {said}. SendSms is not idempotent, so it was "
                f"not sent again; check the SMS console's send records (OutId {out_id}) before "
                "sending again")
    if answer.outcome == NOT_SENT:
        return f"not sent: {answer.error} (attempts: {answer.attempts})"
    hint = explain_sms_code(answer.code)
    said = answer.said()
    return f"not sent: {said}: {hint}{shared}" if hint else f"not sent: {said}{shared}"
