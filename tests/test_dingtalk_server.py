"""The loopback DingTalk server refuses what DingTalk refuses: a test server that accepted
anything would prove nothing about the channel."""

import base64
import hashlib
import hmac
import json
import ssl
import time
import urllib.parse

import httpx
import pytest
from helpers import DINGTALK_SECRET, DINGTALK_TOKEN

from notify_message.channels.dingtalk.protocol import sign

from testkit.dingtalk_server import FakeRobot


TEXT = {"msgtype": "text", "text": {"content": "x"}}


def answer_of(server, local_ca, token, body, query):
    """POST to a robot's webhook with this query appended; DingTalk's JSON answer."""
    url = server.webhook(token) + "&" + query
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    trust = ssl.create_default_context(cafile=local_ca.ca_file)
    answer = httpx.post(url, content=content, verify=trust,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 200  # DingTalk's verdict is in the errcode
    return answer.json()


@pytest.fixture
def post(dingtalk_server, local_ca):
    """``post(body[, query])`` -> the answer; signed with the library's sign() by default."""
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET)])

    def send(body, query=None):
        if query is None:
            timestamp = int(time.time() * 1000)
            query = "timestamp=%d&sign=%s" % (timestamp, sign(DINGTALK_SECRET, timestamp))
        return answer_of(server, local_ca, DINGTALK_TOKEN, body, query)

    return send


def base64_signature(secret, timestamp):
    """DingTalk's signature before its urlEncode, from its documentation (not the library):
    Base64(HmacSHA256(key=secret, f"{timestamp}\\n{secret}"))."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"),
                   hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


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
    assert post(body)["errcode"] == errcode


def test_the_server_refuses_a_signature_that_was_not_urlencoded(post):
    # Everything else is right: a fresh timestamp, the robot's own secret, the right base64
    # signature.  Only a '+' tells an unencoded signature from an encoded one, because the
    # query is decoded and '+' becomes a space ('/' and the '=' padding come through
    # unchanged), so take a timestamp whose signature has one.
    timestamp = int(time.time() * 1000)
    while "+" not in base64_signature(DINGTALK_SECRET, timestamp):
        timestamp += 1
    raw = base64_signature(DINGTALK_SECRET, timestamp)
    assert post(TEXT, "timestamp=%d&sign=%s" % (timestamp, raw)) == {
        "errcode": 310000, "errmsg": "sign not match"}
    # the same signature, urlencoded, is accepted: the encoding was all that was wrong
    encoded = urllib.parse.quote_plus(raw)
    assert post(TEXT, "timestamp=%d&sign=%s" % (timestamp, encoded))["errcode"] == 0


def test_the_server_refuses_an_unsigned_request_to_a_signing_robot(post):
    assert post(TEXT, query="")["errcode"] == 310000


# The signing vectors of the project's DESIGN note, section 4 ("Channel facts", DingTalk
# custom group robot): timestamp 1700000000000 with secret SECtest or SECx.
@pytest.mark.parametrize("secret, encoded_sign", [
    ("SECtest", "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"),
    ("SECx", "rgcjbH%2ByFyES%2BS0llX%2BcAPCwVRpsr7sbiX5Lnyo%2FocU%3D"),
])
def test_the_server_accepts_the_signing_vectors_of_the_design_note_section_4(
        dingtalk_server, local_ca, secret, encoded_sign):
    # the server's clock is set back to the vectors' timestamp, so that it is fresh
    server = dingtalk_server([FakeRobot("vectors", secret=secret)],
                             clock_offset=1700000000 - time.time())
    query = "timestamp=1700000000000&sign=" + encoded_sign
    assert answer_of(server, local_ca, "vectors", TEXT, query)["errcode"] == 0
    assert answer_of(server, local_ca, "vectors", TEXT, query.replace("170", "171", 1)) == {
        "errcode": 310000, "errmsg": "invalid timestamp"}
