"""customReceiver (extra receivers) and jsonInput (the whole payload as JSON): accepted
shapes, precedence, and clear refusals naming what is wrong."""

import json

import pytest
from helpers import SMTP_LOGIN, smtp_instance

from notify_message import PackConfig, ParameterError, notify_by_custom
from notify_message.custom.request import parse_custom_request

ALIYUN = {"access_key_id": "LTAI5tExample", "access_key_secret": "example-secret"}
PROFILE = {"name": "oncall", "sign_name": "云安全中心", "template_code": "SMS_1"}
SMTP = {"assetname": "soc", "emailUsername": SMTP_LOGIN, "emailPassword": "code-1234"}
WEBHOOK = "https://oapi.dingtalk.com/robot/send?access_token=5e1f0c0ffee0123456789abcdef"
ROBOT = {"name": "soc-robot",
         "webhook": "https://oapi.dingtalk.com/robot/send?access_token=0a1b2c3d4e5f60718293"}
CONFIG = PackConfig.from_mapping({"smtp_instances": [SMTP], "aliyun": ALIYUN,
                                  "sms_profiles": [PROFILE], "dingtalk_robots": [ROBOT]})


def parse(**params):
    return parse_custom_request(params, CONFIG)


def refusal(**params):
    with pytest.raises(ParameterError) as err:
        parse(**params)
    return err.value


# --- customReceiver -----------------------------------------------------------------------

def test_receiver_lists_join_receivers_and_telephone():
    request = parse(email=1, receivers="a@163.com", emailcontext="body", sms=1, smscontext="S",
                    customReceiver={"emails": ["b@qq.com", "A@163.com"],
                                    "phones": ["+86 139 0013 9000"]})
    assert request.email.recipients == ("a@163.com", "b@qq.com")
    assert [n.wire for n in request.sms.numbers] == ["13900139000"]


def test_a_contact_list_in_a_json_string_is_accepted():
    contacts = json.dumps([{"name": "张三", "userid": -1, "email": "z@163.com",
                            "mobile": "13800138000"}, {"email": "l@qq.com"}])
    request = parse(customReceiver=contacts, emailcontext="body", sms=1, smscontext="S")
    assert request.email.recipients == ("z@163.com", "l@qq.com")
    assert [n.wire for n in request.sms.numbers] == ["13800138000"]


def test_its_emails_are_mailed_only_with_an_email_body():
    request = parse(customReceiver=[{"email": "z@163.com", "mobile": "13800138000"}],
                    sms=1, smscontext="S")
    assert request.email is None and request.sms is not None


def test_its_phones_alone_do_not_ask_for_sms():
    request = parse(customReceiver={"emails": ["z@163.com"], "phones": ["13800138000"]},
                    emailcontext="body")
    assert request.sms is None and request.voice is None and request.email is not None


@pytest.mark.parametrize("value, parameter, words", [
    ('{"emails": ["a@163.com"', "customReceiver", "not valid JSON"),
    ('"a@163.com"', "customReceiver", "expected"),
    (42, "customReceiver", "expected"),
    ({"email": ["a@163.com"]}, "customReceiver", "unknown key 'email'"),
    ({"emails": "not-an-address"}, "customReceiver.emails", "not an email address"),
    ({"emails": {"a": 1}}, "customReceiver.emails", "list of strings"),
    ({"phones": ["12345"]}, "customReceiver.phones", "not a phone number"),
    ([{"name": "x"}], "customReceiver[0]", "neither email nor mobile"),
    ([{"email": "a@163.com", "phone": "1"}], "customReceiver[0]", "unknown key 'phone'"),
    (["a@163.com"], "customReceiver[0]", "contact object"),
    ([{"mobile": "0571"}], "customReceiver[0].mobile", "not a phone number"),
])
def test_a_malformed_custom_receiver_is_refused_naming_what_is_wrong(value, parameter, words):
    err = refusal(customReceiver=value, emailcontext="body")
    assert err.parameter == parameter and words in err.problem


def test_dingtalk_robots_become_targets_of_the_dingtalk_message():
    request = parse(dingdingcontext="x", customReceiver={"dingtalk": ["soc-robot", WEBHOOK]})
    labels = [robot.label for robot in request.dingtalk.robots]
    assert labels[0] == "soc-robot" and labels[1].startswith("https://oapi.dingtalk.com/")
    assert "5e1f0c0ffee0123456789abcdef" not in labels[1]  # shown masked


def test_robots_join_the_robots_of_dingding_webhooks_once_each():
    request = parse(dingding=1, dingdingWebhooks=WEBHOOK, dingdingcontext="x",
                    customReceiver={"dingtalk": ["soc-robot", WEBHOOK]})
    assert len(request.dingtalk.robots) == 2


def test_a_bad_robot_entry_is_named_by_index_never_by_its_token():
    err = refusal(customReceiver={"dingtalk": ["soc", WEBHOOK.replace("https", "http")]})
    assert err.parameter == "customReceiver.dingtalk[1]"
    assert "access_token" not in str(err) and "5e1f0c0ffee" not in str(err)


# --- jsonInput ----------------------------------------------------------------------------

def test_json_input_alone_carries_the_whole_notification():
    request = parse(jsonInput=json.dumps({"email": 1, "receivers": ["a@163.com"],
                                          "emailTitle": "标题", "emailcontext": "body",
                                          "telephone": "13800138000", "sms": 1,
                                          "smscontext": "S"}))
    assert request.email.subject == "标题" and request.sms.text == "S"


def test_an_explicit_parameter_wins_over_the_same_json_input_key():
    request = parse(emailTitle="explicit", receivers="b@qq.com",
                    jsonInput={"email": 1, "receivers": "a@163.com", "emailTitle": "from json",
                               "emailcontext": "body"})
    assert (request.email.subject, request.email.recipients) == ("explicit", ("b@qq.com",))


def test_a_blank_explicit_parameter_does_not_hide_the_json_input_key():
    # what a playbook passes for parameters it leaves empty
    request = parse(emailTitle="", jsonInput={"email": 1, "receivers": "a@163.com",
                                              "emailTitle": "from json", "emailcontext": "b"})
    assert request.email.subject == "from json"


@pytest.mark.parametrize("value, words", [
    ('{"email": 1,', "not valid JSON"),
    ('["email"]', "expected a JSON object"),
    ({"emial": 1, "bogus": 2}, "unknown keys 'bogus', 'emial'"),
    ({"jsonInput": "{}"}, "cannot contain jsonInput"),
])
def test_a_malformed_json_input_is_refused_naming_the_problem(value, words):
    err = refusal(jsonInput=value)
    assert err.parameter == "jsonInput" and words in err.problem


def test_a_bad_value_inside_json_input_is_named_by_its_key():
    err = refusal(jsonInput={"email": 1, "receivers": "not-an-address", "emailcontext": "b"})
    assert err.parameter == "jsonInput.receivers"


def test_json_input_delivers_email_end_to_end(smtp_server, local_ca):
    server = smtp_server()
    config = {"smtp_instances": [smtp_instance(server, local_ca)]}
    result = notify_by_custom({"jsonInput": json.dumps({
        "email": 1, "receivers": '[{"userid":-1,"email":"xxx@163.com"}]',
        "emailTitle": "Custom notification test", "emailcontext": "Custom notification test"})},
        config)
    assert result.status and [m.rcpt_tos for m in server.received] == [("xxx@163.com",)]
