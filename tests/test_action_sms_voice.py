"""notifyByCustom's SMS, voice, customReceiver and jsonInput as StackStorm runs them: through
BaseActionTestCase (the real one under st2-run-pack-tests, the stand-in under plain pytest)."""

import json

import jsonschema
import pytest
from helpers import ALIYUN_KEY_ID, ALIYUN_SECRET, action_metadata, aliyun_config, smtp_instance
from notifyByCustom import NotifyByCustomAction
from st2tests.base import BaseActionTestCase


class NotifyByCustomSmsVoiceTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = NotifyByCustomAction

    @pytest.fixture(autouse=True)
    def _servers(self, aliyun_server, smtp_server, local_ca):
        self.gateway = aliyun_server()
        self.config = aliyun_config(self.gateway, local_ca)
        self.start_smtp = lambda: smtp_server()
        self.local_ca = local_ca

    def run_action(self, **params):
        return self.get_action_instance(config=self.config).run(**params)

    def test_sms_and_a_call_reach_the_on_call_phone(self):
        status, result = self.run_action(telephone="13800138000", sms="1",
                                         smscontext="web-01 告警", telephonecontext="web-01 告警")
        assert status is True and result["status"] is True
        assert [(d["channel"], d["code"]) for d in result["deliveries"]] == [
            ("sms", "OK"), ("voice", "OK")]
        assert all(d["reference"] for d in result["deliveries"])
        assert sorted(c.action for c in self.gateway.received) == ["SendSms", "SingleCallByTts"]

    def test_results_match_the_output_schema(self):
        schema = action_metadata()["output_schema"]
        _, ok = self.run_action(telephone="13800138000", sms=1, smscontext="x")
        self.gateway.update(business_code="isv.AMOUNT_NOT_ENOUGH")
        _, refused = self.run_action(telephone="13900139000", sms=1, smscontext="x")
        _, robots = self.run_action(customReceiver={"dingtalk": ["soc-robot"]})
        for result in (ok, refused, robots):
            jsonschema.validate(result, schema)

    def test_a_refused_sms_fails_the_execution_and_says_why(self):
        self.gateway.update(business_code="isv.AMOUNT_NOT_ENOUGH")
        status, result = self.run_action(telephone="13800138000", sms=1, smscontext="x")
        assert status is False and "top up" in result["message"]
        assert result["deliveries"][0]["code"] == "isv.AMOUNT_NOT_ENOUGH"

    def test_a_wrong_secret_fails_without_showing_the_access_key_pair(self):
        self.config["aliyun"]["access_key_secret"] = "rotated-" + ALIYUN_SECRET
        status, result = self.run_action(telephone="13800138000", sms=1, smscontext="x")
        shown = json.dumps(result, ensure_ascii=False)
        assert status is False and "SignatureDoesNotMatch" in shown
        assert ALIYUN_SECRET not in shown and ALIYUN_KEY_ID not in shown

    def test_json_input_and_custom_receiver_reach_email_and_sms_together(self):
        smtp = self.start_smtp()
        self.config["smtp_instances"] = [smtp_instance(smtp, self.local_ca)]
        status, result = self.run_action(
            jsonInput=json.dumps({"emailTitle": "告警", "emailcontext": "正文", "sms": 1,
                                  "smscontext": "短信"}),
            customReceiver=json.dumps([{"name": "张三", "email": "z@163.com",
                                        "mobile": "13800138000"}]))
        assert status is True
        assert [(d["channel"], d["target"]) for d in result["deliveries"]] == [
            ("email", "z@163.com"), ("sms", "13800138000")]
        assert [m.rcpt_tos for m in smtp.received] == [("z@163.com",)]

    def test_malformed_json_input_fails_before_anything_is_sent(self):
        status, result = self.run_action(jsonInput='{"sms": 1, "telephone": ',
                                         telephone="13800138000", sms=1, smscontext="x")
        assert status is False and result["deliveries"] == []
        assert "jsonInput" in result["message"] and "not valid JSON" in result["message"]
        assert self.gateway.requests == 0

    def test_malformed_custom_receiver_fails_before_anything_is_sent(self):
        status, result = self.run_action(customReceiver='{"phones": ["13800138000"]]',
                                         sms=1, smscontext="x", telephone="13900139000")
        assert status is False and "customReceiver" in result["message"]
        assert self.gateway.requests == 0
