from lib.base import DatastoreInbox, NotifyMessageAction


class ListInternalMessagesAction(NotifyMessageAction):
    def run(self, aliuid, limit=20):
        messages = DatastoreInbox(self.action_service, ttl_seconds=0).list(aliuid, limit)
        return True, {"aliuid": aliuid, "count": len(messages),
                      "messages": [m.to_dict() for m in messages]}
