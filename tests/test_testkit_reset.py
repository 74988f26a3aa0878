"""A running loopback server can be reset between tests instead of being started again:
``reset()`` returns once the child has forgotten what it received and what it was told, so
a suite can start each server once and still give every test a server as it was made."""

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import httpx
import pytest
from conftest import ALIYUN_KEY_ID, ALIYUN_SECRET, SMTP_CODE, SMTP_LOGIN, FakeRobot

from testkit.aliyun_server import independent_signature
from testkit.dingtalk_server import LocalDingTalkServer


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- DingTalk ------------------------------------------------------------------------------

def ding(server, ca, token, text="x", secret=""):
    """POST a text message to a robot (signed when it has a secret); DingTalk's errcode."""
    url = server.webhook(token)
    if secret:
        timestamp = str(int(time.time() * 1000))
        mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
        url += "&timestamp=%s&sign=%s" % (
            timestamp, urllib.parse.quote_plus(base64.b64encode(mac.digest()).decode()))
    answer = httpx.post(url, json={"msgtype": "text", "text": {"content": text}},
                        verify=ssl.create_default_context(cafile=ca.ca_file), timeout=10)
    return answer.json()["errcode"]


def test_a_reset_forgets_the_traffic_and_lifts_a_throttle(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot("t1")], rate_limit=2, throttle_seconds=600)
    assert [ding(server, local_ca, "t1") for _ in range(4)] == [0, 0, 130101, 130101]
    assert len(server.received) == 2
    assert (server.requests, server.connections, server.max_in_flight) == (4, 4, 1)

    server.reset()

    assert server.received == []
    assert (server.requests, server.connections, server.max_in_flight) == (0, 0, 0)
    assert ding(server, local_ca, "t1") == 0          # no longer throttled
    assert len(server.received) == 1 and server.requests == 1
    server.reset()                                     # and again: every reset is confirmed
    assert server.received == [] and ding(server, local_ca, "t1") == 0


def test_a_reset_restores_the_robots_behaviour_and_scripts_it_was_made_with(
        dingtalk_server, local_ca):
    robot = FakeRobot("t1", secret="SECreset", keywords=("告警",))
    server = dingtalk_server([robot])
    robot.state = "disabled"          # the test changes the robot it gave ...
    server.add_robot(robot)
    server.add_robot(FakeRobot("t2"))
    server.update(rate_limit=1)
    server.script("t2", -1, -1)
    assert ding(server, local_ca, "t1", "告警", "SECreset") == 400102
    assert ding(server, local_ca, "t2") == -1

    server.reset()                    # ... and the server still knows the one it was made with

    assert ding(server, local_ca, "t2") == 300001                    # the added robot is gone
    assert ding(server, local_ca, "t1", "告警 1", "SECreset") == 0     # active again
    assert ding(server, local_ca, "t1", "告警 2", "SECreset") == 0     # rate limit back to 20
    assert ding(server, local_ca, "t1", "no keyword", "SECreset") == 310000
    assert ding(server, local_ca, "t1", "告警") == 310000               # still signing
    assert server.robots["t1"].state == "active" and "t2" not in server.robots
    assert server.behaviour.rate_limit == 20 and server.scripted == {}


def test_a_request_in_flight_across_a_reset_spools_nothing_after_it(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot("t1")], latency=1.0)
    with ThreadPoolExecutor(1) as pool:
        late = pool.submit(ding, server, local_ca, "t1")
        wait_until(lambda: server.requests == 1)   # the child is in the request's latency
        server.reset()
        assert late.result() == 0                  # answered, by the server it reached ...
    assert server.received == [] and server.requests == 0   # ... but not recorded after
    assert ding(server, local_ca, "t1") == 0                 # and the latency is gone
    assert len(server.received) == 1


def test_a_server_that_is_not_running_cannot_be_reset(local_ca):
    with pytest.raises(RuntimeError, match="not running"):
        LocalDingTalkServer(local_ca.server_pem, [FakeRobot("t1")]).reset()


# --- Alibaba Cloud -------------------------------------------------------------------------

SMS = {"Action": "SendSms", "Version": "2017-05-25", "PhoneNumbers": "13800000000",
       "SignName": "云安全中心", "TemplateCode": "SMS_460000001",
       "TemplateParam": json.dumps({"content": "x"})}
CALL = {"Action": "SingleCallByTts", "Version": "2017-05-25", "CalledNumber": "13800000000",
        "CalledShowNumber": "057112345678", "TtsCode": "TTS_460000001",
        "TtsParam": json.dumps({"content": "x"})}


def gateway(server, ca, action, nonce=None):
    """POST one signed RPC request; the gateway's Code."""
    params = dict(action, AccessKeyId=ALIYUN_KEY_ID, Format="JSON",
                  SignatureMethod="HMAC-SHA1", SignatureVersion="1.0",
                  SignatureNonce=nonce or str(uuid.uuid4()),
                  Timestamp=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    params["Signature"] = independent_signature("POST", params, ALIYUN_SECRET)[0]
    answer = httpx.post(server.url, data=params, timeout=10,
                        verify=ssl.create_default_context(cafile=ca.ca_file))
    return answer.json()["Code"]


def test_an_aliyun_reset_forgets_calls_nonces_and_the_first_requests(aliyun_server, local_ca):
    server = aliyun_server(throttle_first=1)
    assert gateway(server, local_ca, SMS, nonce="n-1") == "Throttling.User"
    assert gateway(server, local_ca, SMS, nonce="n-1") == "SignatureNonceUsed"
    assert gateway(server, local_ca, CALL) == "OK"
    assert gateway(server, local_ca, CALL) == "isv.BUSINESS_LIMIT_CONTROL"  # one a minute
    server.update(business_code="isv.AMOUNT_NOT_ENOUGH")
    assert gateway(server, local_ca, SMS) == "isv.AMOUNT_NOT_ENOUGH"
    assert len(server.received) == 3 and server.requests == 5

    server.reset()

    assert server.received == [] and (server.requests, server.connections) == (0, 0)
    assert server.behaviour.business_code is None
    # the nonce is forgotten, and the throttled "first request" is this one again
    assert gateway(server, local_ca, SMS, nonce="n-1") == "Throttling.User"
    assert gateway(server, local_ca, CALL) == "OK"        # the number's minute is forgotten
    assert gateway(server, local_ca, SMS) == "OK"         # the business error is gone
    assert [c.action for c in server.received] == ["SingleCallByTts", "SendSms"]


# --- SMTP ----------------------------------------------------------------------------------

def mail(server, ca):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SMTP_LOGIN, "soc@example.com", "x"
    message.set_content("x")
    context = ssl.create_default_context(cafile=ca.ca_file)
    with smtplib.SMTP_SSL("127.0.0.1", server.port, context=context, timeout=10) as client:
        client.login(SMTP_LOGIN, SMTP_CODE)
        client.send_message(message)


def test_an_smtp_reset_forgets_the_sessions_and_the_mail(smtp_server, local_ca):
    server = smtp_server()
    mail(server, local_ca)
    mail(server, local_ca)
    assert len(server.received) == 2 and server.sessions == 2

    server.reset()

    assert server.received == [] and server.sessions == 0
    mail(server, local_ca)
    assert [m.rcpt_tos for m in server.received] == [("soc@example.com",)]
    assert server.sessions == 1
