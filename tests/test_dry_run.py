"""dryRun: a call validated as a real one is, answering per target what would be sent, with
nothing sent and no connection opened."""

import copy
import json

import jsonschema
import pytest
from helpers import (
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    SMTP_CODE,
    action_metadata,
    aliyun_config,
    dingtalk_config,
    dingtalk_robot,
    smtp_instance,
)
from notify_message import notify_by_custom, notify_by_message_center
from notify_message.channels.dingtalk.protocol import encode_body
from notify_message.message_center.inbox import MemoryInbox

from testkit.dingtalk_server import FakeRobot
from testkit.hostile_server import HostileServer

MOBILE = "13800138000"


@pytest.fixture
def everything(smtp_server, aliyun_server, dingtalk_server, local_ca):
    """(config, smtp, gateway, dingtalk): every channel configured against loopback servers."""
    smtp, gateway = smtp_server(), aliyun_server()
    robots = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET,
                                        keywords=("告警",))])
    config = {"smtp_instances": [smtp_instance(smtp, local_ca, default=True)],
              **aliyun_config(gateway, local_ca),
              **dingtalk_config(robots, local_ca,
                                dingtalk_robot(robots, secret=DINGTALK_SECRET, default=True,
                                               keywords=["告警"], at_mobiles=[MOBILE]))}
    return config, smtp, gateway, robots


ALL_CHANNELS = {"email": 1, "receivers": "oncall@163.com, lead@qq.com",
                "emailTitle": "Disk full on web-01", "emailcontext": "<p>/var is 99% full</p>",
                "telephone": MOBILE, "sms": 1, "smscontext": "web-01 disk full",
                "telephonecontext": "web-01 disk full", "dingding": 1,
                "dingdingcontext": "告警: web-01 disk full", "dingdingMsgType": "markdown"}


def test_a_dry_run_answers_every_target_and_nothing_reaches_any_server(everything):
    config, smtp, gateway, robots = everything
    result = notify_by_custom(dict(ALL_CHANNELS, dryRun=True), config).to_dict()
    assert result["status"] is True and result["dryRun"] is True, result["message"]
    assert [(d["channel"], d["target"], d["outcome"], d["code"]) for d in result["deliveries"]] \
        == [("email", "oncall@163.com", "not sent", "dry run"),
            ("email", "lead@qq.com", "not sent", "dry run"),
            ("sms", MOBILE, "not sent", "dry run"), ("voice", MOBILE, "not sent", "dry run"),
            ("dingtalk", "soc-oncall", "not sent", "dry run")]
    assert result["message"].startswith("Dry run, nothing was sent: All 5 deliveries")
    assert smtp.sessions == 0 and smtp.received == []
    assert gateway.connections == 0 and robots.connections == 0


def test_no_connection_is_opened_even_to_a_server_that_accepts_everything(local_ca):
    with HostileServer("silent") as silent:
        where = "127.0.0.1:%d" % silent.port
        config = {
            "smtp_instances": [{"assetname": "relay", "emailSendServer": where,
                                "emailUsername": "soc@163.com", "emailPassword": SMTP_CODE}],
            "dingtalk_robots": [{"name": "r", "webhook": f"https://{where}/robot/send?"
                                 f"access_token={DINGTALK_TOKEN}", "default": True}],
            "dingtalk_allowed_hosts": [where],
            "aliyun": {"access_key_id": ALIYUN_KEY_ID, "access_key_secret": ALIYUN_SECRET,
                       "endpoints": {"dysmsapi": f"https://{where}/",
                                     "dyvmsapi": f"https://{where}/"},
                       "allowed_endpoint_hosts": ["127.0.0.1"]},
            "sms_profiles": [{"name": "p", "sign_name": "云安全中心", "template_code": "SMS_1",
                              "voice": {"tts_code": "TTS_1"}}]}
        result = notify_by_custom(dict(ALL_CHANNELS, dryRun="true"), config)
        assert result.status, result.message
        assert silent.connections == 0


def test_the_email_preview_is_the_message_the_server_receives(everything):
    config, smtp, _, _ = everything
    params = {"email": 1, "receivers": "oncall@163.com", "emailTitle": "Disk full 磁盘",
              "emailcontext": "<p>/var is 99% full</p>"}
    [preview] = notify_by_custom(dict(params, dryRun=True), config).to_dict()["preview"]
    assert notify_by_custom(params, config).status
    [mail] = smtp.received
    sent = mail.message
    headers = dict(preview["headers"])
    for name in ("Subject", "From", "To", "MIME-Version"):
        assert headers[name] == str(sent[name]), name
    # the boundary is made anew for every message
    assert headers["Content-Type"].split(";")[0] == sent.get_content_type()
    assert 'boundary="' in headers["Content-Type"]
    assert abs(preview["bytes"] - len(mail.data)) < 200
    assert preview["envelope"] == {"mail_from": mail.mail_from, "rcpt_to": list(mail.rcpt_tos)}
    assert [(p["content_type"], p["content"]) for p in preview["parts"]] == [
        # the wire has CRLF line ends
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in sent.iter_parts()]


