from lib.base import NotifyMessageAction


class FlushDigestsAction(NotifyMessageAction):
    def run(self, **params):
        # storm control's modules load only when the action runs
        from notify_message.state.commands import flush_digests_action

        return self.call(flush_digests_action, params)
