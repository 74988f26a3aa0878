"""The storm control step as the notifier calls it: one object per call that narrows the
request before the deliveries and settles their outcomes after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..result import Channel, Delivery
from ..storm_params import StormParams, execution_id
from .policy import Slot, StormControl, Verdict

if TYPE_CHECKING:
    from ..config.pack import PackConfig
    from ..custom.request import CustomRequest
    from ..message_center.receiving import ChannelPlan
    from ..message_center.request import MessageCenterRequest

__all__ = ["StormStep", "MessageCenterStep", "default_dedup_key"]

# the Message Center's channels as results name them
_CHANNEL_OF = {"email": Channel.EMAIL, "sms": Channel.SMS, "webhook": Channel.DINGTALK,
               "pmsg": Channel.PMSG}
# the template variables that name the incident or alert an event is about
_SUBJECT_IDS = ("incidentID", "incidentId", "incident_id", "alertID", "alertId", "alert_id",
                "uuid")


@dataclass
class StormStep:
    control: StormControl
    request: CustomRequest
    config: PackConfig
    _settle: Callable[[list[Delivery]], list[Delivery]]

    @classmethod
    def for_custom(cls, request: CustomRequest, config: PackConfig, params: StormParams
                   ) -> StormStep:
        from .custom import admit_custom

        settings = config.storm_control
        assert settings is not None
        control = StormControl.open(settings, params, execution_id())
        narrowed, settle = admit_custom(control, request, config)
        if control.store is not None and narrowed.dingtalk is not None:
            # a robot answering 130101 is remembered and queued for, not retried for ~28 s
            config = config.replace(dingtalk=replace(config.dingtalk, retry_throttled=False))
        return cls(control, narrowed, config, settle)

    def settle(self, deliveries: list[Delivery]) -> list[Delivery]:
        return self._settle(deliveries)

    def extra(self) -> dict[str, Any]:
        return {"storm_control": self.control.summary()}


def default_dedup_key(request: MessageCenterRequest) -> str:
    """notifyByMessageCenter's dedupKey when none is given: the eventId and the id of the
    incident or alert in its params (none: no dedup)."""
    for name in _SUBJECT_IDS:
        value = str(request.variables.get(name) or "").strip()
        if value:
            return f"{request.event_id}:{value}"
    return ""


@dataclass
class MessageCenterStep:
    """Storm control for notifyByMessageCenter (provider local): one slot per channel of
    the plan (dedup, silences, quiet hours, the ledger; the channels' budgets and digests
    are notifyByCustom's)."""

    control: StormControl
    plan: ChannelPlan
    slots: list[Slot]
    verdicts: list[Verdict]

    @classmethod
    def for_plan(cls, request: MessageCenterRequest, plan: ChannelPlan, config: PackConfig,
                 params: StormParams) -> MessageCenterStep:
        settings = config.storm_control
        assert settings is not None
        if not params.dedup_key:
            params = replace(params, dedup_key=default_dedup_key(request))
        control = StormControl.open(settings, params, execution_id())
        message = request.render()
        slots = [Slot(_CHANNEL_OF[c], request.aliuid, f"message_center:{c}:{request.aliuid}",
                      message.subject[:120], f"{message.subject}\n{message.body}",
                      event_id=request.event_id) for c in plan.used]
        verdicts = control.admit(slots)
        used = tuple(c for c, v in zip(plan.used, verdicts) if v.send)
        return cls(control, replace(plan, used=used), slots, verdicts)

    @property
    def held(self) -> bool:
        return any(not v.send for v in self.verdicts)

    def settle(self, deliveries: list[Delivery]) -> list[Delivery]:
        return self.control.settle_channels(self.slots, self.verdicts, deliveries)

    def extra(self) -> dict[str, Any]:
        return {"storm_control": self.control.summary()}
