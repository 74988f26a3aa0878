"""Voice calls through Alibaba Cloud voice (SingleCallByTts, Dyvmsapi 2017-05-25).

One call per number (the API takes one CalledNumber per request), each reading the
profile's text-to-speech template with the text in its variable.  Alibaba throttles each
called number to 1 call a minute, 5 an hour and 20 a day, answered or not, so a number is
called once per notification however often it is listed, and a refused call is never
repeated: like SendSms, SingleCallByTts is not idempotent.
"""

from __future__ import annotations

import asyncio

from ...aliyun.signing import DYVMSAPI
from ...aliyun.client import NOT_SENT, UNKNOWN, AliyunClient, RpcAnswer, explain_common_error
from ...runtime import DeliveryContext
from .request import VoiceRequest
from .numbers import PhoneNumber
from ...result import Delivery
from .sms import new_out_id

__all__ = ["CHANNEL", "ACTION", "VOICE_ERRORS", "explain_voice_code", "place_calls"]

CHANNEL = "voice"
ACTION = "SingleCallByTts"

VOICE_ERRORS: dict[str, str] = {
    "isv.BUSINESS_LIMIT_CONTROL": "flow control: Alibaba calls one number at most once a "
                                  "minute, 5 times an hour and 20 times a day (answered or "
                                  "not); this number hit the limit. Wait, or apply for looser "
                                  "limits in the voice console (dedicated numbers only)",
    "isv.MOBILE_NUMBER_ILLEGAL": "Alibaba refused the called number as malformed",
    "isv.DISPLAY_NUMBER_ILLEGAL": "the caller number (voice.show_number of the SMS profile) is "
                                  "not a number of this account; fix it or leave it blank for "
                                  "the shared number pool",
    "isv.TTS_TEMPLATE_ILLEGAL": "the text-to-speech template (voice.tts_code) is not an "
                                "approved template of this account, or does not fit the call "
                                "mode (shared pool vs dedicated number)",
    "isv.TEMPLATE_ILLEGAL": "the text-to-speech template (voice.tts_code) does not exist",
    "isv.TEMPLATE_MISSING_PARAMETERS": "the template has variables this call did not fill: set "
                                       "voice.tts_param to the variable that carries the text "
                                       "and give the others in voice.tts_constants",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "a template variable has a value the template does not "
                                   "allow; simplify telephonecontext",
    "isv.PARAM_LENGTH_LIMIT": "the text is longer than the template variable allows; shorten "
                              "telephonecontext",
    "isv.PARAM_NOT_SUPPORT_URL": "template variables may not contain links",
    "isv.BLACK_KEY_CONTROL_LIMIT": "the text contains a blocked keyword; reword "
                                   "telephonecontext",
    "isv.INVALID_PARAMETERS": "Alibaba refused a parameter of the call",
    "isv.COMPLAINT_REJECT": "the call was blocked by anti-harassment controls",
    "isv.VOICE_CALL_FAIL": "the call could not be started; see the voice console's statistics",
    "isv.AMOUNT_NOT_ENOUGH": "the account balance is too low: top up the Alibaba Cloud account",
    "isv.OUT_OF_SERVICE": "the service is suspended, usually for an overdue balance",
    "isv.PRODUCT_UN_SUBSCRIPT": "this account has not activated Alibaba Cloud communications",
    "isv.PRODUCT_UNSUBSCRIBE": "this account has not activated the voice service feature",
    "isv.ACCOUNT_NOT_EXISTS": "the account of this AccessKey does not exist",
    "isv.ACCOUNT_ABNORMAL": "the account is abnormal (often an overdue balance)",
    "isp.RAM_PERMISSION_DENY": "the RAM user of this AccessKey lacks voice permission: grant "
                               "it AliyunDyvmsFullAccess",
    "isp.SYSTEM_ERROR": "Alibaba's system failed; the call was not retried automatically",
}


def explain_voice_code(code: str | None) -> str | None:
    if code is None:
        return None
    return VOICE_ERRORS.get(code) or explain_common_error(code)


async def place_calls(request: VoiceRequest, ctx: DeliveryContext, *,
                      out_id: str | None = None) -> list[Delivery]:
    """Call every number of the request once; one delivery per number."""
    client = AliyunClient(request.account, ctx)
    out_id = out_id or new_out_id()
    return list(await asyncio.gather(*(_call(client, request, number, out_id, ctx)
                                       for number in request.numbers)))


async def _call(client: AliyunClient, request: VoiceRequest, number: PhoneNumber, out_id: str,
                ctx: DeliveryContext) -> Delivery:
    template = request.template
    params = {
        "CalledNumber": number.wire,
        "CalledShowNumber": template.show_number or None,   # blank: the shared number pool
        "TtsCode": template.tts_code,
        "TtsParam": template.tts_json(request.text),
        "PlayTimes": template.play_times,
        "Volume": template.volume,
        "Speed": template.speed,
        "OutId": out_id,
    }
    async with ctx.limit:
        answer = await client.call(DYVMSAPI, ACTION, params)
    call_id = str(answer.body.get("CallId") or "") if answer.ok else ""
    return Delivery(CHANNEL, number.display, answer.ok, answer.code, answer.attempts,
                    _detail(answer, out_id), call_id or None)


def _detail(answer: RpcAnswer, out_id: str) -> str:
    if answer.ok:
        return (f"call placed by {answer.endpoint}: CallId {answer.body.get('CallId', '')}, "
                f"RequestId {answer.request_id}, OutId {out_id} (whether it was answered shows "
                "in Alibaba's call receipts)")
    if answer.outcome == UNKNOWN:
        said = f"{answer.error} ({answer.said()})" if answer.body else answer.error
        return (f"outcome unknown, not retried: {said}. SingleCallByTts is not idempotent, so "
                f"the number was not called again; check the voice console's call records "
                f"(OutId {out_id})")
    if answer.outcome == NOT_SENT:
        return f"not called: {answer.error} (attempts: {answer.attempts})"
    hint = explain_voice_code(answer.code)
    said = answer.said()
    return f"not called: {said}: {hint}" if hint else f"not called: {said}"
