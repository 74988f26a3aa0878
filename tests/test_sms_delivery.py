"""SMS delivered through the loopback Alibaba Cloud gateway (SendSms), and every answer it
can give turned into a delivery that says what happened and what to do."""

import json
import logging
from types import SimpleNamespace

import httpx
import pytest
from helpers import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    SIGN_NAME,
    SMS_TEMPLATE,
    aliyun_config,
    free_port,
    http_answered_by,
)

from notify_message import notify_by_custom
from notify_message.aliyun.client import explain_common_error
from notify_message.channels.phone.sms import MAX_NUMBERS_PER_REQUEST, SMS_ERRORS

from testkit.aliyun_server import BUSINESS_MESSAGES

TEXT = "【告警】主机 web-01 检测到可疑登录，请立即处理"


def text(config, **params):
    params.setdefault("sms", 1)
    params.setdefault("smscontext", TEXT)
    return notify_by_custom(params, config)


def test_an_sms_is_sent_with_the_profiles_signature_template_and_text(sms_config):
    config, server = sms_config()
    result = text(config, telephone="+86 138 0013 8000")
    assert result.status
    [delivery] = result.deliveries
    assert (delivery.channel, delivery.target, delivery.code) == ("sms", "13800138000", "OK")
    [call] = server.received
    assert call.action == "SendSms"
    assert (call.params["PhoneNumbers"], call.params["SignName"],
            call.params["TemplateCode"]) == ("13800138000", SIGN_NAME, SMS_TEMPLATE)
    assert json.loads(call.params["TemplateParam"]) == {"content": TEXT}
    assert call.params["OutId"] in delivery.detail


def test_each_number_gets_the_requests_code_and_bizid(sms_config):
    config, server = sms_config()
    result = text(config, telephone="13800138000,13900139000,+85261234567")
    targets = [d.target for d in result.deliveries]
    assert targets == ["13800138000", "13900139000", "+85261234567"]
    shared = {(d.code, d.reference) for d in result.deliveries}
    assert shared == {("OK", result.deliveries[0].reference)}
    assert result.deliveries[0].reference and len(server.received) == 1
    assert server.received[0].params["PhoneNumbers"] == "13800138000,13900139000,85261234567"


def test_more_numbers_than_one_request_takes_go_out_in_batches(sms_config):
    config, server = sms_config()
    numbers = ["139%08d" % i for i in range(MAX_NUMBERS_PER_REQUEST + 1)]
    result = text(config, telephone=numbers)
    assert result.status and len(result.deliveries) == len(numbers)
    sizes = sorted(len(c.params["PhoneNumbers"].split(",")) for c in server.received)
    assert sizes == [1, MAX_NUMBERS_PER_REQUEST]


def test_template_constants_fill_the_templates_other_variables(sms_config):
    config, server = sms_config(profile={"template_constants": {"product": "SOC"}},
                                sms_templates={SMS_TEMPLATE: ("product", "content")})
    assert text(config, telephone="13800138000").status
    assert json.loads(server.received[0].params["TemplateParam"]) == {"product": "SOC",
                                                                      "content": TEXT}


def test_a_template_variable_left_unfilled_is_explained(sms_config):
    config, _ = sms_config(sms_templates={SMS_TEMPLATE: ("product", "content")})
    [delivery] = text(config, telephone="13800138000").deliveries
    assert delivery.code == "isv.TEMPLATE_MISSING_PARAMETERS"
    assert "template_constants" in delivery.detail


def business_answer(code):
    """SendSms's answer with a business error: HTTP 200 and Code set, as the gateway gives it."""
    return lambda request: httpx.Response(200, json={
        "Code": code, "Message": BUSINESS_MESSAGES.get(code, code),
        "RequestId": "8A1B2C3D-0000-4000-8000-000000000001"})


# Every documented SendSms code becomes a failed delivery carrying the code and our
# explanation: a table, answered in-process (the loopback gateway answers a business code
# with the same body: the wire test below proves that path once).
@pytest.mark.parametrize("code", sorted(SMS_ERRORS))
def test_every_documented_sms_error_code_is_a_failed_delivery_that_explains_it(local_ca, code):
    gateway = SimpleNamespace(url="https://127.0.0.1:%d/" % free_port())
    with http_answered_by(business_answer(code)) as requests:
        result = text(aliyun_config(gateway, local_ca), telephone="13800138000")
    [delivery] = result.deliveries
    assert (delivery.ok, delivery.code, delivery.reference) == (False, code, None)
    assert SMS_ERRORS[code] in delivery.detail and not result.status
    assert len(requests) == 1 and b"Action=SendSms" in requests[0].content


