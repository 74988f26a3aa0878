"""The DingTalk outgoing robot's requests, verified: signature, one-hour window, replays."""

import os
from types import SimpleNamespace

import pytest
import yaml
from helpers import INBOUND_NOW as NOW
from helpers import PACK_DIR
from helpers import inbound_body as body
from notify_message import ConfigError, PackConfig
from notify_message.channels.dingtalk.inbound import (
    SIGNATURE_WINDOW_MS,
    DingTalkInboundConfig,
    InboundEndpoint,
    InboundMessage,
    InboundRejected,
    InboundVerifier,
    ReplayGuard,
    outgoing_sign,
)

SECRET = "SECoutgoing-app-secret-0123456789"


def signed(timestamp=NOW, secret=SECRET):
    return {"timestamp": str(timestamp), "sign": outgoing_sign(str(timestamp), secret)}


def verifier(**kwargs):
    return InboundVerifier(SECRET, clock_ms=lambda: NOW, **kwargs)


@pytest.mark.parametrize("timestamp, secret, expected", [
    # the custom robot signing vectors of shared/DESIGN.md section 4, without their
    # urlencoding: the same HMAC
    ("1700000000000", "SECtest", "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="),
    ("1700000000000", "SECx", "rgcjbH+yFyES+S0llX+cAPCwVRpsr7sbiX5Lnyo/ocU="),
])
def test_outgoing_sign_matches_the_design_notes_vectors(timestamp, secret, expected):
    assert outgoing_sign(timestamp, secret) == expected


def test_a_correctly_signed_fresh_request_becomes_a_message():
    message = verifier().handle(signed(), body())
    assert message.to_payload() == {
        "msgId": "msg-1", "text": "deploy status", "msgtype": "text", "senderNick": "Li Lei",
        "senderStaffId": "staff-7", "senderId": "$:LWCP:x", "conversationId": "cid-1",
        "conversationTitle": "SOC", "conversationType": "2", "isAdmin": True,
        "isInAtList": True,
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=s1",
        "sessionWebhookExpiredTime": NOW + 5_400_000, "createAt": NOW - 20,
        "robotCode": "normal"}


@pytest.mark.parametrize("headers, status, reason", [
    ({}, 401, "header is missing"),
    ({"timestamp": str(NOW)}, 401, "header is missing"),
    ({"timestamp": "yesterday", "sign": "x"}, 401, "not milliseconds"),
    (signed(secret="SECsomeone-else"), 401, "signature does not match"),
    ({"timestamp": str(NOW), "sign": outgoing_sign(str(NOW + 1), SECRET)}, 401,
     "signature does not match"),
    (signed(NOW - SIGNATURE_WINDOW_MS - 1), 401, "more than one hour"),
    (signed(NOW + SIGNATURE_WINDOW_MS + 1), 401, "more than one hour"),
], ids=["no-headers", "no-sign", "bad-timestamp", "forged", "sign-for-other-time", "stale",
        "future"])
def test_a_request_that_is_not_genuine_is_refused(headers, status, reason):
    with pytest.raises(InboundRejected) as refused:
        verifier().handle(headers, body())
    assert refused.value.status == status and reason in refused.value.reason


@pytest.mark.parametrize("offset", [-SIGNATURE_WINDOW_MS, SIGNATURE_WINDOW_MS])
def test_a_timestamp_exactly_one_hour_off_is_still_accepted(offset):
    assert verifier().handle(signed(NOW + offset), body()).msg_id == "msg-1"


def test_header_names_are_matched_case_insensitively():
    headers = {k.title(): v for k, v in signed().items()}
    assert verifier().handle(headers, body()).msg_id == "msg-1"


def test_a_replayed_msg_id_is_refused_even_with_fresh_headers():
    check = verifier()
    check.handle(signed(), body())
    with pytest.raises(InboundRejected) as refused:
        check.handle(signed(NOW - 5), body(text={"content": "something else"}))
    assert refused.value.status == 409 and "msg-1" in refused.value.reason


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (body(msgId=None), "no msgId"),
    (body(msgId="  "), "no msgId"),
    (body(senderNick={"a": 1}), "senderNick in the body is not text"),
])
def test_a_signed_request_with_a_malformed_body_is_refused(raw, reason):
    with pytest.raises(InboundRejected) as refused:
        verifier().handle(signed(), raw)
    assert refused.value.status == 400 and reason in refused.value.reason


def test_no_refusal_reason_contains_the_secret_or_a_signature():
    headers = signed(NOW - 2 * SIGNATURE_WINDOW_MS)
    forged = {"timestamp": str(NOW), "sign": outgoing_sign(str(NOW), "SECother")}
    reasons = []
    for attempt in (headers, forged):
        with pytest.raises(InboundRejected) as refused:
            verifier().handle(attempt, body())
        reasons.append(str(refused.value))
    for text in reasons:
        assert SECRET not in text
        assert headers["sign"] not in text and forged["sign"] not in text
        assert outgoing_sign(str(NOW), SECRET) not in text


