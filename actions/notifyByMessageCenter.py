from lib.base import NotifyMessageAction

from notify_message import notify_by_message_center


class NotifyByMessageCenterAction(NotifyMessageAction):
    def run(self, **params):
        return self.call(notify_by_message_center, params, inbox_for=self.inbox_for)
