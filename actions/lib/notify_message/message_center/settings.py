"""The ``message_center`` section of the pack config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..bounded import ascii_digits
from ..config.reader import ConfigReader
from ..errors import ConfigError
from .receiving import Recipient, parse_recipients
from .templates import LANGUAGES, TemplateBook

__all__ = ["PROVIDERS", "SoarRelay", "MessageCenterConfig"]

PROVIDERS = ("local", "aliyun_soar")
DEFAULT_PMSG_TTL_DAYS = 30


@dataclass(frozen=True)
class SoarRelay:
    """``message_center.aliyun_soar``: which playbook node the notification runs as."""

    playbook_uuid: str
    node_name: str = "NotifyMessage_1"
    role_for: str = ""    # a member account's UID, when an administrator sends for it

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> SoarRelay:
        role_for = reader.string("role_for")
        if role_for and not ascii_digits(role_for):
            raise ConfigError(reader.key("role_for"), f"expected an account UID, got {role_for!r}")
        return cls(reader.string("playbook_uuid", required=True),
                   reader.string("node_name", default="NotifyMessage_1"), role_for)


@dataclass(frozen=True)
class MessageCenterConfig:
    provider: str = "local"
    default_lang: str = "zh"
    recipients: Mapping[str, Recipient] = field(default_factory=dict)
    templates: TemplateBook = field(default_factory=TemplateBook)
    pmsg_ttl_days: int = DEFAULT_PMSG_TTL_DAYS
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
            pmsg_ttl_days=reader.integer("pmsg_ttl_days", default=DEFAULT_PMSG_TTL_DAYS,
                                         minimum=1, maximum=3650),
            aliyun_soar=relay,
        )
