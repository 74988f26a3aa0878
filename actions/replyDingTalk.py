from lib.base import NotifyMessageAction

from notify_message.notifier import reply_dingtalk


class ReplyDingTalkAction(NotifyMessageAction):
    def run(self, sessionWebhook=None, sessionWebhookExpiredTime=None, dingdingMsgType=None,
            dingdingcontext=None):
        params = {"sessionWebhook": sessionWebhook,
                  "sessionWebhookExpiredTime": sessionWebhookExpiredTime,
                  "dingdingMsgType": dingdingMsgType, "dingdingcontext": dingdingcontext}
        return self.respond(reply_dingtalk(params, self.pack_config))
