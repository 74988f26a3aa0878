"""The ``message_center`` section of the pack config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.reader import ConfigReader
from ..errors import ConfigError
from .receiving import Recipient, parse_recipients
from .soar import SoarRelay
from .templates import LANGUAGES, TemplateBook

__all__ = ["PROVIDERS", "MessageCenterConfig"]

PROVIDERS = ("local", "aliyun_soar")


@dataclass(frozen=True)
class MessageCenterConfig:
    provider: str = "local"
    default_lang: str = "zh"
    recipients: Mapping[str, Recipient] = field(default_factory=dict)
    templates: TemplateBook = field(default_factory=TemplateBook)
    pmsg_ttl_days: int = 30
    aliyun_soar: SoarRelay | None = None

    @classmethod
    def from_mapping(cls, value: Any, path: str = "message_center") -> MessageCenterConfig:
        reader = ConfigReader(value, path)
        provider = reader.choice("provider", PROVIDERS, default="local")
        relay_reader = reader.section("aliyun_soar", "playbook_uuid", "node_name", "role_for")
        if relay_reader is None and provider == "aliyun_soar":
            raise ConfigError(reader.key("aliyun_soar"), "is required when provider is "
                              "aliyun_soar: give at least its playbook_uuid")
        relay = None if relay_reader is None else SoarRelay.from_reader(relay_reader)
        return cls(
            provider=provider,
            default_lang=reader.choice("default_lang", LANGUAGES, default="zh"),
            recipients=parse_recipients(reader),
            templates=TemplateBook.from_config(reader.mapping.get("templates"),
                                               reader.key("templates")),
            pmsg_ttl_days=int(reader.number("pmsg_ttl_days", default=30)),
            aliyun_soar=relay,
        )