def test_the_dingtalk_preview_is_the_body_the_robot_receives_with_the_url_masked(everything):
    config, _, _, robots = everything
    params = {"dingding": 1, "dingdingcontext": "告警: disk full", "dingdingMsgType": "markdown"}
    result = notify_by_custom(dict(params, dryRun=True), config).to_dict()
    [preview] = result["preview"]
    assert notify_by_custom(params, config).status
    [received] = robots.received
    assert preview["body"] == received.body and preview["signed"] is True
    assert preview["bytes"] == len(encode_body(received.body))
    assert preview["url"].endswith("access_token=9f3c***&timestamp=...&sign=***")
    text = json.dumps(result)
    assert DINGTALK_TOKEN not in text and DINGTALK_SECRET not in text


def test_the_sms_and_voice_previews_are_the_api_parameters_the_gateway_receives(everything):
    config, _, gateway, _ = everything
    params = {"telephone": MOBILE, "sms": 1, "smscontext": "disk", "telephonecontext": "disk"}
    result = notify_by_custom(dict(params, dryRun=True), config).to_dict()
    assert notify_by_custom(params, config).status
    received = {call.action: call.params for call in gateway.received}
    for preview in result["preview"]:
        sent = received[preview["action"]]
        # OutId is made anew for every call: the rest is what the gateway received
        shown = {k: v for k, v in preview["params"].items() if k != "OutId"}
        assert shown == {k: sent[k] for k in shown} and len(shown) >= 4
        assert len(preview["params"]["OutId"]) == len(sent["OutId"])
        assert set(sent) - set(preview["params"]) >= {"AccessKeyId", "Signature",
                                                      "SignatureNonce", "Timestamp"}
    assert [p["action"] for p in result["preview"]] == ["SendSms", "SingleCallByTts"]
    text = json.dumps(result, ensure_ascii=False)
    assert ALIYUN_KEY_ID not in text and ALIYUN_SECRET not in text


# a dry run refuses what a real call refuses, in the same words
REFUSED = [
    {"email": 1},
    {"email": 1, "receivers": "not-an-address", "emailcontext": "x"},
    {"dingding": 1, "dingdingcontext": "x", "dingdingMsgType": "card"},
    {"telephone": "12", "sms": 1, "smscontext": "x"},
    {"dingdingWebhooks": "https://evil.example/robot/send?access_token=abcdef", "dingding": 1,
     "dingdingcontext": "x"},
    {"nonsense": 1},
    {"email": 1, "receivers": "a@163.com", "emailcontext": "x" * 1_000_001},
]


@pytest.mark.parametrize("params", REFUSED, ids=range(len(REFUSED)))
def test_a_dry_run_refuses_what_a_real_call_refuses_in_the_same_words(everything, params):
    config = everything[0]
    real = notify_by_custom(params, config).to_dict()
    dry = notify_by_custom(dict(params, dryRun=True), config).to_dict()
    assert real["status"] is False and real["message"].startswith("Nothing was sent")
    assert dry == real


def test_a_robot_s_missing_keyword_is_the_same_refusal_as_in_a_real_call(everything):
    config, _, _, robots = everything
    params = {"dingding": 1, "dingdingcontext": "disk full (no keyword)"}
    dry = notify_by_custom(dict(params, dryRun=True), config).to_dict()
    real = notify_by_custom(params, config).to_dict()
    assert dry["deliveries"] == real["deliveries"] and dry["status"] is False
    assert dry["preview"] == [] and "would not be attempted" in dry["message"]
    assert robots.received == []


def test_a_config_secret_in_a_body_is_masked_in_the_preview(everything):
    config = everything[0]
    result = notify_by_custom({"email": 1, "receivers": "a@163.com", "dryRun": True,
                               "emailcontext": f"the code is {SMTP_CODE}"}, config).to_dict()
    assert SMTP_CODE not in json.dumps(result) and "***" in json.dumps(result)


