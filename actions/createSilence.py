from lib.base import NotifyMessageAction


class CreateSilenceAction(NotifyMessageAction):
    def run(self, **params):
        # storm control's modules load only when the action runs
        from notify_message.state.commands import create_silence

        return self.call(create_silence, params)
