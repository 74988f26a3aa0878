"""ChatOps aliases: what each command extracts (BaseActionAliasTestCase, the real one under
st2, the stand-in under plain pytest), that no command is ambiguous across the pack's aliases,
and that the ack and result formats render as st2 renders them."""

import glob
import os

import pytest
import yaml
from helpers import PACK_DIR
from st2common.util.jinja import get_jinja_environment
from st2tests.base import BaseActionAliasTestCase


def load_aliases():
    aliases = {}
    for path in sorted(glob.glob(os.path.join(PACK_DIR, "aliases", "*.yaml"))):
        with open(path) as f:
            alias = yaml.safe_load(f)
        aliases[alias["name"]] = alias
    return aliases


ALIASES = load_aliases()


def format_strings(alias):
    strings = []
    for item in alias["formats"]:
        strings.extend(item["representation"] if isinstance(item, dict) else [item])
    return strings


ALL_FORMATS = [f for alias in ALIASES.values() for f in format_strings(alias)]
MAIL = "mail {{ receivers }} {{ emailTitle }}: {{ emailcontext }}"
DINGTALK = "dingtalk {{ dingdingWebhooks }} {{ dingdingcontext }}"
INCIDENT = ("notify {{ aliuid }} of new incident {{ params }} "
            "{{ eventId=yundun_soar_incident_generate }}")
ALERT = "notify {{ aliuid }} of new alert {{ params }} {{ eventId=yundun_soar_alert_generate }}"
UPDATE = ("notify {{ aliuid }} of incident update {{ params }} "
          "{{ eventId=yundun_soar_incident_update }}")
INCIDENT_VARS = ('{"incidentName":"Brute force","incidentID":"inc-7",'
                 '"startTime":"2025-02-03 00:00:00"}')

# (alias, format, command, parameters extracted)
EXAMPLES = [
    ("notify_mail", MAIL, "mail oncall@163.com Disk full: web-01 is at 95%",
     {"receivers": "oncall@163.com", "emailTitle": "Disk full",
      "emailcontext": "web-01 is at 95%"}),
    ("notify_mail", MAIL, "mail a@163.com,b@qq.com 检测到新的安全事件: 主机 web-01 异常登录",
     {"receivers": "a@163.com,b@qq.com", "emailTitle": "检测到新的安全事件",
      "emailcontext": "主机 web-01 异常登录"}),
    ("notify_mail", MAIL, "mail oncall@163.com Disk full: see the graph email=soc-163",
     {"receivers": "oncall@163.com", "emailTitle": "Disk full",
      "emailcontext": "see the graph", "email": "soc-163"}),
    ("notify_dingtalk", DINGTALK, "dingtalk soc-robot 监控报警 web-01 is down",
     {"dingdingWebhooks": "soc-robot", "dingdingcontext": "监控报警 web-01 is down"}),
    ("notify_dingtalk", DINGTALK, 'dingtalk soc-robot "**web-01** down" dingdingMsgType=markdown',
     {"dingdingWebhooks": "soc-robot", "dingdingcontext": "**web-01** down",
      "dingdingMsgType": "markdown"}),
    ("notify_incident", INCIDENT, "notify 1766xxxx of new incident " + INCIDENT_VARS,
     {"aliuid": "1766xxxx", "params": INCIDENT_VARS,
      "eventId": "yundun_soar_incident_generate"}),
    ("notify_incident", INCIDENT,
     "notify 1766xxxx of new incident " + INCIDENT_VARS + " lang=en channelTypeList=email,pmsg",
     {"aliuid": "1766xxxx", "params": INCIDENT_VARS, "eventId": "yundun_soar_incident_generate",
      "lang": "en", "channelTypeList": "email,pmsg"}),
    ("notify_incident", ALERT,
     'notify 1766xxxx of new alert {"alertName":"Webshell","alertID":"a-9","startTime":"now"}',
     {"aliuid": "1766xxxx", "eventId": "yundun_soar_alert_generate",
      "params": '{"alertName":"Webshell","alertID":"a-9","startTime":"now"}'}),
    ("notify_incident", UPDATE,
     'notify 1766xxxx of incident update {"incidentName":"x","incidentID":"inc-7"}',
     {"aliuid": "1766xxxx", "eventId": "yundun_soar_incident_update",
      "params": '{"incidentName":"x","incidentID":"inc-7"}'}),
    ("storm_silence", "silence key {{ key }} for {{ duration=2h }}",
     "silence key ALERT-42 for 30m", {"key": "ALERT-42", "duration": "30m"}),
    ("storm_silence", "silence key {{ key }} for {{ duration=2h }}",
     'silence key inc-7 for 1d comment="patch window"',
     {"key": "inc-7", "duration": "1d", "comment": "patch window"}),
    ("storm_silence", "silence target {{ target }} on {{ channel }} for {{ duration=2h }}",
     "silence target soc-oncall on dingtalk for 2h",
     {"target": "soc-oncall", "channel": "dingtalk", "duration": "2h"}),
    ("storm_silence", "silence text {{ text }} for {{ duration=2h }}",
     "silence text disk full on web-01 for 4h", {"text": "disk full on web-01", "duration": "4h"}),
    ("storm_silences", "silences", "silences", {}),
    ("storm_unsilence", "unsilence {{ id }}", "unsilence sil-0123456789",
     {"id": "sil-0123456789"}),
]


