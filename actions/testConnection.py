from lib.base import NotifyMessageAction

from notify_message.checks import check_connection


class TestConnectionAction(NotifyMessageAction):
    __test__ = False  # an st2 action, not a test class, wherever a test imports it

    def run(self, **params):
        return self.call(check_connection, params)
