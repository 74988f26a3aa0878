"""testConnection: every resource of the config checked against the real loopback servers,
nobody notified, secrets never shown, one failing resource never stopping the others."""

import json
import re
import time

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
from notify_message.checks import TEST_MESSAGE, check_connection
from st2tests.base import BaseActionTestCase
from testConnection import TestConnectionAction

from testkit.dingtalk_server import FakeRobot
from testkit.hostile_server import HostileServer

OTHER_SECRET = "SEC" + "0123456789abcdef" * 4


@pytest.fixture
def resources(smtp_server, aliyun_server, dingtalk_server, local_ca):
    """make(**changes) -> (config, smtp, gateway, robots) with one resource of each kind."""

    def make(smtp=None, robot=None, aliyun=None, gateway=None, dingtalk=None):
        smtp_srv = smtp_server()
        gateway_srv = aliyun_server(**(gateway or {}))
        robots = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET,
                                            keywords=("告警",))], **(dingtalk or {}))
        config = {"smtp_instances": [smtp_instance(smtp_srv, local_ca, **(smtp or {}))],
                  **aliyun_config(gateway_srv, local_ca, **(aliyun or {})),
                  **dingtalk_config(robots, local_ca, dingtalk_robot(
                      robots, **dict({"secret": DINGTALK_SECRET, "keywords": ["告警"]},
                                     **(robot or {}))))}
        return config, smtp_srv, gateway_srv, robots

    return make


def rows(report):
    return {(c["resource"], c["check"]): c for c in report.to_dict()["checks"]}


def assert_no_secret(report):
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    for secret in (SMTP_CODE, DINGTALK_TOKEN, DINGTALK_SECRET, ALIYUN_KEY_ID, ALIYUN_SECRET,
                   OTHER_SECRET):
        assert secret not in text


def test_a_good_config_passes_every_check_and_nobody_is_notified(resources):
    config, smtp, gateway, robots = resources()
    report = check_connection({}, config)
    assert report.status is True, report.message
    found = rows(report)
    assert {k for k in found if k[0] != "clock"} == {
        ("smtp:soc-163", "connect"), ("smtp:soc-163", "login"),
        ("dingtalk:soc-oncall", "webhook"), ("dingtalk:soc-oncall", "secret"),
        ("dingtalk:soc-oncall", "keywords"), ("dingtalk:soc-oncall", "token and signature"),
        ("aliyun", "access key"), ("aliyun", "sign name of oncall")}
    assert sorted(k[1] for k in found if k[0] == "clock") == sorted(
        {f"vs 127.0.0.1:{robots.port}", f"vs 127.0.0.1:{gateway.port}"})
    assert smtp.sessions == 1 and smtp.received == []
    assert robots.received == [] and robots.requests == 1
    assert [c.action for c in gateway.received] == ["QuerySmsSignList"]
    assert report.message == f"All {len(found)} checks passed."
    assert_no_secret(report)
    jsonschema.validate(report.to_dict(), action_metadata("testConnection")["output_schema"])


def test_a_wrong_smtp_password_is_the_server_s_535_with_what_to_do(resources):
    config, smtp, _, _ = resources(smtp={"emailPassword": "WrongAuthCode123"})
    found = rows(check_connection({"resources": "smtp"}, config))
    assert found[("smtp:soc-163", "connect")]["ok"] is True
    login = found[("smtp:soc-163", "login")]
    assert login["ok"] is False and "535" in login["detail"]
    assert "authorization code" in login["what_to_do"]
    assert "WrongAuthCode123" not in json.dumps(list(found.values()))
    assert set(k[0] for k in found) == {"smtp:soc-163"}


def test_a_wrong_token_is_named_by_dingtalk_s_errcode(resources):
    config, _, _, robots = resources(robot={"webhook": None})
    config["dingtalk_robots"][0]["webhook"] = robots.webhook("0" * 64)
    report = check_connection({"resources": ["dingtalk:soc-oncall"]}, config)
    probe = rows(report)[("dingtalk:soc-oncall", "token and signature")]
    assert probe["ok"] is False and "errcode 300001" in probe["detail"]
    assert "copy the webhook again" in probe["what_to_do"]
    assert robots.received == []


def test_a_wrong_secret_is_dingtalk_s_sign_not_match(resources):
    config, _, _, robots = resources(robot={"secret": OTHER_SECRET})
    report = check_connection({"resources": "soc-oncall"}, config)
    probe = rows(report)[("dingtalk:soc-oncall", "token and signature")]
    assert probe["ok"] is False and "sign not match" in probe["detail"]
    assert "secret" in probe["what_to_do"]
    assert_no_secret(report)


def test_a_secret_not_in_dingtalk_s_form_is_said(resources):
    config = resources(robot={"secret": "SECnot-hex"})[0]
    found = rows(check_connection({"resources": "dingtalk"}, config))
    assert found[("dingtalk:soc-oncall", "secret")]["ok"] is False


@pytest.mark.parametrize("aliyun, code, hint", [
    ({"access_key_id": "LTAI5tNobodyHasThisKey"}, "InvalidAccessKeyId.NotFound",
     "the AccessKey ID does not exist"),
    ({"access_key_secret": "not-the-secret-of-this-key-000"}, "SignatureDoesNotMatch",
     "does not belong to aliyun.access_key_id"),
])
def test_a_wrong_access_key_is_the_gateway_s_error_with_what_to_do(resources, aliyun, code,
                                                                   hint):
    config, _, gateway, _ = resources(aliyun=aliyun)
    report = check_connection({"resources": "aliyun"}, config)
    key = rows(report)[("aliyun", "access key")]
    assert key["ok"] is False and code in key["detail"] and hint in key["what_to_do"]
    assert "string to sign" not in json.dumps(report.to_dict())
    assert gateway.received == []
    assert "not-the-secret-of-this-key-000" not in json.dumps(report.to_dict())


