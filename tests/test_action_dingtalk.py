"""notifyByCustom with email and DingTalk together, as StackStorm runs it: through
BaseActionTestCase (the real one under st2-run-pack-tests, the stand-in under plain pytest)."""

import json

import jsonschema
import pytest
from helpers import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    SMTP_CODE,
    action_metadata,
    dingtalk_config,
    dingtalk_robot,
    smtp_instance,
)
from notifyByCustom import NotifyByCustomAction
from st2tests.base import BaseActionTestCase

from testkit.dingtalk_server import FakeRobot


class NotifyByCustomDingTalkActionTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = NotifyByCustomAction

    @pytest.fixture(autouse=True)
    def _servers(self, smtp_server, dingtalk_server, local_ca):
        self.smtp = smtp_server()
        self.dingtalk = dingtalk_server([
            FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET, keywords=("告警",)),
            FakeRobot("leads-token", state="disabled")])
        self.config = dingtalk_config(
            self.dingtalk, local_ca,
            dingtalk_robot(self.dingtalk, secret=DINGTALK_SECRET, keywords=["告警"],
                           default=True),
            dingtalk_robot(self.dingtalk, "leads", "leads-token"),
            smtp_instances=[smtp_instance(self.smtp, local_ca)])

    def run_action(self, **params):
        return self.get_action_instance(config=self.config).run(**params)

    def test_email_and_dingtalk_are_delivered_in_one_execution(self):
        status, result = self.run_action(
            email=1, receivers="oncall@163.com", emailTitle="告警", emailcontext="web-01",
            dingding=1, dingdingMsgType="markdown",
            dingdingcontext=json.dumps({"title": "告警", "text": "## 告警 web-01",
                                        "atMobiles": ["13800000000"]}))
        assert status is True and result["status"] is True, result["message"]
        assert [(d["channel"], d["target"], d["code"]) for d in result["deliveries"]] == [
            ("email", "oncall@163.com", "250"), ("dingtalk", "soc-oncall", "0")]
        assert len(self.smtp.received) == 1
        [message] = self.dingtalk.received
        assert message.signed and message.notified == ("13800000000",)
        jsonschema.validate(result, action_metadata()["output_schema"])

    def test_a_refusing_robot_fails_the_execution_and_the_email_still_goes(self):
        status, result = self.run_action(
            email=1, receivers="oncall@163.com", emailcontext="web-01",
            dingdingWebhooks="soc-oncall,leads", dingdingcontext="告警 web-01")
        assert status is False
        email, oncall, leads = result["deliveries"]
        assert email["ok"] and oncall["ok"] and not leads["ok"]
        assert leads["code"] == "400102" and "enable the robot again" in result["message"]
        jsonschema.validate(result, action_metadata()["output_schema"])

    def test_no_credential_appears_in_the_result(self):
        self.config["dingtalk_robots"][0]["secret"] = "SECwrong" + DINGTALK_SECRET[3:]
        self.config["smtp_instances"][0]["emailPassword"] = SMTP_CODE + "-old"
        status, result = self.run_action(email=1, receivers="a@163.com", emailcontext="告警",
                                         dingding=1, dingdingcontext="告警")
        shown = json.dumps(result, ensure_ascii=False)
        assert status is False and "sign not match" in shown
        for secret in (DINGTALK_TOKEN, DINGTALK_SECRET[3:], SMTP_CODE):
            assert secret not in shown

    def test_a_bad_dingtalk_parameter_fails_before_anything_is_sent(self):
        status, result = self.run_action(email=1, receivers="a@163.com", emailcontext="x",
                                         dingding=1, dingdingMsgType="voice",
                                         dingdingcontext="告警")
        assert status is False and result["deliveries"] == []
        assert "dingdingMsgType" in result["message"]
        assert self.smtp.received == [] and self.dingtalk.requests == 0
