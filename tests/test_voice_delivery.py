"""Voice calls through the loopback Alibaba Cloud gateway (SingleCallByTts): one call per
number, the template's settings on the wire, the per-number limit, every error explained."""

import json
from types import SimpleNamespace

import httpx
import pytest
from helpers import SHOW_NUMBER, TTS_TEMPLATE, aliyun_config, free_port, http_answered_by

from notify_message import notify_by_custom
from notify_message.channels.phone.voice import VOICE_ERRORS
from notify_message.channels.phone.request import TTS_PARAM_LIMIT

from testkit.aliyun_server import BUSINESS_MESSAGES

SAY = "web-01 检测到可疑登录"


def ring(config, **params):
    params.setdefault("telephonecontext", SAY)
    return notify_by_custom(params, config)


def test_a_call_carries_the_number_template_text_and_settings(sms_config):
    config, server = sms_config(profile={"voice": {"tts_code": TTS_TEMPLATE,
                                                   "show_number": SHOW_NUMBER,
                                                   "play_times": 3, "volume": 80,
                                                   "speed": -100}})
    result = ring(config, telephone="+86 138 0013 8000")
    [delivery] = result.deliveries
    assert result.status and (delivery.channel, delivery.code) == ("voice", "OK")
    [call] = server.received
    assert call.action == "SingleCallByTts"
    assert {k: call.params[k] for k in ("CalledNumber", "CalledShowNumber", "TtsCode",
                                        "PlayTimes", "Volume", "Speed")} == {
        "CalledNumber": "13800138000", "CalledShowNumber": SHOW_NUMBER,
        "TtsCode": TTS_TEMPLATE, "PlayTimes": "3", "Volume": "80", "Speed": "-100"}
    assert json.loads(call.params["TtsParam"]) == {"content": SAY}
    assert delivery.reference and call.params["OutId"] in delivery.detail


def test_each_number_is_called_once_with_its_own_call_id(sms_config):
    config, server = sms_config()
    result = ring(config, telephone="13800138000, +8613800138000, 057188886666")
    assert [d.target for d in result.deliveries] == ["13800138000", "057188886666"]
    assert sorted(c.params["CalledNumber"] for c in server.received) == [
        "057188886666", "13800138000"]
    assert len({d.reference for d in result.deliveries}) == 2


def test_without_a_show_number_the_call_uses_the_shared_pool(sms_config):
    config, server = sms_config(profile={"voice": {"tts_code": TTS_TEMPLATE}})
    assert ring(config, telephone="13800138000").status
    assert "CalledShowNumber" not in server.received[0].params


def test_a_second_call_to_a_number_within_a_minute_hits_alibabas_limit(sms_config):
    config, _ = sms_config()
    assert ring(config, telephone="13800138000").status
    [delivery] = ring(config, telephone="13800138000").deliveries
    assert delivery.code == "isv.BUSINESS_LIMIT_CONTROL"
    assert "once a minute, 5 times an hour and 20 times a day" in delivery.detail


def test_a_text_too_long_for_ttsparam_is_refused_before_calling(sms_config):
    config, server = sms_config()
    result = ring(config, telephone="13800138000", telephonecontext="长" * TTS_PARAM_LIMIT)
    assert not result.status and result.deliveries == ()
    assert "telephonecontext" in result.message and server.requests == 0


def test_a_text_just_under_the_limit_is_called(sms_config):
    config, server = sms_config()
    room = TTS_PARAM_LIMIT - 1 - len(json.dumps({"content": ""}, separators=(",", ":")))
    assert ring(config, telephone="13800138000", telephonecontext="长" * room).status
    assert len(server.received[0].params["TtsParam"]) == TTS_PARAM_LIMIT - 1


# Every documented SingleCallByTts code becomes a failed call carrying the code and our
# explanation: a table, answered in-process (the loopback gateway answers a business code
# with the same body: the wire test below proves that path once).
@pytest.mark.parametrize("code", sorted(VOICE_ERRORS))
def test_every_documented_voice_error_code_is_a_failed_call_that_explains_it(local_ca, code):
    gateway = SimpleNamespace(url="https://127.0.0.1:%d/" % free_port())
    answer = httpx.Response(200, json={"Code": code, "Message": BUSINESS_MESSAGES.get(code, code),
                                       "RequestId": "8A1B2C3D-0000-4000-8000-000000000002"})
    with http_answered_by(lambda request: answer) as requests:
        [delivery] = ring(aliyun_config(gateway, local_ca), telephone="13800138000").deliveries
    assert (delivery.ok, delivery.code, delivery.reference) == (False, code, None)
    assert VOICE_ERRORS[code] in delivery.detail
    assert len(requests) == 1 and b"Action=SingleCallByTts" in requests[0].content


def test_a_business_error_code_from_the_gateway_is_a_failed_call_that_explains_it(sms_config):
    config, server = sms_config(business_code="isv.TTS_TEMPLATE_ILLEGAL")
    [delivery] = ring(config, telephone="13800138000").deliveries
    assert (delivery.ok, delivery.code, delivery.reference) == (
        False, "isv.TTS_TEMPLATE_ILLEGAL", None)
    assert VOICE_ERRORS["isv.TTS_TEMPLATE_ILLEGAL"] in delivery.detail
    assert server.requests == 1


def test_a_show_number_not_of_the_account_is_explained(sms_config):
    config, _ = sms_config(profile={"voice": {"tts_code": TTS_TEMPLATE,
                                              "show_number": "057199990000"}})
    [delivery] = ring(config, telephone="13800138000").deliveries
    assert delivery.code == "isv.DISPLAY_NUMBER_ILLEGAL" and "show_number" in delivery.detail


def test_a_call_without_an_answer_says_outcome_unknown_not_retried(sms_config):
    config, server = sms_config(aliyun={"timeout": 0.2}, latency=0.5)
    [delivery] = ring(config, telephone="13800138000").deliveries
    assert delivery.detail.startswith("outcome unknown, not retried")
    assert server.requests == 1


def test_sms_and_voice_go_out_together_sharing_one_out_id(sms_config):
    config, server = sms_config()
    result = ring(config, telephone="13800138000", sms=1, smscontext="短信正文")
    assert result.status and [d.channel for d in result.deliveries] == ["sms", "voice"]
    assert len({c.params["OutId"] for c in server.received}) == 1
