"""Phone numbers in the forms Alibaba Cloud SMS and voice accept, validated at the edge.

- Mainland China mobile: 11 digits ``1[3-9]xxxxxxxxx``, with or without ``+86``, ``0086`` or
  ``86`` in front.  SMS and voice both reach them.
- Mainland China landline: ``0`` + area code + number (10 to 12 digits, e.g. 057188886666, or
  ``+86 571 8888 6666``).  Voice calls reach them; SMS cannot.
- Other countries: the country code after ``+`` or ``00`` (``+85261234567``).  Alibaba's
  SMS wants them as digits with the country code and no prefix; its voice service
  (Dyvmsapi 2017-05-25) calls mainland numbers only.

Spaces, hyphens, dots and parentheses inside a number are ignored.  A bare number that is
not a mainland one is refused rather than guessed at: ``13105550123`` would be a mainland
mobile, so other countries must be written with their prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...bounded import EDGE, ascii_digits, control_character
from ...errors import ParameterError

__all__ = ["MOBILE_CN", "LANDLINE_CN", "INTERNATIONAL", "PhoneNumber", "parse_phone",
           "unique_numbers"]

MOBILE_CN = "mainland mobile"
LANDLINE_CN = "mainland landline"
INTERNATIONAL = "international"

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")        # 0 + 2-3 digit area code + 7-8 digits
_INTERNATIONAL = re.compile(r"^[1-9]\d{6,14}$")    # E.164: country code + number, <= 15
_NOISE = re.compile(r"[\s\-.()（）]")


@dataclass(frozen=True)
class PhoneNumber:
    """One validated number: ``wire`` is the form Alibaba's APIs take."""

    wire: str
    kind: str

    @property
    def display(self) -> str:
        """How the number shows in results: international ones keep their ``+``."""
        return f"+{self.wire}" if self.kind == INTERNATIONAL else self.wire


def parse_phone(parameter: str, value: Any) -> PhoneNumber:
    """One number in any accepted form; ParameterError naming ``parameter`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ParameterError(parameter, f"expected a phone number, got {type(value).__name__}")
    try:
        text = str(value).strip(EDGE)
    except ValueError:  # an integer beyond Python's digit limit
        raise ParameterError(parameter, "expected a phone number, got an overlong integer"
                             ) from None
    if len(text) > 40 or control_character(text) is not None:
        raise ParameterError(parameter, "expected a phone number: at most 40 printable "
                             "characters on one line")
    digits = _NOISE.sub("", text)
    international = digits.startswith("+") or digits.startswith("00")
    digits = digits[1:] if digits.startswith("+") else digits[2:] if international else digits
    if not ascii_digits(digits):
        raise ParameterError(parameter, f"{text!r} is not a phone number (expected digits, e.g. "
                             "13800138000 or +85261234567)")
    if international or (digits.startswith("86") and _MOBILE.match(digits[2:])):
        if digits.startswith("86"):
            national = digits[2:]
            if _MOBILE.match(national):
                return PhoneNumber(national, MOBILE_CN)
            if _LANDLINE.match("0" + national):
                return PhoneNumber("0" + national, LANDLINE_CN)
            raise ParameterError(parameter, f"{text!r} is not a mainland China number after +86 "
                                 "(expected an 11-digit mobile or area code + landline)")
        if _INTERNATIONAL.match(digits):
            return PhoneNumber(digits, INTERNATIONAL)
        raise ParameterError(parameter, f"{text!r} is not an international number (expected "
                             "the country code and number, 7 to 15 digits in all)")
    if _MOBILE.match(digits):
        return PhoneNumber(digits, MOBILE_CN)
    if _LANDLINE.match(digits):
        return PhoneNumber(digits, LANDLINE_CN)
    raise ParameterError(parameter, f"{text!r} is not a phone number Alibaba Cloud accepts: "
                         "expected an 11-digit mainland mobile (13800138000, optionally with "
                         "+86), a mainland landline with its area code (057188886666), or "
                         "another country's number after + or 00 (+85261234567)")


def unique_numbers(numbers: Iterable[PhoneNumber]) -> tuple[PhoneNumber, ...]:
    """Each number once, in first-seen order: ``+86 138...`` and ``138...`` are one (their
    ``wire`` form is the same)."""
    found: dict[str, PhoneNumber] = {}
    for number in numbers:
        found.setdefault(number.wire, number)
    return tuple(found.values())