class _AliasTestCase(BaseActionAliasTestCase):
    __test__ = False

    def check_examples(self):
        examples = [e for e in EXAMPLES if e[0] == self.action_alias_name]
        assert examples
        for _, format_string, command, parameters in examples:
            self.assertExtractedParametersMatch(format_string, command, parameters)
            self.assertCommandMatchesExactlyOneFormatString(ALL_FORMATS, command)


class NotifyMailAliasTestCase(_AliasTestCase):
    __test__ = True
    action_alias_name = "notify_mail"

    def test_mail_commands_extract_receivers_subject_and_body(self):
        self.check_examples()

    def test_a_command_without_subject_separator_matches_no_format(self):
        with pytest.raises(AssertionError):
            self.assertCommandMatchesExactlyOneFormatString(ALL_FORMATS, "mail a@163.com hello")


class NotifyDingTalkAliasTestCase(_AliasTestCase):
    __test__ = True
    action_alias_name = "notify_dingtalk"

    def test_dingtalk_commands_extract_robot_and_message(self):
        self.check_examples()


class NotifyIncidentAliasTestCase(_AliasTestCase):
    __test__ = True
    action_alias_name = "notify_incident"

    def test_incident_commands_extract_account_template_and_variables(self):
        self.check_examples()

    def test_an_unknown_notification_kind_matches_no_format(self):
        with pytest.raises(AssertionError):
            self.assertCommandMatchesExactlyOneFormatString(
                ALL_FORMATS, 'notify 1766xxxx of lunch {"where":"canteen"}')


class StormAliasTestCase(_AliasTestCase):
    __test__ = True
    action_alias_name = "storm_silence"

    def test_silence_commands_extract_their_matcher_and_duration(self):
        self.check_examples()


class StormListAliasTestCase(_AliasTestCase):
    __test__ = True
    action_alias_name = "storm_silences"

    def test_the_list_command_takes_no_parameter(self):
        self.check_examples()


class StormUnsilenceAliasTestCase(_AliasTestCase):
    __test__ = True
    action_alias_name = "storm_unsilence"

    def test_unsilence_extracts_the_silence_id(self):
        self.check_examples()


def action_parameters(action_ref):
    pack, name = action_ref.split(".")
    assert pack == "notify_message"
    with open(os.path.join(PACK_DIR, "actions", name + ".yaml")) as f:
        return yaml.safe_load(f)["parameters"]


@pytest.mark.parametrize("alias_name, format_string, command, parameters", EXAMPLES)
def test_every_extracted_parameter_is_a_parameter_of_the_action(alias_name, format_string,
                                                                command, parameters):
    alias = ALIASES[alias_name]
    declared = action_parameters(alias["action_ref"])
    assert set(parameters) | set(alias.get("immutable_parameters") or {}) <= set(declared)


def test_the_dingtalk_alias_always_turns_the_dingtalk_channel_on():
    assert ALIASES["notify_dingtalk"]["immutable_parameters"] == {"dingding": 1}


