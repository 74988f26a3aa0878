"""Hostile servers: SMTP, DingTalk, Alibaba Cloud (SMS, voice, SOAR) and st2's API answering
what no honest server would.  Whatever they do the call returns a result within bounded
time, every target has a delivery with the right outcome (what may have reached the service
is ``outcome unknown``, never ``failed``; SMS, voice, SOAR and mail are never sent twice), and
no secret shows in the result or the logs, even when the server echoes it back.

One scripted HTTP(S) server and one scripted SMTP server (testkit/hostile_server.py, modes
http-script and smtp-script) serve the whole module: each test gives them a script under a
tag of its own and reads back what arrived under that tag."""

import base64
import datetime
import json
import logging
import threading
import time
import uuid

import pytest
import trustme
from helpers import SMTP_CODE, SMTP_LOGIN
from notify_message import notify_by_custom
from notify_message.notifier import notify_by_message_center
from notify_message.result import Outcome
from testkit.hostile_server import HostileServer

WITHIN = 10.0          # seconds a call may take against a server that would hold it for 10 s
TIMEOUT = 0.5          # every client timeout of the module
TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
ROBOT_SECRET = "SECb7e1c0f2a9d84e3f8c6a5b4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3"
KEY_ID, KEY_SECRET = "LTAI5tHostileKeyId42", "hK9sQ2vL7xN4pR8tW1zB6mC3fJ0dGy"
PLAYBOOK_UUID = "c5c88b5e-97ca-435d-8c20-000000000001"
SECRETS = (SMTP_CODE, TOKEN, ROBOT_SECRET, KEY_ID, KEY_SECRET)


# --- servers, certificates, configs -----------------------------------------------------

@pytest.fixture(scope="module")
def bad_certs(local_ca, tmp_path_factory):
    """PEMs the clients must refuse: another host's name, expired, and self-signed (issued by
    a CA the client was not told to trust), each for 127.0.0.1 unless said otherwise."""
    directory = tmp_path_factory.mktemp("bad-certs")
    # the wrong-host and expired certificates come from a CA of their own, which the test
    # then trusts through ca_bundle (the returned bundle): only the name or the dates are wrong
    ca = trustme.CA()
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    made = {
        "wrong-host": ca.issue_cert("other.example"),
        "expired": ca.issue_cert("127.0.0.1", not_before=past,
                                 not_after=past + datetime.timedelta(days=1)),
        "self-signed": trustme.CA().issue_cert("127.0.0.1"),
    }
    pems = {}
    for name, cert in made.items():
        path = directory / (name + ".pem")
        cert.private_key_and_cert_chain_pem.write_to_path(str(path))
        pems[name] = str(path)
    bundle = directory / "trusted.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return pems, str(bundle)


@pytest.fixture(scope="module")
def http_server():
    with HostileServer("http-script") as server:
        yield server


@pytest.fixture(scope="module")
def smtp_server():
    with HostileServer("smtp-script") as server:
        yield server


@pytest.fixture
def tag():
    return uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog):
    """Every test of the module: no secret in what was logged, at any level."""
    caplog.set_level(logging.DEBUG)
    yield
    text = caplog.text
    assert not [s for s in SECRETS if s.lower() in text.lower()], "a secret was logged"


def no_secret_in(result):
    shown = json.dumps(result.to_dict(), ensure_ascii=True)
    raw = str(result.to_dict())
    leaked = [s for s in SECRETS if s.lower() in (shown + raw).lower()]
    assert not leaked, f"secrets shown: {leaked}"


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def http(status="200 OK", body="", headers=""):
    """An HTTP/1.1 answer with its Content-Length."""
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}"
            "Content-Length: {length}\r\nConnection: close\r\n\r\n" + body)


