"""Named config entries: SMTP instances, DingTalk robots and SMS profiles follow one rule.

Names are unique (case does not matter) and at most one entry is marked ``default: true``
(robots: several may be, and ``dingding=1`` then sends to all of them).  A selector names an
entry; ``1`` / true picks the default: the entry marked default, else the first one
(robots: the only one; a call would otherwise post to a group nobody chose).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from ..errors import ConfigError, ParameterError

__all__ = ["NamedEntry", "check_entries", "default_entry", "find_entry", "no_such_entry"]


class NamedEntry(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def default(self) -> bool: ...


E = TypeVar("E", bound=NamedEntry)


def check_entries(entries: Sequence[E], section: str, *, name_key: str = "name",
                  several_defaults: bool = False) -> None:
    """ConfigError naming the entry whose name repeats an earlier one, or the section when
    more than one entry is marked default (unless ``several_defaults``)."""
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        name = entry.name.lower()
        if name in seen:
            raise ConfigError(f"{section}[{i}].{name_key}",
                              f"{entry.name!r} is already used by {section}[{seen[name]}]")
        seen[name] = i
    if not several_defaults and sum(entry.default for entry in entries) > 1:
        raise ConfigError(section, "at most one entry may be marked default: true")


def default_entry(entries: Sequence[E]) -> E | None:
    """What ``1`` picks: the entry marked default, else the first; None without entries."""
    return next((e for e in entries if e.default), entries[0] if entries else None)


def find_entry(entries: Sequence[E], selector: str,
               matches: Callable[[E, str], bool] | None = None) -> E | None:
    """The entry a selector names (by name, case-insensitive, unless ``matches`` says how)."""
    wanted = selector.strip().lower()
    test = matches or (lambda entry, text: entry.name.lower() == text)
    return next((e for e in entries if test(e, wanted)), None)


def no_such_entry(parameter: str, selector: str, kind: str, entries: Sequence[E],
                  expected: str, *, quote: bool = True) -> ParameterError:
    """The refusal of a selector that names no configured entry; ``quote=False`` where the
    selector may be a credential (a robot's token given for its name)."""
    names = ", ".join(e.name for e in entries) or "none configured"
    shown = repr(selector[:80] + ("..." if len(selector) > 80 else "")) if quote else "it"
    return ParameterError(parameter, f"{shown} names no configured {kind}; expected "
                          f"{expected}, or one of: {names}")
