"""The shared RPC client against the loopback gateway: what is retried and what is not, how
answers and broken connections are reported, and the endpoint allow-list."""

import asyncio
import json

import pytest
from helpers import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    SIGN_NAME,
    SMS_TEMPLATE,
    aliyun_config,
    free_port,
)

from notify_message import ConfigError, PackConfig
from notify_message.aliyun.client import (
    ANSWERED,
    NOT_SENT,
    UNKNOWN,
    AliyunClient,
    explain_common_error,
)
from notify_message.aliyun.signing import DYSMSAPI
from notify_message.runtime import DeliveryContext
from notify_message.result import Redactor

SEND = {"PhoneNumbers": "13800138000", "SignName": SIGN_NAME, "TemplateCode": SMS_TEMPLATE,
        "TemplateParam": '{"content":"x"}'}


def call(config, *, idempotent=False, params=SEND):
    pack = PackConfig.from_mapping(config)

    async def run():
        async with DeliveryContext(Redactor(pack.secrets()), 4) as ctx:
            return await AliyunClient(pack.aliyun, ctx).call(DYSMSAPI, "SendSms", params,
                                                             idempotent=idempotent)

    return asyncio.run(run())


@pytest.fixture
def gateway(aliyun_server, local_ca):
    def make(aliyun=None, **behaviour):
        server = aliyun_server(**behaviour)
        return aliyun_config(server, local_ca, **(aliyun or {})), server

    return make


def test_a_signed_call_is_answered_ok_over_https(gateway):
    config, server = gateway()
    answer = call(config)
    assert (answer.outcome, answer.ok, answer.code, answer.attempts) == (ANSWERED, True, "OK", 1)
    assert answer.body["BizId"] and answer.request_id
    [received] = server.received
    assert received.method == "POST" and received.params["PhoneNumbers"] == "13800138000"


def test_a_refused_connection_is_not_sent_and_retried_up_to_the_configured_count(gateway):
    config, _ = gateway()
    url = "http://127.0.0.1:%d/" % free_port()
    config["aliyun"]["endpoints"]["dysmsapi"] = url
    config["aliyun"]["retries"] = 2
    answer = call(config)
    assert (answer.outcome, answer.attempts, answer.ok) == (NOT_SENT, 3, False)
    assert "could not connect" in answer.error


def test_api_throttling_is_retried_with_a_fresh_nonce(gateway):
    config, server = gateway(throttle_first=2)
    answer = call(config)
    assert answer.ok and answer.attempts == 3 and server.requests == 3
    assert len(server.received) == 1  # throttled requests never ran


def test_throttling_that_outlasts_the_retries_is_reported_with_its_code(gateway):
    config, server = gateway(aliyun={"retries": 1}, throttle_first=5)
    answer = call(config)
    assert (answer.code, answer.status, answer.attempts) == ("Throttling.User", 400, 2)
    assert server.received == []


def test_no_answer_within_the_timeout_is_unknown_and_not_sent_again(gateway):
    config, server = gateway(aliyun={"timeout": 0.2}, latency=0.5)
    answer = call(config)
    assert (answer.outcome, answer.attempts) == (UNKNOWN, 1)
    assert "no answer" in answer.error and server.requests == 1


def test_a_connection_dropped_after_the_request_is_unknown_and_not_sent_again(gateway):
    config, server = gateway(drop_first=1)
    answer = call(config)
    assert (answer.outcome, answer.attempts, server.requests) == (UNKNOWN, 1, 1)


def test_an_http_500_is_unknown_and_not_sent_again(gateway):
    config, server = gateway(http_500_first=1)
    answer = call(config)
    assert (answer.outcome, answer.status, answer.code, server.requests) == (
        UNKNOWN, 500, "InternalError", 1)


def test_an_idempotent_call_is_sent_again_after_an_unknown_outcome(gateway):
    config, server = gateway(drop_first=1)
    answer = call(config, idempotent=True)
    assert answer.ok and answer.attempts == 2 and server.requests == 2


def test_an_unknown_access_key_id_is_the_gateways_404(gateway):
    config, _ = gateway()
    config["aliyun"]["access_key_id"] = "LTAI5tNoSuchKey0000"
    answer = call(config)
    assert (answer.status, answer.code) == (404, "InvalidAccessKeyId.NotFound")
    assert "access_key_id" in explain_common_error(answer.code)


def test_a_wrong_secret_is_signature_does_not_match_without_echoing_the_string_to_sign(gateway):
    config, _ = gateway()
    config["aliyun"]["access_key_secret"] = "wrong-" + ALIYUN_SECRET
    answer = call(config)
    assert (answer.status, answer.code) == (400, "SignatureDoesNotMatch")
    text = json.dumps(dict(answer.body)) + answer.said()
    assert "string to sign" not in text and ALIYUN_KEY_ID not in text


def test_a_clock_more_than_15_minutes_off_is_explained(gateway):
    config, _ = gateway(clock_offset=3600)
    answer = call(config)
    assert answer.code == "InvalidTimeStamp.Expired"
    assert "clock" in explain_common_error(answer.code)


@pytest.mark.parametrize("endpoint, ok", [
    ("dysmsapi.aliyuncs.com", True),
    ("https://dysmsapi.ap-southeast-1.aliyuncs.com", True),
    ("http://dysmsapi.aliyuncs.com", False),       # Alibaba Cloud only over https
    ("https://sms.example.com", False),            # not listed as allowed
    ("https://dysmsapi.aliyuncs.com.evil.com", False),
    ("ftp://dysmsapi.aliyuncs.com", False),
])
def test_endpoints_outside_aliyuncs_com_need_to_be_listed(endpoint, ok):
    section = {"access_key_id": "id", "access_key_secret": "secret",
               "endpoints": {"dysmsapi": endpoint}}
    if ok:
        PackConfig.from_mapping({"aliyun": section})
    else:
        with pytest.raises(ConfigError) as err:
            PackConfig.from_mapping({"aliyun": section})
        assert err.value.key == "aliyun.endpoints.dysmsapi"


def test_a_listed_host_may_be_used_even_over_http():
    section = {"access_key_id": "id", "access_key_secret": "secret",
               "endpoints": {"dysmsapi": "http://sms-relay.corp:8080"},
               "allowed_endpoint_hosts": ["sms-relay.corp"]}
    account = PackConfig.from_mapping({"aliyun": section}).aliyun
    assert account.url(DYSMSAPI) == "http://sms-relay.corp:8080/"


def test_an_unknown_product_in_endpoints_is_refused_by_key():
    with pytest.raises(ConfigError) as err:
        PackConfig.from_mapping({"aliyun": {"access_key_id": "i", "access_key_secret": "s",
                                            "endpoints": {"dysms": "dysmsapi.aliyuncs.com"}}})
    assert err.value.key == "aliyun.endpoints.dysms" and "dysmsapi" in str(err.value)