def robot_config(server, local_ca, **settings):
    return dict({
        "dingtalk_robots": [{"name": "oncall", "default": True, "secret": ROBOT_SECRET,
                             "webhook": "https://127.0.0.1:%d/robot/send?access_token=%s"
                                        % (server.port, TOKEN)}],
        "dingtalk_allowed_hosts": ["127.0.0.1:%d" % server.port],
        "dingtalk_ca_bundle": local_ca.ca_file, "dingtalk_timeout": TIMEOUT,
        "dingtalk_retry_seconds": 0, "dingtalk_retry_backoff": 0.01}, **settings)


def ding(config):
    return notify_by_custom({"dingding": 1, "dingdingcontext": "alert"}, config)


def aliyun_config(server, local_ca, soar=False, **aliyun):
    url = "https://127.0.0.1:%d/" % server.port
    config = {
        "aliyun": dict({"access_key_id": KEY_ID, "access_key_secret": KEY_SECRET,
                        "timeout": TIMEOUT, "retries": 2, "retry_backoff": 0,
                        "ca_bundle": local_ca.ca_file,
                        "endpoints": {"dysmsapi": url, "dyvmsapi": url, "sophonsoar": url},
                        "allowed_endpoint_hosts": ["127.0.0.1"]}, **aliyun),
        "sms_profiles": [{"name": "oncall", "sign_name": "SOC", "template_code": "SMS_1",
                          "voice": {"tts_code": "TTS_1", "show_number": "057112345678"}}],
    }
    if soar:
        config["message_center"] = {"provider": "aliyun_soar", "aliyun_soar": {
            "playbook_uuid": PLAYBOOK_UUID, "node_name": "NotifyMessage_1"}}
    return config


def text_message(config, numbers="13800138000"):
    return notify_by_custom({"telephone": numbers, "sms": 1, "smscontext": "alert"}, config)


def call_out(config, numbers="13800138000"):
    return notify_by_custom({"telephone": numbers, "sms": 0, "telephonecontext": "alert"},
                            config)


