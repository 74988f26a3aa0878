"""notifyByCustom's DingTalk parameters: which robots, which message, which @mentions; every
bad value is refused before anything is sent, naming the parameter."""

import json

import pytest

from notify_message import PackConfig, ParameterError
from notify_message.custom.request import parse_custom_request
from notify_message.channels.dingtalk.request import parse_dingtalk_request
from notify_message.channels.dingtalk.protocol import MAX_BODY_BYTES, encode_body

ONCALL = "https://oapi.dingtalk.com/robot/send?access_token=" + "a" * 64
LEADS = "https://oapi.dingtalk.com/robot/send?access_token=" + "b" * 64
ADHOC = "https://oapi.dingtalk.com/robot/send?access_token=" + "c" * 64
CONFIG = {"dingtalk_robots": [
    {"name": "oncall", "webhook": ONCALL, "secret": "SEConcall", "keywords": ["告警"],
     "at_mobiles": ["13900000000"], "default": True},
    {"name": "leads", "webhook": LEADS},
]}


def parse(config=CONFIG, **params):
    params.setdefault("dingdingcontext", "告警: host down")
    return parse_custom_request(params, PackConfig.from_mapping(config)).dingtalk


def refused(config=CONFIG, **params):
    with pytest.raises(ParameterError) as err:
        parse(config, **params)
    return err.value


def labels(request):
    return [robot.label for robot in request.robots]


@pytest.mark.parametrize("webhooks", [
    "oncall,leads",
    "oncall\nleads",
    "oncall; leads",
    '["oncall", "leads"]',
    ["oncall", "leads"],
    [ONCALL, "leads"],
    "%s,%s" % (ONCALL, LEADS),
])
def test_robots_are_given_by_name_or_url_in_every_list_form(webhooks):
    assert labels(parse(dingding=1, dingdingWebhooks=webhooks)) == ["oncall", "leads"]


def test_the_url_of_a_configured_robot_brings_its_secret_and_keywords():
    [robot] = parse(dingdingWebhooks=ONCALL).robots
    assert robot.configured and robot.secret == "SEConcall" and robot.keywords == ("告警",)


def test_an_unconfigured_webhook_is_shown_masked():
    [robot] = parse(dingdingWebhooks=ADHOC).robots
    assert not robot.configured and robot.label.endswith("access_token=cccc***")
    assert "c" * 64 not in robot.label


def test_the_same_robot_twice_is_sent_once():
    assert labels(parse(dingdingWebhooks=["oncall", ONCALL, "ONCALL"])) == ["oncall"]


def test_dingding_alone_sends_to_the_default_robots():
    assert labels(parse(dingding=1)) == ["oncall"]


def test_dingding_may_name_the_robots_itself():
    assert labels(parse(dingding="leads")) == ["leads"]


def test_webhooks_or_context_alone_mean_dingding_1():
    assert labels(parse(dingdingWebhooks="leads")) == ["leads"]
    assert labels(parse()) == ["oncall"]


def test_a_leftover_msgtype_alone_asks_for_nothing():
    settings = PackConfig.from_mapping(CONFIG).dingtalk
    assert parse_dingtalk_request({"dingdingMsgType": "text", "dingding": ""}, settings) is None


@pytest.mark.parametrize("params, parameter, problem", [
    ({"dingding": 0, "dingdingWebhooks": "oncall"}, "dingding", "is off"),
    ({"dingding": 2}, "dingding", "1 / 0"),
    ({"dingding": "leads", "dingdingWebhooks": "oncall"}, "dingding", "names robots"),
    ({"dingdingWebhooks": "nobody"}, "dingdingWebhooks", "oncall, leads"),
    ({"dingdingWebhooks": [{"url": ONCALL}]}, "dingdingWebhooks", "entry 0 is a dict"),
    ({"dingdingWebhooks": "https://evil.example/robot/send?access_token=x"}, "dingdingWebhooks",
     "dingtalk_allowed_hosts"),
    ({"dingdingWebhooks": "http://oapi.dingtalk.com/robot/send?access_token=x"},
     "dingdingWebhooks", "https://"),
    ({"dingdingMsgType": "image"}, "dingdingMsgType", "text, markdown, link, actionCard"),
    ({"dingding": 1, "dingdingcontext": " "}, "dingdingcontext", "is required"),
])
def test_bad_dingtalk_parameters_are_refused_by_name(params, parameter, problem):
    error = refused(**params)
    assert error.parameter == parameter and problem in str(error)


def test_without_a_default_robot_the_error_lists_the_robots():
    config = {"dingtalk_robots": [dict(r, default=False) for r in CONFIG["dingtalk_robots"]]}
    error = refused(config, dingding=1)
    assert error.parameter == "dingdingWebhooks" and "oncall, leads" in str(error)


def test_without_any_robot_the_error_points_at_the_config():
    assert "dingtalk_robots" in str(refused({}, dingding=1))


@pytest.mark.parametrize("given, msgtype", [
    ("markdown", "markdown"), ("MARKDOWN", "markdown"), ("actioncard", "actionCard"),
    ("", "text"), (None, "text"),
])
def test_the_msgtype_is_matched_without_case_and_defaults_to_text(given, msgtype):
    context = {"text": {"content": "x"}, "markdown": {"title": "t", "text": "x"},
               "actionCard": {"title": "t", "text": "x", "singleTitle": "s",
                              "singleURL": "https://a"}}[msgtype]
    params = {"dingdingcontext": context}
    if given is not None:
        params["dingdingMsgType"] = given
    assert parse(**params).message.msgtype == msgtype


def body(**params):
    request = parse(**params)
    return request.message.body(request.robots[0].mentions)


