"""DingTalk robots delivered to a real HTTPS server on loopback that checks what DingTalk
checks (token, signature, timestamp window, keywords, IP whitelist, the JSON shape of each
msgtype, the rate limit) and answers DingTalk's errcodes."""

import dataclasses
import json
import logging
import re
from types import SimpleNamespace

import httpx
import pytest
from helpers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    dingtalk_config,
    dingtalk_robot,
    free_port,
    http_answered_by,
)

from notify_message import PackConfig, notify_by_custom
from testkit.dingtalk_server import ERRMSG, SEND_PATH, FakeRobot

CARD_BUTTONS = {"title": "告警: 暴力破解", "text": "### web-01\n来源 203.0.113.9", "btnOrientation": "1",
                "btns": [{"title": "封禁 IP", "actionURL": "https://soar.example/block?ip=1"},
                         {"title": "忽略", "actionURL": "https://soar.example/ignore"}]}
FEED = {"links": [{"title": "告警 1", "messageURL": "https://soar.example/1",
                   "picURL": "https://soar.example/1.png"},
                  {"title": "告警 2", "messageURL": "https://soar.example/2",
                   "picURL": "https://soar.example/2.png"}]}

EVERY_MSGTYPE = [
    ("text", "告警: brute force on web-01", {"content": "告警: brute force on web-01"}),
    ("markdown", {"title": "告警", "text": "## 告警\n- host: **web-01**"},
     {"title": "告警", "text": "## 告警\n- host: **web-01**"}),
    ("link", {"title": "告警", "text": "brute force", "messageUrl": "https://soar.example/1",
              "picUrl": "https://soar.example/p.png"},
     {"title": "告警", "text": "brute force", "messageUrl": "https://soar.example/1",
      "picUrl": "https://soar.example/p.png"}),
    ("actionCard", {"title": "告警", "text": "brute force", "singleTitle": "查看详情",
                    "singleURL": "https://soar.example/1"},
     {"title": "告警", "text": "brute force", "singleTitle": "查看详情",
      "singleURL": "https://soar.example/1"}),
    ("actionCard", json.dumps(CARD_BUTTONS, ensure_ascii=False), CARD_BUTTONS),
    ("feedCard", FEED, FEED),
]


def send(config, **params):
    return notify_by_custom(params, config)


@pytest.mark.parametrize("msgtype, context, payload", EVERY_MSGTYPE)
def test_every_msgtype_is_delivered_signed_in_the_shape_dingtalk_checks(
        signed_robot, msgtype, context, payload):
    config, server = signed_robot
    result = send(config, dingding=1, dingdingMsgType=msgtype, dingdingcontext=context)
    assert result.status, result.message
    [delivery] = result.deliveries
    assert (delivery.channel, delivery.target, delivery.code, delivery.attempts) == (
        "dingtalk", "soc-oncall", "0", 1)
    [received] = server.received
    assert received.signed and received.body == {"msgtype": msgtype, msgtype: payload}


def test_a_robot_without_a_secret_is_sent_unsigned(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN)])
    config = dingtalk_config(server, local_ca, dingtalk_robot(server))
    assert send(config, dingding=1, dingdingcontext="告警").status
    assert server.received[0].signed is False


def test_text_mentions_notify_mobiles_user_ids_and_everyone(signed_robot):
    config, server = signed_robot
    context = {"content": "告警", "atMobiles": ["13800000000"], "atUserIds": ["manager01"],
               "isAtAll": True}
    assert send(config, dingding=1, dingdingcontext=context).status
    assert server.received[0].notified == ("13800000000", "manager01", "@all")


def test_markdown_mentions_notify_because_they_are_written_into_the_text(signed_robot):
    config, server = signed_robot
    context = {"title": "告警", "text": "## 告警", "atMobiles": ["13800000000"]}
    assert send(config, dingding=1, dingdingMsgType="markdown", dingdingcontext=context).status
    [received] = server.received
    assert received.notified == ("13800000000",) and "@13800000000" in received.payload["text"]


def test_a_robots_configured_mentions_are_added_to_every_message(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN)])
    config = dingtalk_config(server, local_ca,
                             dingtalk_robot(server, at_mobiles=["13900000000"], at_all=True))
    assert send(config, dingding=1, dingdingcontext="告警").status
    assert server.received[0].notified == ("13900000000", "@all")


