"""Reading typed values out of the pack config, naming keys by their dotted path.

Every section of the config reads its keys through ``ConfigReader``: strings, choices,
booleans, whole numbers and seconds within a range, ports, lists of strings and of host
names, string maps, sub-objects and lists of objects.  Each refusal is a ``ConfigError``
naming the key (``smtp_instances[0].timeout``) and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .. import bounded
from ..errors import ConfigError

__all__ = ["ConfigReader", "MAX_STRING"]

MAX_STRING = 4096   # characters in one config string (a template body may have more)
MAX_LIST = 1000     # entries in one list of strings


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class ConfigReader:
    """Reads typed values out of one mapping of the config, naming keys by their path."""

    def __init__(self, mapping: Any, path: str) -> None:
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ConfigError(path, f"expected an object, got {type(mapping).__name__}")
        self.mapping: Mapping[str, Any] = mapping
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    # --- structure ------------------------------------------------------------------------

    def child(self, name: str) -> ConfigReader:
        """The sub-object ``name`` (absent: an empty one)."""
        return ConfigReader(self.mapping.get(name), self.key(name))

    def section(self, name: str, *identifying: str) -> ConfigReader | None:
        """A sub-object the user configured, or None.  StackStorm builds every object of the
        config schema, filled with schema defaults, even when the user left it out; such a
        section counts as absent unless one of its ``identifying`` keys has a value."""
        reader = self.child(name)
        if all(_blank(reader.mapping.get(key)) for key in identifying):
            return None
        return reader

    def items(self, name: str) -> list[ConfigReader]:
        """A list of objects, each read by its own reader (``name[0]``, ``name[1]``...)."""
        value = self.mapping.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(self.key(name), f"expected a list, got {type(value).__name__}")
        return [ConfigReader(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]

    # --- scalars --------------------------------------------------------------------------

    def string(self, name: str, *, required: bool = False, default: str = "",
               multiline: bool = False, limit: int = MAX_STRING) -> str:
        """A string: one line of printable text (``multiline``: tabs and line breaks too),
        at most ``limit`` characters.  Errors never repeat the value: it may be a secret."""
        value = self.mapping.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ConfigError(self.key(name), "is required")
            return default
        return _text(self.key(name), value, multiline=multiline, limit=limit)

    def matching(self, name: str, pattern: re.Pattern[str], expected: str, *,
                 default: str = "") -> str:
        """A string that must match ``pattern`` (``expected`` says what it should be)."""
        value = self.string(name, default=default)
        if value and not pattern.match(value):
            raise ConfigError(self.key(name), f"expected {expected}, got {bounded.shown(value)}")
        return value

    def choice(self, name: str, choices: Sequence[str], *, default: str) -> str:
        value = self.string(name, default=default).lower()
        if value not in choices:
            raise ConfigError(self.key(name),
                              f"expected one of {', '.join(choices)}, got {bounded.shown(value)}")
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.mapping.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"expected true or false, got {bounded.shown(value)}")
        return value

    def integer(self, name: str, *, default: int, minimum: int, maximum: int) -> int:
        """A whole number from ``minimum`` to ``maximum`` (0.5 or true are refused)."""
        value = self.mapping.get(name)
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) \
                or not minimum <= value <= maximum:
            raise ConfigError(self.key(name), f"expected a whole number from {minimum} to "
                              f"{maximum}, got {bounded.shown(value)}")
        return value

    def seconds(self, name: str, *, default: float, maximum: float = 86400.0,
                zero: bool = False) -> float:
        """A finite duration in seconds, above 0 (or 0 too, where ``zero`` means "off")."""
        value = self.mapping.get(name)
        if value is None:
            return default
        low = "from 0" if zero else "above 0"
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or (isinstance(value, float) and not math.isfinite(value)) or value < 0 \
                or (value == 0 and not zero) or value > maximum:
            raise ConfigError(self.key(name), f"expected seconds {low} up to {maximum:g}, "
                              f"got {bounded.shown(value)}")
        return float(value)

    def port(self, name: str) -> int:
        """A required TCP port."""
        value = self.mapping.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigError(self.key(name), f"expected a port from 1 to 65535, got "
                              f"{bounded.shown(value)}")
        return value

    # --- collections ----------------------------------------------------------------------

    def strings(self, name: str) -> tuple[str, ...]:
        """A list of strings, blanks dropped; a single string is a list of one."""
        value = self.mapping.get(name)
        if value is None:
            return ()
        items: Any = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) and
                                                  not isinstance(i, bool) for i in items):
            raise ConfigError(self.key(name), "expected a list of strings")
        if len(items) > MAX_LIST:
            raise ConfigError(self.key(name), f"has {len(items)} entries; at most {MAX_LIST}")
        texts = (_text(f"{self.key(name)}[{i}]", item) for i, item in enumerate(items))
        return tuple(text for text in texts if text)

    def hosts(self, name: str) -> tuple[str, ...]:
        """A list of host names (``host`` or ``host:port``), lower-cased."""
        hosts = tuple(h.lower() for h in self.strings(name))
        for host in hosts:
            if "/" in host or "@" in host or any(c.isspace() for c in host):
                raise ConfigError(self.key(name),
                                  f"expected host names (host or host:port), got {host!r}")
        return hosts

    def string_map(self, name: str, key_pattern: re.Pattern[str], expected: str
                   ) -> dict[str, str]:
        """An object of ``key: text`` whose keys match ``key_pattern``."""
        value = self.mapping.get(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and key_pattern.match(k) and isinstance(v, (str, int))
                and not isinstance(v, bool) for k, v in value.items()):
            raise ConfigError(self.key(name), f"expected an object of {expected}")
        each = self.child(name)
        return {k: each.string(k) for k in value}


def _text(key: str, value: Any, *, multiline: bool = False, limit: int = MAX_STRING) -> str:
    """One config string checked: text, valid Unicode, at most ``limit`` characters, no
    control character (``multiline``: tabs and line breaks allowed).  Errors never repeat the
    value: it may be a secret."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ConfigError(key, f"expected a string, got {type(value).__name__}")
    try:
        text = str(value).strip(bounded.EDGE)
    except ValueError:  # an integer beyond Python's digit limit
        raise ConfigError(key, "expected a string, got an overlong integer") from None
    if not bounded.valid_text(text):
        raise ConfigError(key, "is not valid Unicode text (a lone surrogate)")
    if len(text) > limit:
        raise ConfigError(key, f"is {len(text)} characters long; at most {limit} are accepted")
    char = bounded.control_character(text, allow=bounded.TEXT_WHITESPACE if multiline
                                     else frozenset())
    if char is not None:
        raise ConfigError(key, f"contains the control character "
                          f"{bounded.describe_character(char)}"
                          + ("" if multiline else "; it must be one line of printable text"))
    return text
