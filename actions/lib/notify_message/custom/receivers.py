"""notifyByCustom's ``customReceiver``: extra receivers.

Either an object of receiver lists::

    {"emails": ["a@163.com"], "phones": ["13800138000"], "dingtalk": ["soc-robot"]}

or a list of contacts (Message Center's contact shape, plus the component's userid)::

    [{"name": "Zhang San", "email": "a@163.com", "mobile": "13800138000"}]

Emails join ``receivers``, phones join ``telephone``, and ``dingtalk`` names robots
(configured robot names or webhook URLs) that get the DingTalk message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..bounded import EDGE, control_character
from ..channels.email.message import unique_addresses
from ..channels.phone.numbers import PhoneNumber, unique_numbers
from ..channels.phone.request import parse_phones
from ..errors import ParameterError
from ..params import as_json, as_list, as_text, is_blank

__all__ = ["CUSTOM_RECEIVER_KEYS", "CONTACT_KEYS", "CustomReceivers", "parse_custom_receiver"]

CUSTOM_RECEIVER_KEYS = ("emails", "phones", "dingtalk")
CONTACT_KEYS = ("name", "userid", "email", "mobile")
_PARAMETER = "customReceiver"
_SHAPE = ('expected {"emails": [...], "phones": [...], "dingtalk": [...]} or a list of '
          'contacts [{"name": ..., "email": ..., "mobile": ...}]')


@dataclass(frozen=True)
class CustomReceivers:
    emails: tuple[str, ...] = ()
    phones: tuple[PhoneNumber, ...] = ()
    robots: tuple[str, ...] = ()   # DingTalk robot names or webhook URLs (never shown)


def parse_custom_receiver(value: Any, parse_email: Callable[[str, Any], str]
                          ) -> CustomReceivers:
    """customReceiver in either accepted shape; ParameterError naming it for anything else.
    ``parse_email(parameter, value)`` validates one address."""
    if is_blank(value):
        return CustomReceivers()
    parsed = as_json(_PARAMETER, value.strip()) if isinstance(value, str) else value
    if isinstance(parsed, Mapping):
        return _from_lists(parsed, parse_email)
    if isinstance(parsed, (list, tuple)):
        return _from_contacts(parsed, parse_email)
    raise ParameterError(_PARAMETER, f"{_SHAPE}; got {type(parsed).__name__}")


def _from_lists(mapping: Mapping[str, Any], parse_email: Callable[[str, Any], str]
                ) -> CustomReceivers:
    unknown = sorted(str(k) for k in mapping if k not in CUSTOM_RECEIVER_KEYS)
    if unknown:
        raise ParameterError(_PARAMETER, f"unknown key {', '.join(repr(k) for k in unknown)}; "
                             f"expected any of {', '.join(CUSTOM_RECEIVER_KEYS)}")
    for key, entries in mapping.items():
        if not is_blank(entries) and not isinstance(entries, (list, tuple, str)):
            raise ParameterError(f"{_PARAMETER}.{key}", "expected a list of strings")
    emails = [parse_email(f"{_PARAMETER}.emails", item)
              for item in _strings("emails", mapping.get("emails"))]
    phones = parse_phones(f"{_PARAMETER}.phones", mapping.get("phones"))
    robot_entries = _strings("dingtalk", mapping.get("dingtalk"))
    robots = [_robot(i, item) for i, item in enumerate(robot_entries)]
    return CustomReceivers(unique_addresses(emails), phones, tuple(dict.fromkeys(robots)))


def _from_contacts(contacts: Any, parse_email: Callable[[str, Any], str]) -> CustomReceivers:
    emails: list[str] = []
    phones: list[PhoneNumber] = []
    for i, contact in enumerate(contacts):
        where = f"{_PARAMETER}[{i}]"
        if not isinstance(contact, Mapping):
            raise ParameterError(where, f"expected a contact object with email and/or mobile, "
                                 f"got {type(contact).__name__}")
        unknown = sorted(str(k) for k in contact if k not in CONTACT_KEYS)
        if unknown:
            raise ParameterError(where, f"unknown key {', '.join(repr(k) for k in unknown)}; "
                                 f"expected any of {', '.join(CONTACT_KEYS)}")
        if is_blank(contact.get("email")) and is_blank(contact.get("mobile")):
            raise ParameterError(where, "has neither email nor mobile")
        if not is_blank(contact.get("email")):
            emails.append(parse_email(f"{where}.email", contact["email"]))
        if not is_blank(contact.get("mobile")):
            phones.extend(parse_phones(f"{where}.mobile", [contact["mobile"]]))
    return CustomReceivers(unique_addresses(emails), unique_numbers(phones), ())


def _strings(key: str, value: Any) -> list[str]:
    items = as_list(f"{_PARAMETER}.{key}", value)
    for item in items:
        if not isinstance(item, str):
            raise ParameterError(f"{_PARAMETER}.{key}",
                                 f"expected strings, got {type(item).__name__}")
    return [item.strip(EDGE) for item in items if item.strip(EDGE)]


def _robot(index: int, text: str) -> str:
    """A robot's configured name or its webhook URL.  Error messages name the entry by index
    only: a webhook URL carries the robot's access token."""
    where = f"{_PARAMETER}.dingtalk[{index}]"
    if control_character(text) is not None:
        raise ParameterError(where, "must be one robot name or webhook URL on one line of "
                             "printable text")
    if "://" in text and not text.lower().startswith("https://"):
        raise ParameterError(where, "a webhook URL must start with https://")
    return as_text(where, text)
