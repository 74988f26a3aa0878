"""Reading typed values out of the pack config, naming keys by their dotted path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["ConfigReader"]


class ConfigReader:
    """Reads typed values out of one mapping of the config, naming keys by their path."""

    def __init__(self, mapping: Any, path: str) -> None:
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ConfigError(path, f"expected an object, got {type(mapping).__name__}")
        self.mapping = mapping
        self.path = path

    def section(self, name: str, *identifying: str) -> ConfigReader | None:
        """A sub-object the user configured, or None.  StackStorm builds every object of the
        config schema, filled with schema defaults, even when the user left it out; such a
        section counts as absent unless one of its ``identifying`` keys has a value."""
        value = self.mapping.get(name)
        reader = ConfigReader(value, self.key(name))
        if all(reader.string(key) == "" for key in identifying):
            return None
        return reader

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def string(self, name: str, *, required: bool = False, default: str = "") -> str:
        value = self.mapping.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise ConfigError(self.key(name), "is required")
            return default
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(self.key(name), f"expected a string, got {type(value).__name__}")
        return str(value).strip()

    def choice(self, name: str, choices: Sequence[str], *, default: str) -> str:
        value = self.string(name, default=default).lower()
        if value not in choices:
            raise ConfigError(self.key(name),
                              f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def number(self, name: str, *, default: float, minimum: float = 0.0) -> float:
        value = self.mapping.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(self.key(name), f"expected a number, got {value!r}")
        if value <= minimum:
            raise ConfigError(self.key(name), f"expected a number above {minimum:g}, got {value!r}")
        return float(value)

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.mapping.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.key(name), f"expected true or false, got {value!r}")
        return value

    def items(self, name: str) -> list[ConfigReader]:
        value = self.mapping.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(self.key(name), f"expected a list, got {type(value).__name__}")
        return [ConfigReader(item, f"{self.key(name)}[{i}]") for i, item in enumerate(value)]