def relay(config):
    return notify_by_message_center({
        "aliuid": "1766", "eventId": "yundun_soar_incident_generate",
        "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}, config)


def mail_config(server, local_ca, tls="implicit", **instance):
    return {"smtp_instances": [dict({
        "assetname": "soc", "emailSendServer": "127.0.0.1:%d" % server.port,
        "emailUsername": SMTP_LOGIN, "emailPassword": SMTP_CODE, "tls": tls,
        "ca_bundle": local_ca.ca_file, "timeout": TIMEOUT}, **instance)]}


def mail(config, receivers="a@163.com"):
    return notify_by_custom({"receivers": receivers, "emailcontext": "alert"}, config)


def smtp_script(server, local_ca, tag, tls=True, **replies):
    server.script(tag, replies=replies, tls=local_ca.server_pem if tls else "", hold=10)


def verbs(server, tag):
    return [r["verb"] for r in server.records("command", tag)]


# --- SMTP ---------------------------------------------------------------------------------

def test_smtp_a_huge_multi_line_ehlo_answer_is_cut_and_nothing_is_sent(
        smtp_server, local_ca, tag):
    smtp_script(smtp_server, local_ca, tag, EHLO="@flood:250-" + "X" * 200 + "\r\n")
    result, seconds = timed(lambda: mail(mail_config(smtp_server, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.NOT_SENT
    assert len(delivery.detail) < 2000 and "AUTH" not in verbs(smtp_server, tag)
    no_secret_in(result)


def test_smtp_an_answer_to_data_that_never_ends_is_unknown_and_not_sent_again(
        smtp_server, local_ca, tag):
    smtp_script(smtp_server, local_ca, tag, **{"DATA-END": "@drip:250-still queueing\r\n"})
    result, seconds = timed(lambda: mail(mail_config(smtp_server, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN
    assert len(smtp_server.records("message", tag)) == 1
    no_secret_in(result)


@pytest.mark.parametrize("answer", [
    "queued as 4711",                                 # no reply code at all
    "@flood:250-queued as 4711 and then some more text\r\n",   # a reply over 32 KB
    "2x0 queued",                                     # a code that is not a number
], ids=["no-code", "too-long", "bad-code"])
def test_smtp_garbage_after_the_whole_message_went_is_unknown_not_failed(
        smtp_server, local_ca, tag, answer):
    """The message was sent in full: whatever the server says next that is not a refusal,
    it may have accepted the message."""
    smtp_script(smtp_server, local_ca, tag, **{"DATA-END": answer})
    result, seconds = timed(lambda: mail(mail_config(smtp_server, local_ca)))
    [delivery] = result.deliveries
    assert len(smtp_server.records("message", tag)) == 1 and seconds < WITHIN
    assert delivery.outcome is Outcome.UNKNOWN, (delivery.outcome, delivery.detail)


@pytest.mark.parametrize("stage, reply", [
    ("AUTH-END", "535 5.7.8 \xff\xfe\xc3 authentication failed"),
    ("MAIL", "553 5.7.1 \xff\xfe sender refused"),
    ("DATA-END", "250 2.0.0 queued \xff\xfe as 4711"),
], ids=["auth", "mail", "data-end"])
def test_smtp_a_reply_that_is_not_utf8_leaves_a_result_that_is(smtp_server, local_ca, tag,
                                                               stage, reply):
    """st2 stores the result as JSON (orjson refuses lone surrogates); so does a caller that
    writes it out as UTF-8."""
    smtp_script(smtp_server, local_ca, tag, **{stage: reply})
    result = mail(mail_config(smtp_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome in (Outcome.DELIVERED, Outcome.FAILED, Outcome.NOT_SENT)
    json.dumps(result.to_dict(), ensure_ascii=False).encode("utf-8")   # must not raise


@pytest.mark.parametrize("mechanisms", ["LOGIN", "PLAIN"])
@pytest.mark.parametrize("echo", ["{line}", "{decoded}"], ids=["base64", "plain"])
def test_smtp_a_server_echoing_the_credentials_in_its_refusal_is_scrubbed(
        smtp_server, local_ca, tag, mechanisms, echo):
    """The refusal quotes the client's last AUTH line: base64 as sent, or decoded."""
    smtp_script(smtp_server, local_ca, tag,
                EHLO="250-hostile.example\r\n250 AUTH " + mechanisms,
                **{"AUTH-END": "535 5.7.8 authentication failed for " + echo})
    result = mail(mail_config(smtp_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.NOT_SENT
    no_secret_in(result)
    shown = str(result.to_dict())
    encoded = (base64.b64encode(SMTP_CODE.encode()).decode(),
               base64.b64encode(("\0%s\0%s" % (SMTP_LOGIN, SMTP_CODE)).encode()).decode())
    assert not [e for e in encoded if e in shown], f"the password shows base64-encoded: {shown}"


def test_smtp_a_refusal_that_splits_the_echoed_password_over_lines_is_scrubbed(
        smtp_server, local_ca, tag):
    half = len(SMTP_CODE) // 2
    smtp_script(smtp_server, local_ca, tag, **{"AUTH-END": "535-bad password %s\r\n535 %s"
                                               % (SMTP_CODE[:half], SMTP_CODE[half:])})
    result = mail(mail_config(smtp_server, local_ca))
    shown = str(result.to_dict())
    assert result.deliveries[0].outcome is Outcome.NOT_SENT
    assert SMTP_CODE[:half] not in shown and SMTP_CODE[half:] not in shown, shown


def test_smtp_a_421_at_rcpt_leaves_the_others_not_sent_not_unknown(smtp_server, local_ca, tag):
    """421 closes the session (aiosmtplib closes it too): the later recipients were never
    sent, so none of them may be 'outcome unknown'; logins stay within the budget."""
    smtp_script(smtp_server, local_ca, tag, RCPT="421 4.7.0 Too many errors, closing")
    result, seconds = timed(lambda: mail(mail_config(smtp_server, local_ca),
                                         "a@163.com,b@163.com,c@163.com"))
    outcomes = [d.outcome for d in result.deliveries]
    assert seconds < WITHIN and len(outcomes) == 3
    assert smtp_server.records("message", tag) == []
    assert verbs(smtp_server, tag).count("EHLO") <= 2
    assert Outcome.UNKNOWN not in outcomes, [(d.outcome, d.detail) for d in result.deliveries]


def test_smtp_452_too_many_recipients_fails_each_and_sends_nothing(smtp_server, local_ca, tag):
    smtp_script(smtp_server, local_ca, tag, RCPT="452 4.5.3 Too many recipients")
    result = mail(mail_config(smtp_server, local_ca), "a@163.com,b@163.com,c@163.com")
    assert [d.outcome for d in result.deliveries] == [Outcome.FAILED] * 3
    assert smtp_server.records("message", tag) == [] and not result.status
    assert all(d.code == "452" for d in result.deliveries)


def test_smtp_5xx_at_every_auth_is_a_bounded_number_of_tries(smtp_server, local_ca, tag):
    smtp_script(smtp_server, local_ca, tag, **{"AUTH-END": "535 5.7.8 authentication failed"})
    receivers = ",".join("r%d@163.com" % i for i in range(30))    # two sessions' worth
    result, seconds = timed(lambda: mail(mail_config(smtp_server, local_ca, max_sessions=2),
                                         receivers))
    assert seconds < WITHIN and len(result.deliveries) == 30
    assert {d.outcome for d in result.deliveries} == {Outcome.NOT_SENT}
    assert verbs(smtp_server, tag).count("AUTH") <= 2 * 3      # each method once per session
    no_secret_in(result)


@pytest.mark.parametrize("ehlo, starttls", [
    ("250-hostile.example\r\n250 AUTH LOGIN PLAIN", "220 go ahead"),   # STARTTLS stripped
    ("250-hostile.example\r\n250-STARTTLS\r\n250 AUTH LOGIN", "454 4.7.0 TLS not available"),
], ids=["not-advertised", "refused"])
def test_smtp_starttls_stripped_or_refused_never_sends_the_password_in_clear(
        smtp_server, local_ca, tag, ehlo, starttls):
    smtp_script(smtp_server, local_ca, tag, tls=False, EHLO=ehlo, STARTTLS=starttls)
    result = mail(mail_config(smtp_server, local_ca, tls="starttls"))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.NOT_SENT
    assert "AUTH" not in verbs(smtp_server, tag) and "MAIL" not in verbs(smtp_server, tag)


@pytest.mark.parametrize("cert", ["wrong-host", "expired", "self-signed"])
def test_smtp_a_certificate_that_does_not_verify_is_refused_before_login(
        smtp_server, local_ca, bad_certs, tag, cert):
    pems, bundle = bad_certs
    smtp_server.script(tag, tls=pems[cert], hold=10)
    ca = bundle if cert != "self-signed" else local_ca.ca_file
    result = mail(mail_config(smtp_server, local_ca, ca_bundle=ca))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.NOT_SENT and "certificate" in delivery.detail
    assert verbs(smtp_server, tag) == []


# --- DingTalk -------------------------------------------------------------------------------

def dingtalk_script(server, local_ca, tag, answer, **script):
    server.script(tag, answer=answer, tls=local_ca.server_pem, hold=10, **script)


def requests(server, tag):
    return server.records("request", tag)


def test_dingtalk_invalid_json_is_unknown_and_not_retried_blindly(http_server, local_ca, tag):
    dingtalk_script(http_server, local_ca, tag, http(body="{errcode: 0, oops"))
    result = ding(robot_config(http_server, local_ca, dingtalk_retry_seconds=2))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.UNKNOWN and len(requests(http_server, tag)) == 1
    no_secret_in(result)


@pytest.mark.parametrize("errcode", [
    "NaN", "Infinity", "1e400", "9" * 5000, '"abc"', '{"code": 0}', "[0]", "null",
])
def test_dingtalk_an_errcode_that_is_no_number_is_unknown(http_server, local_ca, tag, errcode):
    dingtalk_script(http_server, local_ca, tag,
                    http(body='{"errcode": %s, "errmsg": "ok"}' % errcode))
    result, seconds = timed(lambda: ding(robot_config(http_server, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN, delivery.detail


@pytest.mark.parametrize("errcode", ["false", "0.5", "-0.9", '"0"', '" 0 "', '"\\u0660"'],
                         ids=["false", "0.5", "-0.9", "str-0", "str-spaced-0", "arabic-0"])
def test_dingtalk_only_the_integer_0_is_delivered(http_server, local_ca, tag, errcode):
    """DingTalk's success is ``"errcode": 0``; an answer that only int() turns into 0 is
    not DingTalk saying it took the message."""
    dingtalk_script(http_server, local_ca, tag,
                    http(body='{"errcode": %s, "errmsg": "token invalid"}' % errcode))
    result = ding(robot_config(http_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome is not Outcome.DELIVERED, (errcode, delivery.detail)


def test_dingtalk_a_huge_errcode_is_a_refusal_shown_within_bounds(http_server, local_ca, tag):
    dingtalk_script(http_server, local_ca, tag,
                    http(body='{"errcode": %s, "errmsg": "no"}' % ("7" * 4000)))
    result = ding(robot_config(http_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome in (Outcome.FAILED, Outcome.UNKNOWN)
    assert len(json.dumps(result.to_dict())) < 20_000


def test_dingtalk_a_10_mb_errmsg_is_cut_at_the_size_bound(http_server, local_ca, tag):
    dingtalk_script(http_server, local_ca, tag,
                    http(body='{"errcode": 310000, "errmsg": "{pad}"}'), size=10_000_000)
    result, seconds = timed(lambda: ding(robot_config(http_server, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN
    assert len(json.dumps(result.to_dict())) < 20_000


def test_dingtalk_a_gzip_bomb_is_cut_at_the_size_bound(http_server, local_ca, tag):
    """10 MB of JSON in 10 KB of gzip: the size bound counts what it decodes to."""
    import gzip

    bomb = gzip.compress(b'{"errcode": 0, "pad": "' + b" " * 10_000_000 + b'"}', 9)
    dingtalk_script(http_server, local_ca, tag,
                    http(body=bomb.decode("latin-1"), headers="Content-Encoding: gzip\r\n"))
    result, seconds = timed(lambda: ding(robot_config(http_server, local_ca)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN, delivery.detail


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found",
                                    "307 Temporary Redirect", "308 Permanent Redirect"])
def test_dingtalk_a_redirect_to_another_host_is_not_followed(http_server, local_ca, tag,
                                                             status):
    location = "https://localhost:{port}/stolen?access_token=" + TOKEN
    dingtalk_script(http_server, local_ca, tag,
                    http(status, headers="Location: %s\r\n" % location))
    result = ding(robot_config(http_server, local_ca, dingtalk_retry_seconds=2))
    lines = [r["line"] for r in requests(http_server, tag)]
    assert len(lines) == 1 and "/stolen" not in lines[0]
    assert not result.status
    no_secret_in(result)


@pytest.mark.parametrize("answer", [
    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"errcode\": 0",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"err\r\n",
], ids=["http10-no-length", "chunked-never-ends"])
def test_dingtalk_a_body_that_never_ends_is_cut_at_the_deadline(http_server, local_ca, tag,
                                                                answer):
    trickle = "1\r\n \r\n" if "chunked" in answer else " "
    dingtalk_script(http_server, local_ca, tag, answer, after="trickle", trickle=trickle,
                    interval=0.05)
    result, seconds = timed(lambda: ding(robot_config(http_server, local_ca,
                                                      dingtalk_retry_unknown=False)))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN
    assert len(requests(http_server, tag)) == 1


@pytest.mark.parametrize("cert", ["wrong-host", "expired", "self-signed"])
def test_dingtalk_a_certificate_that_does_not_verify_is_refused_before_sending(
        http_server, local_ca, bad_certs, tag, cert):
    pems, bundle = bad_certs
    http_server.script(tag, answer=http(body='{"errcode": 0}'), tls=pems[cert], hold=10)
    ca = bundle if cert != "self-signed" else local_ca.ca_file
    result = ding(robot_config(http_server, local_ca, dingtalk_ca_bundle=ca))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.NOT_SENT and "certificate" in delivery.detail
    assert requests(http_server, tag) == []
    no_secret_in(result)


def test_dingtalk_a_reset_after_the_request_was_read_is_unknown(http_server, local_ca, tag):
    dingtalk_script(http_server, local_ca, tag, "", after="reset")
    result = ding(robot_config(http_server, local_ca, dingtalk_retry_unknown=False,
                               dingtalk_retry_seconds=2))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.UNKNOWN and len(requests(http_server, tag)) == 1


@pytest.mark.parametrize("status", ["502 Bad Gateway", "504 Gateway Timeout"])
def test_dingtalk_a_gateway_error_may_have_arrived_so_is_unknown_and_not_retried_when_told(
        http_server, local_ca, tag, status):
    """A proxy's 502/504 comes after it forwarded the request: the robot may have posted
    it.  Alibaba's client calls a 5xx 'outcome unknown'; DingTalk's must not say 'failed',
    nor send again when dingtalk_retry_unknown is false."""
    dingtalk_script(http_server, local_ca, tag, http(status, body="upstream timed out"))
    result = ding(robot_config(http_server, local_ca, dingtalk_retry_unknown=False,
                               dingtalk_retry_seconds=0.5))
    [delivery] = result.deliveries
    sent = len(requests(http_server, tag))
    assert (delivery.outcome, sent) == (Outcome.UNKNOWN, 1), (
        delivery.outcome, sent, delivery.detail)


def test_dingtalk_an_answer_echoing_the_token_and_secret_is_scrubbed(http_server, local_ca,
                                                                     tag):
    echo = ("access_token=%s sign secret %s TOKEN %s" % (TOKEN, ROBOT_SECRET, TOKEN.upper()))
    dingtalk_script(http_server, local_ca, tag,
                    http(body=json.dumps({"errcode": 300001, "errmsg": echo})))
    result = ding(robot_config(http_server, local_ca))
    assert result.deliveries[0].outcome is Outcome.FAILED
    no_secret_in(result)


# --- Alibaba Cloud: SMS, voice, SOAR --------------------------------------------------------

def aliyun_script(server, local_ca, tag, answer, **script):
    server.script(tag, answer=answer, tls=local_ca.server_pem, hold=10, **script)


def test_sms_code_ok_without_a_bizid_is_not_a_crash(http_server, local_ca, tag):
    aliyun_script(http_server, local_ca, tag,
                  http(body='{"Code": "OK", "Message": "OK", "RequestId": "r-1"}'))
    result = text_message(aliyun_config(http_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome in (Outcome.DELIVERED, Outcome.UNKNOWN)
    assert len(requests(http_server, tag)) == 1


@pytest.mark.parametrize("body", ['{}', '{"Message": "rate limited"}', '{"RequestId": "r"}',
                                  '{"Code": null, "Message": "?"}'],
                         ids=["empty", "message-only", "request-id-only", "code-null"])
def test_sms_a_2xx_answer_without_a_code_is_not_delivered(http_server, local_ca, tag, body):
    """SendSms always answers a Code ("OK" when it took the message): JSON without one is
    not Alibaba saying the text went out (a proxy, a captive portal, a wrong endpoint)."""
    aliyun_script(http_server, local_ca, tag, http(body=body))
    result = text_message(aliyun_config(http_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.outcome is not Outcome.DELIVERED, delivery.detail
    assert len(requests(http_server, tag)) == 1


def test_voice_a_2xx_answer_without_a_code_is_not_a_placed_call(http_server, local_ca, tag):
    aliyun_script(http_server, local_ca, tag, http(body='{"RequestId": "r-9"}'))
    result = call_out(aliyun_config(http_server, local_ca))
    [delivery] = result.deliveries
    assert delivery.channel.value == "voice"
    assert delivery.outcome is not Outcome.DELIVERED, delivery.detail


@pytest.mark.parametrize("field", ["Message", "RequestId", "Code", "BizId"])
def test_sms_an_answer_echoing_the_access_key_is_scrubbed(http_server, local_ca, tag, field):
    body = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "limited", "RequestId": "r"}
    body[field] = "AccessKeyId %s secret %s& key %s" % (KEY_ID, KEY_SECRET, KEY_ID.lower())
    aliyun_script(http_server, local_ca, tag, http(body=json.dumps(body)))
    result = text_message(aliyun_config(http_server, local_ca))
    assert not result.status
    no_secret_in(result)


@pytest.mark.parametrize("send", [text_message, call_out, relay], ids=["sms", "voice", "soar"])
@pytest.mark.parametrize("status, body", [
    ("503 Service Unavailable", '{"Code": "ServiceUnavailable", "Message": "busy"}'),
    ("500 Internal Server Error", '{"Code": "OK", "Message": "OK", "BizId": "b"}'),
    ("200 OK", "<html>captive portal</html>"),
    ("200 OK", "[1, 2, 3]"),
], ids=["503-json", "500-code-ok", "200-html", "200-list"])
def test_aliyun_an_answer_that_may_have_run_is_unknown_and_sent_once(
        http_server, local_ca, tag, send, status, body):
    aliyun_script(http_server, local_ca, tag, http(status, body=body))
    config = aliyun_config(http_server, local_ca, soar=send is relay)
    result, seconds = timed(lambda: send(config))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN, delivery.detail
    assert len(requests(http_server, tag)) == 1
    no_secret_in(result)


@pytest.mark.parametrize("send", [text_message, call_out, relay], ids=["sms", "voice", "soar"])
@pytest.mark.parametrize("how", ["reset", "hold", "http10-open"])
def test_aliyun_a_request_read_but_never_answered_is_unknown_and_sent_once(
        http_server, local_ca, tag, send, how):
    answer = ("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Code\": \"OK\""
              if how == "http10-open" else "")
    aliyun_script(http_server, local_ca, tag, answer,
                  after="hold" if how == "http10-open" else how)
    config = aliyun_config(http_server, local_ca, soar=send is relay, timeout=0.25)
    result, seconds = timed(lambda: send(config))
    [delivery] = result.deliveries
    assert seconds < WITHIN and delivery.outcome is Outcome.UNKNOWN, delivery.detail
    assert len(requests(http_server, tag)) == 1


@pytest.mark.parametrize("status", ["302 Found", "307 Temporary Redirect"])
def test_aliyun_a_redirect_is_not_followed(http_server, local_ca, tag, status):
    aliyun_script(http_server, local_ca, tag,
                  http(status, headers="Location: https://localhost:{port}/stolen\r\n"))
    result = text_message(aliyun_config(http_server, local_ca))
    lines = [r["line"] for r in requests(http_server, tag)]
    assert len(lines) == 1 and "/stolen" not in lines[0]
    assert result.deliveries[0].outcome is not Outcome.DELIVERED


@pytest.mark.parametrize("cert", ["wrong-host", "expired", "self-signed"])
def test_aliyun_a_certificate_that_does_not_verify_is_refused_before_sending(
        http_server, local_ca, bad_certs, tag, cert):
    pems, bundle = bad_certs
    http_server.script(tag, answer=http(body='{"Code": "OK", "BizId": "b"}'), tls=pems[cert],
                       hold=10)
    ca = bundle if cert != "self-signed" else local_ca.ca_file
    result = text_message(aliyun_config(http_server, local_ca, ca_bundle=ca))
    [delivery] = result.deliveries
    assert delivery.outcome is Outcome.NOT_SENT and requests(http_server, tag) == []
    no_secret_in(result)


def test_sms_a_huge_message_is_not_copied_into_every_numbers_delivery(http_server, local_ca,
                                                                      tag):
    """One answer of ~900 KB for a batch of 20 numbers: each delivery quotes the Message in
    full, so the result is 20 times the answer (1000 numbers: ~900 MB)."""
    aliyun_script(http_server, local_ca, tag, http(body=json.dumps(
        {"Code": "isv.BUSINESS_LIMIT_CONTROL", "RequestId": "r"})[:-1] + ', "Message": "{pad}"}'),
        size=900_000)
    numbers = ",".join("1380013%04d" % i for i in range(20))
    result = text_message(aliyun_config(http_server, local_ca), numbers)
    assert len(result.deliveries) == 20 and not result.status
    size = len(json.dumps(result.to_dict()))
    assert size < 1_000_000, f"the result is {size} bytes"


def test_soar_an_answer_echoing_the_access_key_is_scrubbed(http_server, local_ca, tag):
    aliyun_script(http_server, local_ca, tag, http("400 Bad Request", json.dumps({
        "Code": "InvalidParameter", "RequestId": KEY_ID,
        "Message": "key %s / %s was refused" % (KEY_ID, KEY_SECRET)})))
    result = relay(aliyun_config(http_server, local_ca, soar=True))
    assert result.deliveries[0].outcome is Outcome.FAILED
    no_secret_in(result)


# --- st2's API (trigger dispatch) -----------------------------------------------------------

def dispatcher(server, timeout=TIMEOUT):
    from lib.base import TriggerDispatcher

    return TriggerDispatcher({"ST2_ACTION_API_URL": "http://127.0.0.1:%d/v1" % server.port,
                              "ST2_ACTION_AUTH_TOKEN": TOKEN}, timeout=timeout)


@pytest.mark.parametrize("status", ["500 Internal Server Error", "401 Unauthorized"])
def test_st2_api_refusals_are_said_within_the_deadline(http_server, tag, status):
    http_server.script(tag, answer=http(status, body='{"faultstring": "token %s"}' % TOKEN),
                       tls="", hold=10)
    said, seconds = timed(lambda: dispatcher(http_server).dispatch("notify_message.x", {}))
    assert seconds < WITHIN and "not dispatched" in said and status[:3] in said
    assert TOKEN not in said


def test_st2_api_that_read_the_trigger_but_answers_late_is_not_called_undispatched(
        http_server, tag):
    """The API got the whole request and may well have dispatched it: 'not dispatched'
    is the DingTalk 'failed' for a request that may have arrived."""
    http_server.script(tag, answer="", after="hold", tls="", hold=3)
    said, seconds = timed(lambda: dispatcher(http_server).dispatch("notify_message.x", {}))
    assert seconds < WITHIN and len(requests(http_server, tag)) == 1
    assert "not dispatched" not in said, said


def test_st2_api_with_an_endless_answer_is_abandoned_when_dispatch_returns(http_server, tag):
    """dispatch() returns at its deadline, but its worker thread keeps reading: an endless
    answer then grows in memory for as long as the server keeps sending."""
    http_server.script(tag, answer="HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
                       after="trickle", trickle="x" * 65536, interval=0.004, tls="", hold=2)
    before = threading.active_count()
    said, seconds = timed(lambda: dispatcher(http_server).dispatch("notify_message.x", {}))
    returned = time.time()
    assert seconds < WITHIN
    deadline = time.monotonic() + 6
    while not http_server.records("ended", tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    [ended] = http_server.records("ended", tag)
    read_after = ended["at"] - returned
    assert read_after < 1.0 and threading.active_count() <= before, (
        f"the worker read for {read_after:.1f}s more ({ended['sent'] / 1e6:.0f} MB in all) "
        f"after dispatch() said {said!r}")
