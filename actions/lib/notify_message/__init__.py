"""notify_message: the NotifyMessage component of Alibaba Cloud Security Center SOAR.

A framework-free library; the StackStorm actions in ``actions/`` and the command line
(``python -m notify_message``) are thin adapters over it.  The names below are imported
when first used, so that an action loads only what it needs (every st2 execution is a new
process, and import time is part of every notification's latency).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .channels.email.config import SmtpInstance
    from .config.pack import PackConfig
    from .errors import ConfigError, NotifyMessageError, ParameterError
    from .notifier import notify_by_custom, notify_by_message_center, reply_dingtalk
    from .result import Channel, Delivery, NotifyResult, Outcome

__all__ = [
    "PackConfig",
    "SmtpInstance",
    "NotifyMessageError",
    "ParameterError",
    "ConfigError",
    "Channel",
    "Delivery",
    "NotifyResult",
    "Outcome",
    "notify_by_custom",
    "notify_by_message_center",
    "reply_dingtalk",
]
__version__ = "0.7.0"

_HOMES = {
    "PackConfig": ".config.pack",
    "SmtpInstance": ".channels.email.config",
    "NotifyMessageError": ".errors",
    "ParameterError": ".errors",
    "ConfigError": ".errors",
    "Channel": ".result",
    "Delivery": ".result",
    "NotifyResult": ".result",
    "Outcome": ".result",
    "notify_by_custom": ".notifier",
    "notify_by_message_center": ".notifier",
    "reply_dingtalk": ".notifier",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
