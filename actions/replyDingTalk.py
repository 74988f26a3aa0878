from lib.base import NotifyMessageAction

from notify_message import reply_dingtalk


class ReplyDingTalkAction(NotifyMessageAction):
    def run(self, **params):
        return self.call(reply_dingtalk, params)
