"""The exceptions this library raises.

Delivery problems (a server that refuses, a robot that answers an errcode) are not
exceptions: they become failed ``Delivery`` entries in the result.  Exceptions are kept for
input that must be corrected before anything is sent::

    NotifyMessageError            root of everything raised here
    +-- ParameterError            an action parameter is malformed (also a ValueError);
    |                             ``.parameter`` names it
    +-- ConfigError               the pack config is malformed (also a ValueError);
                                  ``.key`` is the dotted path of the offending key

No message here ever contains a secret: callers build them from names, never from values
of secret fields.
"""

from __future__ import annotations

__all__ = ["NotifyMessageError", "ParameterError", "ConfigError"]


class NotifyMessageError(Exception):
    """Root of every exception raised by notify_message."""


class ParameterError(NotifyMessageError, ValueError):
    """An action parameter cannot be used as given."""

    def __init__(self, parameter: str, problem: str) -> None:
        self.parameter = parameter
        self.problem = problem
        super().__init__(f"parameter '{parameter}': {problem}")


class ConfigError(NotifyMessageError, ValueError):
    """The pack config cannot be used as given."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"pack config '{key}': {problem}")