def render_ack(alias_name, parameters):
    execution = {"id": "5f0000000000000000000001", "parameters": parameters}
    template = ALIASES[alias_name]["ack"]["format"]
    return get_jinja_environment(allow_undefined=False).from_string(template).render(
        execution=execution)


def render_result(alias_name, status="succeeded", result=None):
    runner_result = {"exit_code": 0, "result": result, "stdout": "", "stderr": ""}
    execution = {"id": "5f0000000000000000000001", "status": status,
                 "result": {} if result is None else runner_result}
    template = ALIASES[alias_name]["result"]["format"]
    return get_jinja_environment(allow_undefined=True).from_string(template).render(
        execution=execution).strip()


def delivery(channel, target, ok, detail, code=None):
    return {"channel": channel, "target": target, "ok": ok, "code": code, "attempts": 1,
            "detail": detail}


@pytest.mark.parametrize("alias_name, parameters, expected", [
    ("notify_mail", {"receivers": "a@163.com", "emailTitle": "t", "emailcontext": "b"},
     "Mailing a@163.com"),
    ("notify_dingtalk", {"dingdingWebhooks": "soc-robot", "dingdingcontext": "x",
                         "dingding": 1}, "Posting to DingTalk robot soc-robot"),
    ("notify_incident", {"aliuid": "1766xxxx", "eventId": "yundun_soar_incident_generate",
                         "params": "{}"}, "Notifying 1766xxxx (yundun_soar_incident_generate)"),
])
def test_ack_formats_render_with_the_extracted_parameters(alias_name, parameters, expected):
    assert render_ack(alias_name, parameters).startswith(expected)


@pytest.mark.parametrize("alias_name, result, expected", [
    ("notify_mail", {"status": True, "message": "1 delivery succeeded (email 1/1)"},
     "Mail sent: 1 delivery succeeded (email 1/1)"),
    ("notify_mail", {"status": False, "message": "Nothing was sent: parameter 'receivers': "
                                                 "'x' is not an email address"},
     "Mail not sent: Nothing was sent: parameter 'receivers'"),
    ("notify_dingtalk", {"status": True, "message": "ok", "deliveries": [
        delivery("dingtalk", "soc-robot", True, "sent", "0"),
        delivery("dingtalk", "ops-robot", True, "sent", "0")]},
     "Posted to soc-robot, ops-robot."),
    ("notify_dingtalk", {"status": False, "message": "1 of 2 failed", "deliveries": [
        delivery("dingtalk", "soc-robot", True, "sent", "0"),
        delivery("dingtalk", "ops-robot", False, "keywords not in content", "310000")]},
     "Not posted:\n- ops-robot: keywords not in content (errcode 310000)"),
    ("notify_dingtalk", {"status": False, "message": "Nothing was sent: no robot named x",
                         "deliveries": []},
     "Not posted: Nothing was sent: no robot named x"),
    ("notify_incident", {"status": True, "message": "2 deliveries succeeded",
                         "channels": {"used": ["email", "pmsg"]}},
     "Notified on email, pmsg: 2 deliveries succeeded"),
    ("notify_incident", {"status": False, "message": "1 of 2 deliveries failed"},
     "Notification failed: 1 of 2 deliveries failed"),
    ("storm_silences", {"status": True, "message": "1 silence(s) in force.", "silences": [
        {"id": "sil-1", "until": "2026-12-01T12:00:00Z", "key": "ALERT-42",
         "comment": "known"}]},
     "1 silence(s) in force.\n- sil-1 until 2026-12-01T12:00:00Z: key=ALERT-42 (known)"),
    ("storm_unsilence", {"status": False, "message": "No silence sil-9 is in force."},
     "No silence sil-9 is in force."),
])
def test_result_formats_branch_on_status_and_deliveries(alias_name, result, expected):
    assert render_result(alias_name, "succeeded" if result["status"] else "failed",
                         result).startswith(expected)


@pytest.mark.parametrize("alias_name", sorted(ALIASES))
def test_result_formats_explain_an_execution_that_returned_nothing(alias_name):
    text = render_result(alias_name, status="timeout")
    assert "the action ended with timeout and no result" in text