def test_text_is_the_content_of_a_text_message():
    assert body(dingdingWebhooks="leads", dingdingcontext="告警 磁盘满") == {
        "msgtype": "text", "text": {"content": "告警 磁盘满"}}


def test_a_text_that_merely_looks_like_json_is_sent_as_written():
    raw = '{"alert": "brute force", "host": "web-01"}'
    assert body(dingdingWebhooks="leads", dingdingcontext=raw)["text"]["content"] == raw


def test_mentions_come_from_the_context_object_and_the_robots_defaults():
    context = json.dumps({"content": "告警", "atMobiles": ["13800000000"],
                          "atUserIds": ["manager01"], "isAtAll": False})
    assert body(dingdingWebhooks="oncall", dingdingcontext=context)["at"] == {
        "atMobiles": ["13800000000", "13900000000"], "atUserIds": ["manager01"],
        "isAtAll": False}


def test_markdown_mentions_are_also_written_into_the_text_once():
    context = {"title": "告警", "text": "## 告警\n@13800000000 please look",
               "atMobiles": ["13800000000"], "atUserIds": ["manager01"]}
    sent = body(dingdingWebhooks="oncall", dingdingMsgType="markdown", dingdingcontext=context)
    text = sent["markdown"]["text"]
    assert text.count("@13800000000") == 1
    assert text.endswith("@13900000000 @manager01")


def test_is_at_all_is_passed_on():
    sent = body(dingdingWebhooks="leads", dingdingcontext={"content": "告警", "isAtAll": True})
    assert sent["at"]["isAtAll"] is True


def test_a_markdown_string_gets_its_first_line_as_title():
    sent = body(dingdingWebhooks="leads", dingdingMsgType="markdown",
                dingdingcontext="## 🔥 告警: brute force on web-01\n\n- source: 203.0.113.9")
    assert sent["markdown"]["title"] == "🔥 告警: brute force on web-01"


def test_action_card_buttons_keep_dingtalks_field_names():
    card = {"title": "告警", "text": "处置?", "btnOrientation": 1, "btns": [
        {"title": "封禁", "actionURL": "https://soar.example/block"},
        {"title": "忽略", "actionURL": "dingtalk://dingtalkclient/page/link?url=x"}]}
    sent = body(dingdingWebhooks="leads", dingdingMsgType="actionCard", dingdingcontext=card)
    assert sent["actionCard"]["btnOrientation"] == "1"
    assert [b["title"] for b in sent["actionCard"]["btns"]] == ["封禁", "忽略"]


def test_a_feed_card_may_be_given_as_the_list_of_links():
    links = [{"title": "告警", "messageURL": "https://a", "picURL": "https://p"}]
    sent = body(dingdingWebhooks="leads", dingdingMsgType="feedCard",
                dingdingcontext=json.dumps(links))
    assert sent == {"msgtype": "feedCard", "feedCard": {"links": links}}


@pytest.mark.parametrize("msgtype, context, problem", [
    ("link", {"title": "t", "text": "x"}, "needs messageUrl"),
    ("link", "just text", "JSON object"),
    ("link", {"title": "t", "text": "x", "messageUrl": "javascript:alert(1)"}, "http(s)://"),
    ("link", {"title": "t", "text": "x", "messageUrl": "https://a", "atMobiles": ["13800000000"]},
     "only in text and markdown"),
    ("actionCard", {"title": "t", "text": "x", "btns": [{"title": "a", "url": "https://a"}]},
     "btns[0] has 'url'"),
    ("actionCard", {"title": "t", "text": "x", "singleTitle": "s", "singleURL": "https://a",
                    "btnOrientation": "2"}, "btnOrientation"),
    ("actionCard", {"title": "t", "text": "x"}, "needs singleTitle, singleURL"),
    ("feedCard", {"links": [{"title": "a", "messageUrl": "https://a", "picURL": "https://p"}]},
     "note the casing"),
    ("feedCard", {"links": []}, "non-empty list"),
    ("text", {"content": "a", "text": "b"}, "not both"),
    ("text", {"content": "x", "atMobiles": ["call me"]}, "not a mobile number"),
    ("text", {"content": "x", "isAtAll": "maybe"}, "isAtAll"),
    ("markdown", {"title": "t", "body": "x"}, "'body'"),
    ("link", "{not json", "not valid JSON"),
])
def test_a_malformed_context_is_refused_with_the_expected_shape(msgtype, context, problem):
    error = refused(dingdingWebhooks="leads", dingdingMsgType=msgtype, dingdingcontext=context)
    assert error.parameter == "dingdingcontext" and problem in str(error)


def _text_of_body_size(size):
    """A text message whose body is exactly ``size`` bytes."""
    empty = len(encode_body({"msgtype": "text", "text": {"content": ""}}))
    return "告" + "x" * (size - empty - len("告".encode()))


def test_a_message_at_the_size_limit_is_accepted():
    text = _text_of_body_size(MAX_BODY_BYTES)
    request = parse(dingdingWebhooks="leads", dingdingcontext=text)
    assert len(encode_body(request.message.body())) == MAX_BODY_BYTES


def test_a_link_message_one_byte_over_the_size_limit_is_refused_before_sending():
    # text and markdown are split or truncated instead (test_dingtalk_long_messages.py)
    link = {"title": "t", "messageUrl": "https://example.com/x", "text": ""}
    empty = len(encode_body({"msgtype": "link", "link": link}))
    link["text"] = "x" * (MAX_BODY_BYTES + 1 - empty)
    error = refused(dingdingWebhooks="leads", dingdingMsgType="link",
                    dingdingcontext=json.dumps(link))
    assert error.parameter == "dingdingcontext"
    assert "%d bytes" % (MAX_BODY_BYTES + 1) in str(error) and "460101" in str(error)
    assert "only text and markdown messages can be split" in str(error)