def test_a_business_error_code_from_the_gateway_is_a_failed_delivery_that_explains_it(
        sms_config):
    config, server = sms_config(business_code="isv.AMOUNT_NOT_ENOUGH")
    result = text(config, telephone="13800138000")
    [delivery] = result.deliveries
    assert (delivery.ok, delivery.code, delivery.reference) == (
        False, "isv.AMOUNT_NOT_ENOUGH", None)
    assert SMS_ERRORS["isv.AMOUNT_NOT_ENOUGH"] in delivery.detail and not result.status
    assert BUSINESS_MESSAGES["isv.AMOUNT_NOT_ENOUGH"] in delivery.detail  # Alibaba's words
    assert server.requests == 1


def test_flow_control_on_one_number_fails_only_its_batch(sms_config):
    config, _ = sms_config(number_codes={"13900139000": "isv.BUSINESS_LIMIT_CONTROL"})
    result = text(config, telephone="13900139000")
    [delivery] = result.deliveries
    assert delivery.code == "isv.BUSINESS_LIMIT_CONTROL" and "flow control" in delivery.detail
    assert "触发分钟级流控" in delivery.detail  # Alibaba's own words are kept


@pytest.mark.parametrize("config_change, code", [
    ({"access_key_id": "LTAI5tNoSuchKey0000"}, "InvalidAccessKeyId.NotFound"),
    ({"access_key_secret": "not-the-secret"}, "SignatureDoesNotMatch"),
])
def test_credential_errors_from_the_gateway_are_explained(sms_config, config_change, code):
    config, _ = sms_config()
    config["aliyun"].update(config_change)
    [delivery] = text(config, telephone="13800138000").deliveries
    assert delivery.code == code and explain_common_error(code) in delivery.detail


def test_a_send_without_an_answer_says_outcome_unknown_not_retried(sms_config):
    config, server = sms_config(aliyun={"timeout": 0.2}, latency=0.5)
    [delivery] = text(config, telephone="13800138000").deliveries
    assert not delivery.ok and delivery.code is None and delivery.attempts == 1
    assert delivery.detail.startswith("outcome unknown, not retried")
    assert server.requests == 1


def test_an_unreachable_gateway_is_not_sent_after_the_retries(sms_config):
    config, server = sms_config(aliyun={"retries": 1})
    config["aliyun"]["endpoints"]["dysmsapi"] = "https://127.0.0.1:%d/" % free_port()
    [delivery] = text(config, telephone="13800138000").deliveries
    assert delivery.detail.startswith("not sent: could not connect") and delivery.attempts == 2


def test_the_access_key_pair_never_shows_in_results_or_logs(sms_config, caplog):
    caplog.set_level(logging.DEBUG)
    config, server = sms_config()
    config["aliyun"]["access_key_secret"] = ALIYUN_SECRET + "x"
    result = text(config, telephone="13800138000")
    shown = json.dumps(result.to_dict(), ensure_ascii=False) + caplog.text
    for secret in (ALIYUN_SECRET, ALIYUN_KEY_ID):
        assert secret not in shown
    assert result.deliveries[0].code == "SignatureDoesNotMatch"


def test_smscontext_falls_back_to_telephonecontext(sms_config):
    config, server = sms_config(voice=False)
    result = notify_by_custom({"telephone": "13800138000", "telephonecontext": TEXT}, config)
    assert [d.channel for d in result.deliveries] == ["sms"] and result.status
    assert json.loads(server.received[0].params["TemplateParam"]) == {"content": TEXT}


def test_sms_names_a_profile(sms_config):
    config, server = sms_config()
    second = dict(config["sms_profiles"][0], name="night", sign_name="夜间值班")
    config["sms_profiles"].append(second)
    server.update(sign_names=server.behaviour.sign_names + ("夜间值班",))
    assert text(config, telephone="13800138000", sms="night").status
    assert server.received[0].params["SignName"] == "夜间值班"