def test_a_message_without_the_robots_keywords_is_not_sent_and_the_keywords_are_named(
        dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, keywords=("告警",))])
    config = dingtalk_config(server, local_ca,
                             dingtalk_robot(server, keywords=["告警", "alert"]))
    [delivery] = send(config, dingding=1, dingdingcontext="disk full").deliveries
    assert not delivery.ok and delivery.attempts == 0 and server.requests == 0
    assert delivery.detail.startswith("not sent:") and "(告警, alert)" in delivery.detail


def test_a_message_with_one_of_the_keywords_is_delivered(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, keywords=("告警",))])
    config = dingtalk_config(server, local_ca, dingtalk_robot(server, keywords=["告警"]))
    assert send(config, dingding=1, dingdingMsgType="feedCard", dingdingcontext=FEED).status


def test_one_robot_missing_its_keyword_does_not_stop_the_others(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot("t-strict", keywords=("P0",)), FakeRobot("t-open")])
    config = dingtalk_config(
        server, local_ca, dingtalk_robot(server, "strict", "t-strict", keywords=["P0"]),
        dingtalk_robot(server, "open", "t-open"))
    result = send(config, dingdingWebhooks="strict,open", dingdingcontext="告警")
    assert [(d.target, d.ok) for d in result.deliveries] == [("strict", False), ("open", True)]
    assert [m.token for m in server.received] == ["t-open"]


# ---- answers that are configuration errors: explained, never retried ----------------------

REFUSALS = {
    "keywords set on DingTalk only": (
        FakeRobot(DINGTALK_TOKEN, keywords=("告警",)), {}, {}, "310000", "custom keywords"),
    "wrong secret": (
        FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET), {"secret": "SECwrong"}, {},
        "310000", "secret is wrong or missing"),
    "secret missing": (
        FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET), {}, {}, "310000", "加签"),
    "clock two hours off": (
        FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET), {"secret": DINGTALK_SECRET},
        {"clock_offset": 7200}, "310000", "synchronise this host's clock"),
    "IP not whitelisted": (
        FakeRobot(DINGTALK_TOKEN, ip_whitelist=("203.0.113.9",)), {}, {}, "310000",
        "egress IP"),
    "robot removed": (FakeRobot(DINGTALK_TOKEN, state="removed"), {}, {}, "300005",
                      "removed from its group"),
    "robot disabled": (FakeRobot(DINGTALK_TOKEN, state="disabled"), {}, {}, "400102",
                       "enable the robot again"),
    "unknown token": (FakeRobot("another-robot"), {}, {}, "300001", "copy the webhook again"),
}


@pytest.mark.parametrize("server_robot, robot_fields, behaviour, code, advice",
                         list(REFUSALS.values()), ids=list(REFUSALS))
def test_a_configuration_error_fails_at_once_with_what_to_do(
        dingtalk_server, local_ca, server_robot, robot_fields, behaviour, code, advice):
    server = dingtalk_server([server_robot], **behaviour)
    config = dingtalk_config(server, local_ca, dingtalk_robot(server, **robot_fields))
    result = send(config, dingding=1, dingdingcontext="disk full")
    [delivery] = result.deliveries
    assert not result.status and not delivery.ok
    assert (delivery.code, delivery.attempts, server.requests) == (code, 1, 1)
    assert advice in delivery.detail and "errcode " + code in delivery.detail


def nowhere():
    """Where a robot points when its answers come in-process: nothing listens there."""
    host = "127.0.0.1:%d" % free_port()
    return SimpleNamespace(host=host, webhook=lambda token: "https://%s%s?access_token=%s" % (
        host, SEND_PATH, token))


