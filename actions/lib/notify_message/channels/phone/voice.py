"""Voice calls through Alibaba Cloud voice (SingleCallByTts, Dyvmsapi 2017-05-25).

One call per number (the API takes one CalledNumber per request), each reading the
profile's text-to-speech template with the text in its variable.  Alibaba throttles each
called number to 1 call a minute, 5 an hour and 20 a day, answered or not, so a number is
called once per notification however often it is listed, and a refused call is never
repeated: like SendSms, SingleCallByTts is not idempotent.
"""

from __future__ import annotations

import asyncio

from ...aliyun.client import AliyunClient, answer_delivery
from ...aliyun.signing import DYVMSAPI
from ...result import Channel, Delivery
from ...runtime import DeliveryContext, guarded, report
from .codes import VOICE_ERRORS, explain_voice_code
from .numbers import PhoneNumber
from .message import VoiceRequest
from .sms import new_out_id

__all__ = ["CHANNEL", "ACTION", "VOICE_ERRORS", "explain_voice_code", "place_calls", "call_params"]

CHANNEL = Channel.VOICE
ACTION = "SingleCallByTts"


async def place_calls(request: VoiceRequest, ctx: DeliveryContext, *,
                      out_id: str | None = None) -> list[Delivery]:
    """Call every number of the request once; one delivery per number."""
    client = AliyunClient(request.account, ctx)
    call_out_id = out_id or new_out_id()

    async def one(number: PhoneNumber) -> list[Delivery]:
        return [report(await _call(client, request, number, call_out_id, ctx))]

    batches = await asyncio.gather(*(guarded(CHANNEL, [number.display], one(number))
                                     for number in request.numbers))
    return [delivery for batch in batches for delivery in batch]


def call_params(request: VoiceRequest, number: PhoneNumber, out_id: str
                ) -> dict[str, str | int | None]:
    """SingleCallByTts's own parameters for one number (None: left out of the request)."""
    template = request.template
    return {
        "CalledNumber": number.wire,
        "CalledShowNumber": template.show_number or None,   # blank: the shared number pool
        "TtsCode": template.tts_code,
        "TtsParam": template.tts_json(request.text),
        "PlayTimes": template.play_times,
        "Volume": template.volume,
        "Speed": template.speed,
        "OutId": out_id,
    }


async def _call(client: AliyunClient, request: VoiceRequest, number: PhoneNumber, out_id: str,
                ctx: DeliveryContext) -> Delivery:
    params = call_params(request, number, out_id)
    async with ctx.limit:
        answer = await client.call(DYVMSAPI, ACTION, params)
    call_id = str(answer.body.get("CallId") or "")
    return answer_delivery(
        answer, CHANNEL, number.display, action=ACTION, explain=explain_voice_code,
        accepted=(f"call placed by {answer.endpoint}: CallId {call_id}, RequestId "
                  f"{answer.request_id}, OutId {out_id} (whether it was answered shows in "
                  "Alibaba's call receipts)"),
        check_before_resending=f"check the voice console's call records (OutId {out_id})",
        reference=call_id or None)
