"""notifyByMessageCenter and listInternalMessages as StackStorm runs them, with the local
provider: email through a real SMTP server, internal messages in the datastore, and the
internal_message trigger dispatched through a loopback st2 API."""

import json
import os

import jsonschema
import pytest
from helpers import (
    ALIYUN_SECRET,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    SMTP_CODE,
    action_metadata,
    aliyun_config,
    dingtalk_config,
    dingtalk_robot,
    node_value_data,
    smtp_instance,
)
from listInternalMessages import ListInternalMessagesAction
from notifyByMessageCenter import NotifyByMessageCenterAction
from st2tests.base import BaseActionTestCase

from testkit.dingtalk_server import FakeRobot

ALIUID = "1766xxxx"  # the sample playbook's


def message_center(subscriptions, **recipient):
    return {"recipients": [dict({
        "aliuid": ALIUID,
        "contacts": [{"name": "On call", "email": "oncall@163.com", "mobile": "13800138000"},
                     {"name": "Lead", "email": "lead@qq.com"}],
        "subscriptions": subscriptions}, **recipient)]}


class NotifyByMessageCenterActionTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = NotifyByMessageCenterAction

    @pytest.fixture(autouse=True)
    def _servers(self, smtp_server, aliyun_server, dingtalk_server, st2_api, local_ca,
                 monkeypatch):
        self.server = smtp_server()
        self.gateway = aliyun_server()
        self.robots = dingtalk_server([FakeRobot(DINGTALK_TOKEN, secret=DINGTALK_SECRET,
                                                 keywords=("安全",))])
        self.config = {
            "smtp_instances": [smtp_instance(self.server, local_ca)],
            "message_center": message_center({"default": {"email": "on", "pmsg": "on"}}),
            **aliyun_config(self.gateway, local_ca),
            **dingtalk_config(self.robots, local_ca,
                              dingtalk_robot(self.robots, "soc-robot", secret=DINGTALK_SECRET,
                                             keywords=["安全"])),
        }
        self.st2_api = st2_api("st2-temporary-token")
        monkeypatch.setenv("ST2_ACTION_API_URL", self.st2_api.url)
        monkeypatch.setenv("ST2_ACTION_AUTH_TOKEN", "st2-temporary-token")

    def run_action(self, **params):
        return self.get_action_instance(config=self.config).run(**params)

    def test_sample_playbook_node_1_delivers_through_the_local_provider(self):
        params = node_value_data("notifyByMessageCenter")
        status, result = self.run_action(**params)
        assert status is True, result["message"]
        assert result["channels"]["requested"] == [] and result["channels"]["used"] == [
            "email", "pmsg"]
        mails = self.server.received
        # one message to the account's contacts, threaded by the incident id
        assert sorted(r for m in mails for r in m.rcpt_tos) == ["lead@qq.com", "oncall@163.com"]
        assert len(mails) == 1 and mails[0].message["In-Reply-To"].startswith("<thread.")
        assert mails[0].message["Subject"] == (
            "【阿里云威胁分析与响应】检测到新的安全事件 Event generation test(xxx)")
        assert "2025-02-03 00:00:00" in mails[0].message.get_content()

    def test_the_internal_message_is_kept_listed_and_announced_as_a_trigger(self):
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_alert_generate",
                                         channelTypeList="pmsg", lang="en",
                                         params={"alertName": "Webshell", "alertID": "a-1",
                                                 "startTime": "2026-11-27 10:00:00"})
        assert status is True and result["channels"]["used"] == ["pmsg"]
        [pmsg] = result["deliveries"]
        assert "notify_message.internal_message dispatched" in pmsg["detail"]
        [dispatched] = self.st2_api.dispatched
        assert dispatched["trigger"] == "notify_message.internal_message"
        assert dispatched["payload"]["subject"].endswith("security alert Webshell(a-1)")
        lister = ListInternalMessagesAction(config={}, action_service=self.action_service)
        ok, listed = lister.run(aliuid=ALIUID, limit=5)
        assert ok and listed["count"] == 1
        assert listed["messages"][0] == dispatched["payload"]
        assert self.server.received == []

    def test_a_rejected_trigger_dispatch_is_said_but_the_message_is_kept(self):
        os.environ["ST2_ACTION_AUTH_TOKEN"] = "an-expired-token"  # monkeypatch restores it
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                         channelTypeList=["pmsg"],
                                         params='{"incidentName":"n","incidentID":"i",'
                                                '"startTime":"t"}')
        assert status is True
        assert "not dispatched: the st2 API answered 401" in result["deliveries"][0]["detail"]

    def test_requested_channels_outside_the_configuration_are_skipped_with_reasons(self):
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                         channelTypeList='["sms","webhook"]',
                                         params={"incidentName": "n", "incidentID": "i",
                                                 "startTime": "t"})
        assert status is False and result["deliveries"] == []
        assert "no channel to deliver on" in result["message"]
        assert result["channels"]["skipped"]["sms"] == "requested but off for this message type"

    def test_sms_goes_to_every_contact_with_a_mobile_through_alibaba_cloud(self):
        self.config["message_center"] = message_center({"default": {"sms": "subscribed"}})
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                         params={"incidentName": "Ransomware", "incidentID": "i-9",
                                                 "startTime": "2026-11-27 03:00:00"})
        assert status is True, result["message"]
        [sms] = result["deliveries"]
        assert (sms["channel"], sms["target"], sms["code"]) == ("sms", "13800138000", "OK")
        [call] = self.gateway.received
        assert call.params["PhoneNumbers"] == "13800138000"
        assert "Ransomware" in json.loads(call.params["TemplateParam"])["content"]
        assert ALIYUN_SECRET not in json.dumps(result)

    def test_webhook_posts_the_template_to_the_accounts_dingtalk_robots(self):
        self.config["message_center"] = message_center({"default": {"webhook": "on"}},
                                                       webhooks=["soc-robot"])
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                         params={"incidentName": "Ransomware", "incidentID": "i-9",
                                                 "startTime": "2026-11-27 03:00:00"})
        assert status is True, result["message"]
        [delivery] = result["deliveries"]
        assert (delivery["channel"], delivery["target"], delivery["code"]) == (
            "dingtalk", "soc-robot", "0")
        [posted] = self.robots.received
        assert posted.signed and posted.body["msgtype"] == "markdown"
        assert "Ransomware" in posted.body["markdown"]["title"]
        assert DINGTALK_TOKEN not in json.dumps(result)

    def test_an_unknown_robot_name_is_a_failed_webhook_delivery(self):
        self.config["message_center"] = message_center({"default": {"webhook": "on"}},
                                                       webhooks=["nobody"])
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                         params={"incidentName": "n", "incidentID": "i",
                                                 "startTime": "t"})
        assert status is False and self.robots.requests == 0
        assert "message_center.recipients[].webhooks" in result["deliveries"][0]["detail"]

    def test_the_result_matches_the_output_schema(self):
        schema = action_metadata("notifyByMessageCenter")["output_schema"]
        _, ok = self.run_action(**node_value_data("notifyByMessageCenter"))
        _, bad = self.run_action(aliuid="nobody", eventId="yundun_soar_incident_generate")
        _, skipped = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                     channelTypeList="sms", params={"incidentName": "n",
                                                                    "incidentID": "i",
                                                                    "startTime": "t"})
        for result in (ok, bad, skipped):
            jsonschema.validate(result, schema)

    BAD_PARAMETERS = [
        ({"aliuid": "", "eventId": "yundun_soar_incident_generate"}, "aliuid"),
        ({"aliuid": "nobody", "eventId": "yundun_soar_incident_generate",
          "params": {"incidentName": "n", "incidentID": "i", "startTime": "t"}}, "aliuid"),
        ({"aliuid": ALIUID, "eventId": "nope"}, "eventId"),
        ({"aliuid": ALIUID, "eventId": "yundun_soar_incident_generate", "lang": "fr"}, "lang"),
        ({"aliuid": ALIUID, "eventId": "yundun_soar_incident_generate",
          "channelTypeList": "sms,fax"}, "channelTypeList"),
        ({"aliuid": ALIUID, "eventId": "yundun_soar_incident_generate", "params": "{bad"},
         "params"),
        ({"aliuid": ALIUID, "eventId": "yundun_soar_incident_generate",
          "params": {"incidentName": "n"}}, "params"),
    ]

    def test_bad_parameters_are_named_and_nothing_is_sent(self):
        for params, parameter in self.BAD_PARAMETERS:  # unittest classes cannot parametrize
            status, result = self.run_action(**params)
            assert status is False and result["deliveries"] == [], params
            assert "parameter '%s'" % parameter in result["message"], params
        assert self.server.received == [] and self.st2_api.dispatched == []

    def test_an_email_failure_fails_the_execution_and_hides_the_password(self):
        self.config["smtp_instances"][0]["emailPassword"] = SMTP_CODE + "-expired"
        status, result = self.run_action(aliuid=ALIUID, eventId="yundun_soar_incident_generate",
                                         channelTypeList="email",
                                         params={"incidentName": "n", "incidentID": "i",
                                                 "startTime": "t"})
        assert status is False and {d["code"] for d in result["deliveries"]} == {"535"}
        assert SMTP_CODE not in json.dumps(result)