# A table of errcodes, answered in-process as DingTalk answers them (HTTP 200, the errcode
# in the body); the wire test after it proves that path once through the loopback server.
@pytest.mark.parametrize("errcode, advice", [
    (400402, "markdown title is missing"),
    (400403, "markdown text is missing"),
    (460101, "longer than 20000 bytes"),
    (40035, "a required parameter is missing"),
    (999999, "DingTalk refused the message"),
])
def test_other_refusals_are_reported_with_their_errcode_and_not_retried(
        local_ca, errcode, advice):
    server = nowhere()
    config = dingtalk_config(server, local_ca, dingtalk_robot(server, secret=DINGTALK_SECRET))
    answer = {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}
    with http_answered_by(lambda request: httpx.Response(200, json=answer)) as requests:
        [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert (delivery.ok, delivery.code, delivery.attempts) == (False, str(errcode), 1)
    assert advice in delivery.detail and len(requests) == 1


def test_a_refusal_from_the_server_is_reported_with_its_errcode_and_not_retried(signed_robot):
    config, server = signed_robot
    server.script(DINGTALK_TOKEN, 400402)
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert (delivery.ok, delivery.code, delivery.attempts) == (False, "400402", 1)
    assert "markdown title is missing" in delivery.detail and server.requests == 1


# ---- transient answers: retried with backoff within dingtalk_retry_seconds -----------------

@pytest.mark.parametrize("transient", [-1, 130101, 410100, ("http", 502), ("http", 503)],
                         ids=["busy", "too fast", "410100", "HTTP 502", "HTTP 503"])
def test_a_transient_answer_is_retried_until_delivered(signed_robot, transient):
    config, server = signed_robot
    server.script(DINGTALK_TOKEN, transient, transient)
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert delivery.ok and delivery.attempts == 3 and "after 3 attempts" in delivery.detail
    assert len(server.received) == 1


def test_a_timeout_is_retried(signed_robot):
    config, server = signed_robot
    config["dingtalk_timeout"] = 0.2
    server.script(DINGTALK_TOKEN, ("sleep", 0.6))
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert delivery.ok and delivery.attempts == 2


def test_a_robot_that_stays_busy_fails_within_the_retry_budget(signed_robot):
    config, server = signed_robot
    config.update(dingtalk_retry_seconds=0.3, dingtalk_retry_backoff=0.05)
    server.script(DINGTALK_TOKEN, *[-1] * 50)
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert not delivery.ok and delivery.code == "-1" and delivery.attempts >= 2
    times = server.request_times  # as the server saw them: every attempt within the budget
    assert len(times) == delivery.attempts and times[-1] - times[0] < 0.3 + 0.05
    assert "gave up after %d attempts within dingtalk_retry_seconds (0.3s)" % delivery.attempts \
        in delivery.detail


def test_no_retry_when_the_retry_budget_is_zero(signed_robot):
    config, server = signed_robot
    config["dingtalk_retry_seconds"] = 0
    server.script(DINGTALK_TOKEN, -1)
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert not delivery.ok and delivery.attempts == 1


def test_dingtalk_throttles_a_robot_after_20_messages_a_minute(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN)], rate_limit=20, rate_window=60)
    config = dingtalk_config(server, local_ca, dingtalk_robot(server),
                             dingtalk_retry_seconds=0.1)
    results = [send(config, dingding=1, dingdingcontext="告警 %d" % i) for i in range(21)]
    assert all(r.status for r in results[:20])
    [throttled] = results[20].deliveries
    assert not throttled.ok and throttled.code == "130101"
    assert "about 10 minutes" in throttled.detail and len(server.received) == 20


def test_within_one_call_a_robot_gets_no_more_than_its_rate_limit(signed_robot):
    config, server = signed_robot
    config.update(dingtalk_retry_seconds=2, dingtalk_retry_backoff=0.001)
    server.script(DINGTALK_TOKEN, *[-1] * 10)
    pack = PackConfig.from_mapping(config)
    pack = pack.replace(dingtalk=dataclasses.replace(pack.dingtalk, rate_limit=3))
    [delivery] = notify_by_custom({"dingding": 1, "dingdingcontext": "x"}, pack).deliveries
    assert not delivery.ok and delivery.attempts == 3 and server.requests == 3
    assert "3 messages already went to this robot in the last 60s" in delivery.detail