def test_a_ram_user_without_read_permission_still_proves_the_key(resources):
    config = resources(gateway={"forbidden_actions": ("QuerySmsSignList",)})[0]
    found = rows(check_connection({"resources": "aliyun"}, config))
    key = found[("aliyun", "access key")]
    assert key["ok"] is True and "dysms:QuerySmsSignList" in key["what_to_do"]
    assert ("aliyun", "sign name of oncall") not in found


def test_a_signature_still_under_review_fails_its_profile(resources):
    config = resources(gateway={"sign_names": (), "pending_sign_names": ("云安全中心",)})[0]
    sign = rows(check_connection({"resources": "aliyun"}, config))[
        ("aliyun", "sign name of oncall")]
    assert sign["ok"] is False and "AUDIT_STATE_INIT" in sign["detail"]


def test_a_hanging_smtp_server_is_bounded_and_the_others_are_still_checked(resources):
    with HostileServer("silent", hold=20) as hanging:
        config = resources(smtp={"emailSendServer": "127.0.0.1:%d" % hanging.port,
                                 "timeout": 1})[0]
        started = time.monotonic()
        report = check_connection({}, config)
        took = time.monotonic() - started
    found = rows(report)
    connect = found[("smtp:soc-163", "connect")]
    assert connect["ok"] is False and "timed out" in connect["detail"]
    assert took < 10
    assert found[("aliyun", "access key")]["ok"] is True
    assert found[("dingtalk:soc-oncall", "token and signature")]["ok"] is True


def test_a_test_message_is_posted_only_when_asked_and_carries_the_keyword(resources):
    config, _, _, robots = resources()
    report = check_connection({"resources": "dingtalk", "postTestMessage": True}, config)
    assert rows(report)[("dingtalk:soc-oncall", "test message")]["ok"] is True
    [message] = robots.received
    content = message.payload["content"]
    assert content.startswith("告警 ") and TEST_MESSAGE.split("{")[0] in content


@pytest.mark.parametrize("service, offset, fails", [
    ("dingtalk", 2 * 3600, "DingTalk"),
    ("aliyun", 1200, "Alibaba Cloud"),
])
def test_a_clock_far_off_the_servers_fails_with_what_to_do(resources, service, offset, fails):
    changes = {"dingtalk": {"clock_offset": offset}} if service == "dingtalk" \
        else {"gateway": {"clock_offset": offset}}
    config, _, gateway, robots = resources(**changes)
    report = check_connection({}, config)
    server = robots if service == "dingtalk" else gateway
    clock = rows(report)[("clock", f"vs 127.0.0.1:{server.port}")]
    assert clock["ok"] is False and "NTP" in clock["what_to_do"] and fails in clock["what_to_do"]
    seconds, direction = re.match(r"(\d+) s (behind|ahead of) ", clock["detail"]).groups()
    assert abs(int(seconds) - offset) <= 2 and direction == "behind"


def test_an_unknown_resource_is_refused_by_name(resources):
    config = resources()[0]
    report = check_connection({"resources": "smtp, nobody"}, config)
    assert report.status is False and "resources[1]" in report.message
    assert "smtp:soc-163" in report.message and report.to_dict()["checks"] == []


def test_a_config_that_does_not_parse_is_one_line_without_its_secrets():
    report = check_connection({}, {"smtp_instances": [{"assetname": "x", "emailPassword":
                                                       SMTP_CODE}]})
    assert report.status is False and report.message.startswith("Nothing was checked")
    assert SMTP_CODE not in report.message


@pytest.mark.parametrize("value", ["maybe", 7, [1]])
def test_post_test_message_must_be_a_boolean(value):
    report = check_connection({"postTestMessage": value}, {})
    assert "postTestMessage" in report.message and "expected true or false" in report.message


class TestConnectionActionTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = TestConnectionAction

    @pytest.fixture(autouse=True)
    def _resources(self, resources):
        self.config, self.smtp, _, _ = resources()

    def test_the_action_answers_the_table_and_succeeds(self):
        status, result = self.get_action_instance(config=self.config).run(
            resources=["smtp"], postTestMessage=False)
        assert status is True, result["message"]
        assert [c["check"] for c in result["checks"]] == ["connect", "login"]


def test_hanging_https_servers_are_bounded_for_dingtalk_and_alibaba(resources, local_ca):
    with HostileServer("silent", tls_pem=local_ca.server_pem, hold=20) as hanging:
        where = "127.0.0.1:%d" % hanging.port
        config = resources(aliyun={"endpoints": {"dysmsapi": f"https://{where}/"},
                                   "timeout": 1})[0]
        config["dingtalk_robots"][0]["webhook"] = (f"https://{where}/robot/send?"
                                                   f"access_token={DINGTALK_TOKEN}")
        config["dingtalk_allowed_hosts"] = [where]
        config["dingtalk_timeout"] = 1
        started = time.monotonic()
        report = check_connection({"resources": ["dingtalk", "aliyun"]}, config)
        took = time.monotonic() - started
    found = rows(report)
    probe = found[("dingtalk:soc-oncall", "token and signature")]
    key = found[("aliyun", "access key")]
    assert probe["ok"] is False and "no answer" in probe["detail"]
    assert key["ok"] is False and "no answer" in key["detail"]
    assert took < 6 and not any(k[0] == "clock" for k in found)
    assert_no_secret(report)
