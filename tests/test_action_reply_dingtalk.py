"""replyDingTalk: answering an outgoing robot's message through its sessionWebhook, as
StackStorm runs it, against the loopback DingTalk server."""

import json
import time

import jsonschema
import pytest
from helpers import action_metadata, dingtalk_config
from replyDingTalk import ReplyDingTalkAction
from st2tests.base import BaseActionTestCase

from testkit.dingtalk_server import FakeRobot

SESSION = "d5f0a7c2e9b14386a1f2c3d4e5f60718"  # made up; a credential, never in results


class ReplyDingTalkActionTestCase(BaseActionTestCase):
    __test__ = True
    action_cls = ReplyDingTalkAction

    @pytest.fixture(autouse=True)
    def _servers(self, dingtalk_server, local_ca):
        self.dingtalk = dingtalk_server([FakeRobot(SESSION)])
        self.config = dingtalk_config(self.dingtalk, local_ca)
        self.webhook = self.dingtalk.session_webhook(SESSION)

    def reply(self, **params):
        params.setdefault("sessionWebhook", self.webhook)
        return self.get_action_instance(config=self.config).run(**params)

    def test_a_reply_reaches_the_conversation_before_the_session_expires(self):
        expires = int(time.time() * 1000) + 600000
        status, result = self.reply(sessionWebhookExpiredTime=expires,
                                    dingdingcontext="已收到，正在处理 inc-7")
        assert status is True, result["message"]
        [posted] = self.dingtalk.received
        assert posted.body == {"msgtype": "text", "text": {"content": "已收到，正在处理 inc-7"}}
        assert SESSION not in json.dumps(result)
        jsonschema.validate(result, action_metadata("replyDingTalk")["output_schema"])

    def test_a_markdown_reply_with_a_mention(self):
        status, result = self.reply(dingdingMsgType="markdown", dingdingcontext={
            "title": "inc-7", "text": "**inc-7** contained", "atUserIds": ["manager01"]})
        assert status is True, result["message"]
        [posted] = self.dingtalk.received
        assert posted.body["at"]["atUserIds"] == ["manager01"]
        assert "@manager01" in posted.body["markdown"]["text"]

    def test_an_expired_session_is_refused_before_sending(self):
        status, result = self.reply(sessionWebhookExpiredTime=int(time.time() * 1000) - 1,
                                    dingdingcontext="too late")
        assert status is False and "sessionWebhookExpiredTime" in result["message"]
        assert self.dingtalk.requests == 0

    def test_a_webhook_that_is_not_a_session_webhook_is_refused_without_echoing_it(self):
        status, result = self.reply(sessionWebhook=self.dingtalk.webhook(SESSION),
                                    dingdingcontext="x")
        assert status is False and "parameter 'sessionWebhook'" in result["message"]
        assert SESSION not in json.dumps(result) and self.dingtalk.requests == 0

    def test_an_unknown_session_fails_with_dingtalks_errcode(self):
        status, result = self.reply(sessionWebhook=self.dingtalk.session_webhook("gone"),
                                    dingdingcontext="x")
        assert status is False and result["deliveries"][0]["code"] == "300001"
