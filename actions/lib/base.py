"""The one base class of the pack's StackStorm actions: library result -> st2 result."""

from __future__ import annotations

from typing import Any

from st2common.runners.base_action import Action

from notify_message import NotifyResult


class NotifyMessageAction(Action):
    """Actions return ``(status, result)``: a failed delivery fails the st2 execution, so a
    rule or workflow can branch on it, and the result still says what was delivered."""

    @property
    def pack_config(self) -> dict[str, Any]:
        return dict(self.config or {})

    def respond(self, result: NotifyResult) -> tuple[bool, dict[str, Any]]:
        summary = result.message.splitlines()[0]
        if result.status:
            self.logger.info(summary)
        else:
            self.logger.warning(summary)
        return result.status, result.to_dict()
