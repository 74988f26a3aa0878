"""The storm control step as the notifier calls it: one object per call that narrows the
request before the deliveries and settles their outcomes after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..result import Delivery
from ..storm_params import StormParams, execution_id
from .policy import StormControl

if TYPE_CHECKING:
    from ..config.pack import PackConfig
    from ..custom.request import CustomRequest

__all__ = ["StormStep"]


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