@pytest.mark.parametrize("value", ["maybe", 2, [], {"a": 1}, 0.5])
def test_a_dry_run_flag_that_is_no_boolean_is_refused_by_name(everything, value):
    result = notify_by_custom({"email": 1, "receivers": "a@163.com", "emailcontext": "x",
                               "dryRun": value}, everything[0]).to_dict()
    assert result["status"] is False
    assert result["message"].endswith("parameter 'dryRun': expected true or false")


@pytest.mark.parametrize("value", [False, "false", 0, "no"])
def test_dry_run_false_sends(everything, value):
    config, smtp, _, _ = everything
    result = notify_by_custom({"email": 1, "receivers": "a@163.com", "emailcontext": "x",
                               "dryRun": value}, config)
    assert result.status and len(smtp.received) == 1 and "dryRun" not in result.to_dict()


def test_a_large_body_is_cut_in_the_preview(everything):
    result = notify_by_custom({"email": 1, "receivers": "a@163.com", "dryRun": True,
                               "emailcontext": "x" * 50_000}, everything[0]).to_dict()
    [part] = result["preview"][0]["parts"]
    assert len(part["content"]) < 20_100 and part["content"].endswith("more characters)")


def _message_center(config, **subscriptions):
    config = copy.deepcopy(config)
    config["message_center"] = {"recipients": [{
        "aliuid": "1766", "webhooks": ["soc-oncall"],
        "contacts": [{"name": "On call", "email": "oncall@163.com", "mobile": MOBILE},
                     {"name": "Lead"}],
        "subscriptions": {"default": subscriptions}}]}
    return config


MC_PARAMS = {"aliuid": "1766", "eventId": "yundun_soar_incident_generate", "lang": "en",
             "params": {"incidentName": "告警 Ransomware", "incidentID": "i-9",
                        "startTime": "2026-11-27 03:00:00"}}


def test_a_message_center_dry_run_shows_the_plan_and_each_channel_s_request(everything):
    config, smtp, gateway, robots = everything
    config = _message_center(config, email="on", sms="on", webhook="on", pmsg="on")
    inbox = MemoryInbox()
    result = notify_by_message_center(dict(MC_PARAMS, dryRun=True), config,
                                      inbox=inbox).to_dict()
    assert result["status"] is True and result["dryRun"] is True, result["message"]
    plan, *requests = result["preview"]
    assert plan["channel"] == "message_center"
    assert sorted(plan["plan"]["used"]) == ["email", "pmsg", "sms", "webhook"]
    assert "Ransomware(i-9)" in plan["subject"] and result["channels"] == plan["plan"]
    assert sorted(r["channel"] for r in requests) == ["dingtalk", "email", "pmsg", "sms"]
    [webhook] = [r for r in requests if r["channel"] == "dingtalk"]
    assert webhook["body"]["markdown"]["title"] == plan["subject"]
    assert all(d["code"] == "dry run" for d in result["deliveries"])
    assert inbox.list("1766", 10) == []
    assert smtp.sessions == 0 and gateway.connections == 0 and robots.connections == 0
    schema = action_metadata("notifyByMessageCenter")["output_schema"]
    jsonschema.validate(result, schema)


def test_a_message_center_dry_run_says_which_channel_would_not_be_attempted(everything):
    config = everything[0]
    config = _message_center(config, email="on")
    config["message_center"]["recipients"][0]["smtp_instance"] = "nobody"
    result = notify_by_message_center(dict(MC_PARAMS, dryRun=True), config).to_dict()
    assert result["status"] is False
    assert result["deliveries"][0]["detail"] == (
        "not sent: nobody is not configured under smtp_instances")


def test_an_aliyun_soar_dry_run_shows_the_relay_request(everything):
    config = copy.deepcopy(everything[0])
    gateway = everything[2]
    config["aliyun"]["endpoints"]["sophonsoar"] = gateway.url
    config["message_center"] = {"provider": "aliyun_soar",
                                "aliyun_soar": {"playbook_uuid":
                                                "c5c88b5e-97ca-435d-8c20-000000000001"}}
    result = notify_by_message_center(dict(MC_PARAMS, dryRun=True), config).to_dict()
    assert result["status"] is True, result["message"]
    [preview] = result["preview"]
    assert preview["action"] == "RunNotifyComponentWithMessageCenter"
    assert preview["params"]["Aliuid"] == "1766" and gateway.connections == 0


def test_the_dry_run_answer_matches_the_action_s_output_schema(everything):
    result = notify_by_custom(dict(ALL_CHANNELS, dryRun=True), everything[0]).to_dict()
    jsonschema.validate(result, action_metadata("notifyByCustom")["output_schema"])
