"""notify_message: the NotifyMessage component of Alibaba Cloud Security Center SOAR.

A framework-free library; the StackStorm actions in ``actions/`` and the command line
(``python -m notify_message``) are thin adapters over it.
"""

from __future__ import annotations

from .config.pack import PackConfig
from .channels.email.config import SmtpInstance
from .errors import ConfigError, NotifyMessageError, ParameterError
from .notifier import notify_by_custom
from .result import Delivery, NotifyResult

__all__ = [
    "PackConfig",
    "SmtpInstance",
    "NotifyMessageError",
    "ParameterError",
    "ConfigError",
    "Delivery",
    "NotifyResult",
    "notify_by_custom",
]
__version__ = "0.2.0"
