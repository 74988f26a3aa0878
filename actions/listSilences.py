from lib.base import NotifyMessageAction


class ListSilencesAction(NotifyMessageAction):
    def run(self, **params):
        # storm control's modules load only when the action runs
        from notify_message.state.commands import list_silences

        return self.call(list_silences, params)