def test_rich_text_messages_carry_their_text_parts():
    raw = body(msgtype="richText", text=None,
               content={"richText": [{"text": "status "}, {"downloadCode": "x"},
                                     {"text": "web-01"}]})
    assert verifier().handle(signed(), raw).text == "status web-01"


def test_replay_guard_forgets_msg_ids_after_their_time_to_live():
    guard = ReplayGuard(capacity=10, ttl_ms=1000)
    assert guard.first_time("a", now_ms=0)
    assert not guard.first_time("a", now_ms=999)
    assert guard.first_time("a", now_ms=2000)


def test_replay_guard_is_bounded_and_drops_the_oldest_first():
    guard = ReplayGuard(capacity=2, ttl_ms=10_000)
    for msg_id in ("a", "b", "c"):
        assert guard.first_time(msg_id, now_ms=1)
    assert len(guard) == 2
    assert not guard.first_time("c", now_ms=2) and guard.first_time("a", now_ms=2)


def request(path="/dingtalk/outgoing", method="POST", headers=None, raw=None):
    return SimpleNamespace(method=method, path=path, body=body() if raw is None else raw,
                           headers=signed() if headers is None else headers, client="10.0.0.9")


def endpoint(dispatch, logs=None):
    config = DingTalkInboundConfig.from_mapping({"port": 8765, "app_secret": SECRET})
    return InboundEndpoint(config, dispatch, verifier=verifier(),
                           log=(logs.append if logs is not None else None))


def test_the_endpoint_dispatches_a_genuine_message_and_answers_200():
    dispatched = []
    assert endpoint(dispatched.append)(request()) == (200, {})
    assert [m.msg_id for m in dispatched] == ["msg-1"]


@pytest.mark.parametrize("path, method, status", [
    ("/other", "POST", 404), ("/dingtalk/outgoing/x", "POST", 404),
    ("/dingtalk/outgoing", "GET", 405), ("/dingtalk/outgoing?x=1", "POST", 200),
])
def test_the_endpoint_routes_on_path_and_method(path, method, status):
    assert endpoint(lambda m: None)(request(path=path, method=method))[0] == status


def test_a_message_that_cannot_be_dispatched_is_answered_503_and_may_be_retried():
    failures = [ConnectionError("bus down")]

    def dispatch(message):
        if failures:
            raise failures.pop()

    logs = []
    handle = endpoint(dispatch, logs)
    assert handle(request())[0] == 503
    assert handle(request()) == (200, {})  # DingTalk's retry is not taken for a replay
    assert "ConnectionError" in logs[0]


def test_the_endpoint_logs_refusals_with_the_client_and_reason_only():
    logs = []
    forged = {"timestamp": str(NOW), "sign": outgoing_sign(str(NOW), "SECother")}
    assert endpoint(lambda m: None, logs)(request(headers=forged))[0] == 401
    assert logs == ["refused a DingTalk request from 10.0.0.9: the signature does not match "
                    "the AppSecret"]


@pytest.mark.parametrize("section, key", [
    ({"app_secret": SECRET}, "dingtalk_inbound.port"),
    ({"app_secret": SECRET, "port": 0}, "dingtalk_inbound.port"),
    ({"app_secret": SECRET, "port": "8765"}, "dingtalk_inbound.port"),
    ({"port": 8765}, "dingtalk_inbound.app_secret"),
    ({"port": 8765, "app_secret": SECRET, "path": "dingtalk"}, "dingtalk_inbound.path"),
    ({"port": 8765, "app_secret": SECRET, "path": "/a?b"}, "dingtalk_inbound.path"),
])
def test_a_broken_dingtalk_inbound_section_is_reported_by_key(section, key):
    with pytest.raises(ConfigError) as broken:
        PackConfig.from_mapping({"dingtalk_inbound": section})
    assert broken.value.key == key and SECRET not in str(broken.value)


def test_the_app_secret_is_a_pack_secret_and_stays_out_of_repr():
    config = PackConfig.from_mapping({"dingtalk_inbound": {"port": 8765, "app_secret": SECRET}})
    assert SECRET in config.secrets()
    assert SECRET not in repr(config)


def test_an_empty_section_as_st2_fills_it_in_means_not_configured():
    assert PackConfig.from_mapping({"dingtalk_inbound": {}}).dingtalk_inbound is None


def test_the_config_schema_declares_no_defaults_that_would_switch_the_listener_on():
    # st2 creates a missing object section from its properties' defaults
    with open(os.path.join(PACK_DIR, "config.schema.yaml")) as f:
        section = yaml.safe_load(f)["dingtalk_inbound"]["properties"]
    assert [name for name, prop in section.items() if "default" in prop] == []


def test_inbound_message_needs_only_a_msg_id():
    message = InboundMessage.from_body({"msgId": "m"})
    assert message.text == "" and message.session_webhook_expired_time is None
