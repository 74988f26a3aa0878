from lib.base import DatastoreInbox, NotifyMessageAction

from notify_message.message_center.inbox import list_internal_messages


class ListInternalMessagesAction(NotifyMessageAction):
    def run(self, **params):
        inbox = DatastoreInbox(self.action_service, ttl_seconds=0)
        return self.call(lambda p, _config: list_internal_messages(p, inbox), params)
