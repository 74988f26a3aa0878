"""The pack config: ``PackConfig`` (``pack``) composed of every section's typed reader,
and ``ConfigReader`` (``reader``), which every section reads its keys with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pack import PackConfig
    from .reader import ConfigReader

__all__ = ["PackConfig", "ConfigReader"]


def __getattr__(name: str) -> Any:
    # lazy: the sections import config.reader, and importing it must not import them all
    if name == "PackConfig":
        from .pack import PackConfig
        return PackConfig
    if name == "ConfigReader":
        from .reader import ConfigReader
        return ConfigReader
    raise AttributeError(name)
