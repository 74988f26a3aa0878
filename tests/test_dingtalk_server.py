"""The loopback DingTalk server refuses what DingTalk refuses: a test server that accepted
anything would prove nothing about the channel."""

import json
import ssl
import time

import httpx
import pytest
from helpers import DINGTALK_SECRET, DINGTALK_TOKEN

from notify_message.channels.dingtalk.protocol import sign

from testkit.dingtalk_server import FakeRobot


@pytest.fixture
def post(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])

    def send(body, query=None):
        if query is None:
            timestamp = int(time.time() * 1000)
            query = "timestamp=%d&sign=%s" % (timestamp, sign(DINGTALK_SECRET, timestamp))
        url = server.webhook(DINGTALK_TOKEN) + "&" + query
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        trust = ssl.create_default_context(cafile=local_ca.ca_file)
        answer = httpx.post(url, content=content, verify=trust,
                            headers={"Content-Type": "application/json"})
        assert answer.status_code == 200  # DingTalk's verdict is in the errcode
        return answer.json()["errcode"]

    return send


@pytest.mark.parametrize("body, errcode", [
    ({"msgtype": "markdown", "markdown": {"text": "x"}}, 400402),
    ({"msgtype": "markdown", "markdown": {"title": "x"}}, 400403),
    ({"msgtype": "link", "link": {"title": "t", "text": "x", "messageURL": "https://a"}}, 40035),
    ({"msgtype": "feedCard", "feedCard": {"links": [
        {"title": "t", "messageUrl": "https://a", "picURL": "https://p"}]}}, 40035),
    ({"msgtype": "image", "image": {}}, 40035),
    (b"not json", 40035),
    ({"msgtype": "text", "text": {"content": "x" * 20000}}, 460101),
    ({"msgtype": "text", "text": {"content": "x"}}, 0),
])
def test_the_server_checks_the_shape_of_each_msgtype_and_the_size(post, body, errcode):
    assert post(body) == errcode


def test_the_server_refuses_a_signature_that_was_not_urlencoded(post):
    timestamp = 1700000000000
    raw = "rgcjbH+yFyES+S0llX+cAPCwVRpsr7sbiX5Lnyo/ocU="  # '+' arrives as a space
    assert post({"msgtype": "text", "text": {"content": "x"}},
                "timestamp=%d&sign=%s" % (timestamp, raw)) == 310000


def test_the_server_refuses_an_unsigned_request_to_a_signing_robot(post):
    assert post({"msgtype": "text", "text": {"content": "x"}}, query="") == 310000
