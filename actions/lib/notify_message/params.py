"""Reading the component's loosely typed parameters.

The component declares every parameter as a String and carries lists and objects as JSON
inside strings; StackStorm users pass real arrays and objects, and CLI or ChatOps users type
comma separated lists.  These helpers accept all of those forms and raise ``ParameterError``
naming the parameter for anything else.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from . import bounded
from .errors import ParameterError

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "is_blank", "is_on", "as_flag", "as_text", "as_json",
           "as_list", "as_line", "as_single_line", "check_line", "check_length", "reject_unknown"]

MAX_LINE = 1000   # characters in one line of text a parameter puts in a header

# the words that mean "on" and "off" wherever a parameter is a flag (the importer agrees)
TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", ""})
# ASCII only: a Unicode separator (U+2028, U+0085...) is a control character to refuse, not
# a separator that would quietly drop it
_LIST_SEPARATORS = re.compile(r"[,; \t\r\n]+")


def is_blank(value: Any) -> bool:
    """True for the values a playbook leaves in an unused parameter."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def reject_unknown(params: Mapping[str, Any], known: Collection[str], action: str) -> None:
    """ParameterError naming the first parameter that ``action`` does not take."""
    unknown = sorted(str(name) for name in params if name not in known)
    if unknown:
        raise ParameterError(unknown[0], f"is not a parameter of {action}; expected one of "
                             + ", ".join(known))


def is_on(value: Any) -> bool:
    """True for a value that reads as "on": true, 1, or one of TRUE_WORDS."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in TRUE_WORDS


def as_flag(name: str, value: Any) -> bool | None:
    """True / False for a flag-like value, None when the value is not a flag at all."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
        raise ParameterError(name, f"expected 1 / 0 or true / false, got "
                             f"{bounded.shown(value)}")
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def as_text(name: str, value: Any) -> str:
    """A string parameter; numbers are accepted and turned into text."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ParameterError(name, f"expected text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterError(name, f"expected text, got the number {value}")
    try:
        text = str(value)
    except ValueError:  # an integer beyond Python's digit limit
        raise ParameterError(name, "expected text, got an integer too long for any service"
                             ) from None
    if not bounded.valid_text(text):
        raise ParameterError(name, "is not valid Unicode text (it holds a lone surrogate)")
    return text


def check_line(name: str, text: str) -> str:
    """ParameterError when text that goes onto a protocol line (a header, an address, a URL,
    a number) holds a control character: C0, DEL, C1, U+2028 or U+2029."""
    char = bounded.control_character(text)
    if char is not None:
        raise ParameterError(name, f"contains the control character "
                             f"{bounded.describe_character(char)}; it must be one line of "
                             "printable text")
    return text


def check_length(name: str, text: str, limit: int, what: str = "characters") -> str:
    if len(text) > limit:
        raise ParameterError(name, f"is {len(text)} {what} long; at most {limit} are accepted")
    return text


def as_line(name: str, value: Any, *, limit: int) -> str:
    """One line of text (stripped), free of control characters, at most ``limit`` long."""
    text = as_text(name, value)
    check_length(name, text, limit)
    return check_line(name, text.strip(bounded.EDGE))


def as_single_line(name: str, value: Any) -> str:
    """Text that will become a header: a control character would forge or break it."""
    return as_line(name, value, limit=MAX_LINE)


def as_json(name: str, value: Any) -> Any:
    """A value that may arrive as JSON text, within the bounds of ``bounded``; a structure
    (st2 passes arrays and objects as they are) is checked against the same bounds."""
    if not isinstance(value, str):
        try:
            bounded.check_structure(value)
        except bounded.BoundsError as exc:
            raise ParameterError(name, str(exc)) from None
        return value
    try:
        return bounded.loads(value)
    except json.JSONDecodeError as exc:
        raise ParameterError(name, f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except bounded.BoundsError as exc:
        raise ParameterError(name, str(exc)) from None


def as_list(name: str, value: Any) -> list[Any]:
    """A list given as an array, as a JSON array (or one JSON object) in a string, or as text
    separated by commas, semicolons or white space."""
    if is_blank(value):
        return []
    if isinstance(value, (list, tuple)):
        as_json(name, value)  # within the bounds
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = as_json(name, text)
            if not isinstance(parsed, list):
                raise ParameterError(name, "expected a JSON array")
            return parsed
        if text.startswith("{"):  # one JSON object: a list of one
            return [as_json(name, text)]
        return [part for part in _LIST_SEPARATORS.split(text) if part]
    raise ParameterError(name, f"expected a list or text, got {type(value).__name__}")
