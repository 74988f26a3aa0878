from lib.base import NotifyMessageAction


class ExpireSilenceAction(NotifyMessageAction):
    def run(self, **params):
        # storm control's modules load only when the action runs
        from notify_message.state.commands import expire_silence

        return self.call(expire_silence, params)
