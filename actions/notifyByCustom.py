from lib.base import NotifyMessageAction

from notify_message import notify_by_custom


class NotifyByCustomAction(NotifyMessageAction):
    def run(self, **params):
        return self.call(notify_by_custom, params)
