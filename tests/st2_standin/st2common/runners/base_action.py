"""Stand-in for st2common.runners.base_action (used only when st2 is not installed)."""

import logging


class Action(object):
    def __init__(self, config=None, action_service=None):
        self.config = config or {}
        self.action_service = action_service
        self.logger = logging.getLogger("st2.actions.python.%s" % type(self).__name__)

    def run(self, **kwargs):
        raise NotImplementedError()