def test_the_rate_window_is_waited_out_when_the_budget_allows(signed_robot):
    config, server = signed_robot
    config.update(dingtalk_retry_seconds=2, dingtalk_retry_backoff=0.001)
    server.script(DINGTALK_TOKEN, -1, -1, -1)
    pack = PackConfig.from_mapping(config)
    pack = pack.replace(dingtalk=dataclasses.replace(
        pack.dingtalk, rate_limit=2, rate_window=0.3))
    [delivery] = notify_by_custom({"dingding": 1, "dingdingcontext": "x"}, pack).deliveries
    assert delivery.ok and delivery.attempts == 4
    # as the server saw them: the third only once the window had passed since the first
    # (less the first one's TLS handshake, which came before its arrival); not waiting, it
    # would follow within a few round trips
    first, _, third, _ = server.request_times
    assert third - first >= 0.2


# ---- transport failures ----------------------------------------------------------------

def test_an_answer_without_an_errcode_is_not_taken_for_success(signed_robot):
    config, server = signed_robot
    server.script(DINGTALK_TOKEN, ("text", "<html>welcome to the captive portal</html>"))
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert not delivery.ok and "without DingTalk's errcode" in delivery.detail


def test_a_wrong_path_on_a_relay_is_an_http_error_not_retried(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN)])
    webhook = "https://%s/robot/sned?access_token=%s" % (server.host, DINGTALK_TOKEN)
    config = dingtalk_config(server, local_ca, {"name": "relay", "webhook": webhook})
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert (delivery.ok, delivery.code, delivery.attempts) == (False, "HTTP 404", 1)


def test_connection_refused_names_the_host(local_ca):
    port = free_port()
    host = "127.0.0.1:%d" % port
    webhook = "https://%s/robot/send?access_token=%s" % (host, DINGTALK_TOKEN)
    config = {"dingtalk_robots": [{"name": "r", "webhook": webhook}],
              "dingtalk_allowed_hosts": [host]}
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert not delivery.ok and "connection refused by %s" % host in delivery.detail


def test_an_untrusted_certificate_is_refused_and_dingtalk_ca_bundle_suggested(signed_robot):
    config, server = signed_robot
    del config["dingtalk_ca_bundle"]
    [delivery] = send(config, dingding=1, dingdingcontext="x").deliveries
    assert not delivery.ok and "could not be verified" in delivery.detail
    assert "dingtalk_ca_bundle" in delivery.detail and server.requests == 0


# ---- secrets ---------------------------------------------------------------------------

def test_token_secret_and_signature_never_reach_the_result_or_the_logs(signed_robot, caplog):
    config, server = signed_robot
    echo = json.dumps({"errcode": 310000, "errmsg": "sign not match for %s %s"
                       % (DINGTALK_TOKEN, DINGTALK_SECRET)})
    server.script(DINGTALK_TOKEN, ("text", echo))
    with caplog.at_level(logging.DEBUG):
        result = send(config, dingding=1, dingdingcontext="x")
        send(config, dingding=1, dingdingcontext="x")  # a success, logged by httpx
    shown = json.dumps(result.to_dict()) + caplog.text
    assert "HTTP Request: POST" in caplog.text and "access_token=***" in caplog.text
    assert DINGTALK_TOKEN not in shown and DINGTALK_SECRET not in shown
    assert not re.search(r"(sign|timestamp)=[^*]", shown)


def test_a_webhook_given_as_a_parameter_is_shown_masked(dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot(DINGTALK_TOKEN, state="disabled")])
    config = dingtalk_config(server, local_ca)
    result = send(config, dingdingWebhooks=server.webhook(DINGTALK_TOKEN), dingdingcontext="x")
    [delivery] = result.deliveries
    assert delivery.target == "https://%s/robot/send?access_token=%s***" % (
        server.host, DINGTALK_TOKEN[:4])
    assert DINGTALK_TOKEN not in json.dumps(result.to_dict())


def test_a_webhook_on_a_host_not_allowed_is_refused_before_anything_is_sent(
        dingtalk_server, local_ca):
    server = dingtalk_server([FakeRobot("t2")])
    config = dingtalk_config(server, local_ca, dingtalk_allowed_hosts=[])
    result = send(config, dingdingWebhooks=server.webhook("t2"), dingdingcontext="x")
    assert not result.status and result.deliveries == ()
    assert "dingdingWebhooks" in result.message and "dingtalk_allowed_hosts" in result.message
    assert server.requests == 0
