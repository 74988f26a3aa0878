"""Bounds on hostile input: JSON text and structures of bounded size and nesting, and text
free of the control characters that would forge or break a protocol line.

Alert titles, host names and log lines reach the notifier from attackers' hands.  Every
check here is linear in the size of its input and never recurses, so a value built to exhaust
the parser (a million nested brackets, an integer of a million digits) is refused with a
reason instead of raising RecursionError or ValueError half way through a call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_JSON_ITEMS", "BoundsError", "loads",
           "check_structure", "control_character", "describe_character", "TEXT_WHITESPACE",
           "EDGE", "ascii_digits", "valid_text", "shown"]

MAX_JSON_BYTES = 1024 * 1024     # one JSON parameter or request body
MAX_JSON_DEPTH = 32              # arrays and objects inside each other
MAX_JSON_ITEMS = 100_000         # values in one structure, all levels together

# C0 controls, DEL, C1 controls (U+0085 NEL among them), and the Unicode line and paragraph
# separators: each ends, splits or hides a line in some protocol or log.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# what text that is not a protocol line (a body, a template) may keep
TEXT_WHITESPACE = frozenset("\t\n\r")
# what is stripped from the ends of a line of text before it is checked: the white space a
# YAML block or a template leaves; any other control character at the ends is refused
EDGE = " \t\r\n"


class BoundsError(ValueError):
    """A value over a bound; the message says which bound, never the value itself."""


def loads(text: str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
          ) -> Any:
    """``json.loads`` within bounds: size, nesting (checked before parsing), integers that
    Python cannot convert; BoundsError or json.JSONDecodeError otherwise."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise BoundsError(f"is {size} bytes of JSON; at most {max_bytes} are accepted")
    depth = _text_depth(text)
    if depth > max_depth:
        raise BoundsError(f"nests arrays and objects {depth} deep; at most {max_depth} levels "
                          "are accepted")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # e.g. an integer beyond Python's digit limit
        raise BoundsError(f"holds a value JSON cannot be read into ({type(exc).__name__}: "
                          f"{str(exc)[:80]})") from None
    check_structure(value, max_depth=max_depth)
    return value


def _text_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text, counting brackets outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def check_structure(value: Any, *, max_depth: int = MAX_JSON_DEPTH,
                    max_items: int = MAX_JSON_ITEMS) -> None:
    """BoundsError for a structure (as st2 passes an array or object parameter) nested deeper
    than ``max_depth``, with more than ``max_items`` values, or holding an integer too long
    to turn into text."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    items = 0
    while pending:
        current, depth = pending.pop()
        items += 1
        if items > max_items:
            raise BoundsError(f"holds more than {max_items} values")
        if isinstance(current, Mapping):
            children: Any = list(current.keys()) + list(current.values())
        elif isinstance(current, (list, tuple)):
            children = current
        else:
            if isinstance(current, int) and not isinstance(current, bool):
                try:
                    str(current)
                except ValueError:
                    raise BoundsError("holds an integer too long to be a number of any "
                                      "service") from None
            continue
        if depth + 1 > max_depth:
            raise BoundsError(f"nests arrays and objects deeper than {max_depth} levels")
        pending.extend((child, depth + 1) for child in children)


def control_character(text: str, *, allow: frozenset[str] = frozenset()) -> str | None:
    """The first control character in ``text`` (C0, DEL, C1, U+2028, U+2029) that is not in
    ``allow``, or None."""
    for match in _CONTROL.finditer(text):
        if match.group() not in allow:
            return match.group()
    return None


def ascii_digits(text: str) -> bool:
    """True for 0-9 only: ``str.isdigit`` also takes ``٤٦٥`` and ``²``."""
    return bool(text) and text.isascii() and text.isdigit()


def valid_text(text: str) -> bool:
    """False for text that is not Unicode any service can take (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value: object, limit: int = 80) -> str:
    """A refused value as an error may quote it: its repr for short scalars, its type for
    anything else (a repr of a value nested 10,000 deep, or an integer of 10,000 digits,
    would itself fail), printable and at most ``limit`` characters."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if -10**20 < value < 10**20 else "a very long integer"
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    text = "".join(c if control_character(c) is None else "?" for c in value[:limit])
    return repr(text) + ("..." if len(value) > limit else "")


def describe_character(char: str) -> str:
    """``U+000A`` and the like: how an error names a character without printing it."""
    return f"U+{ord(char):04X}"
