"""The Alibaba Cloud RPC signature: Alibaba's published worked examples, and agreement with
the loopback gateway's independent computation."""

import pytest

from notify_message.aliyun.signing import (
    DYSMSAPI,
    canonical_query,
    percent_encode,
    rpc_signature,
    sign_params,
    string_to_sign,
)
from testkit.aliyun_server import independent_signature

# The RPC signature documentation's example (ECS DescribeRegions, AccessKeyId testid,
# AccessKeySecret testsecret), with its published string to sign and signature.
ECS_EXAMPLE = {
    "AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
    "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
}
ECS_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
    "%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z"
    "%26Version%3D2014-05-26"
)
ECS_SIGNATURE = "OLeaidS1JvxuMvnyHOwuJ+uX5qY="

# The SMS signature documentation's example (SendSms, AccessKeyId testId, secret testSecret,
# a Chinese SignName), with its published signature.
SMS_EXAMPLE = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
    "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
SMS_SIGNATURE = "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_the_published_ecs_example_gives_its_string_to_sign():
    assert string_to_sign("GET", ECS_EXAMPLE) == ECS_STRING_TO_SIGN


def test_the_published_ecs_example_gives_its_signature():
    assert rpc_signature("GET", ECS_EXAMPLE, "testsecret") == ECS_SIGNATURE


def test_the_published_sms_example_with_a_chinese_sign_name_gives_its_signature():
    assert rpc_signature("GET", SMS_EXAMPLE, "testSecret") == SMS_SIGNATURE


def test_the_signature_parameter_itself_is_not_signed():
    signed = dict(ECS_EXAMPLE, Signature="anything")
    assert rpc_signature("GET", signed, "testsecret") == ECS_SIGNATURE


@pytest.mark.parametrize("text, encoded", [
    ("AZaz09-_.~", "AZaz09-_.~"),
    (" ", "%20"),             # never "+"
    ("*", "%2A"),
    ("+", "%2B"),
    ("/", "%2F"),
    ("=&", "%3D%26"),
    ("中", "%E4%B8%AD"),
    ('{"a":"b"}', "%7B%22a%22%3A%22b%22%7D"),
])
def test_percent_encoding_follows_rfc_3986(text, encoded):
    assert percent_encode(text) == encoded


def test_the_canonical_query_is_sorted_by_name():
    assert canonical_query({"b": "2", "a": "1 1", "C": "3"}) == "C=3&a=1%201&b=2"


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_signed_request_verifies_with_the_gateways_independent_computation(method):
    params = {"PhoneNumbers": "13800138000,85261234567", "SignName": "云安全中心",
              "TemplateParam": '{"content":"主机 web-01 *可疑* 登录 ~ 100% + 1"}'}
    signed = sign_params(method, DYSMSAPI, "SendSms", params, "LTAIkey", "s3cret")
    expected, _ = independent_signature(method, signed, "s3cret")
    assert signed["Signature"] == expected


def test_sign_params_sets_every_common_parameter():
    signed = sign_params("POST", DYSMSAPI, "SendSms", {"OutId": None, "PlayTimes": 2}, "id", "s",
                         timestamp=0, nonce="n-1")
    assert {k: signed[k] for k in ("AccessKeyId", "Action", "Format", "SignatureMethod",
                                   "SignatureNonce", "SignatureVersion", "Timestamp",
                                   "Version")} == {
        "AccessKeyId": "id", "Action": "SendSms", "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "n-1", "SignatureVersion": "1.0",
        "Timestamp": "1970-01-01T00:00:00Z", "Version": DYSMSAPI.version}
    assert signed["PlayTimes"] == "2" and "OutId" not in signed  # None means "leave out"


def test_the_method_is_part_of_what_is_signed():
    assert rpc_signature("GET", ECS_EXAMPLE, "k") != rpc_signature("POST", ECS_EXAMPLE, "k")
