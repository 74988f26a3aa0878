"""The pack config, parsed once into typed objects.

``PackConfig.from_mapping`` takes what StackStorm hands an action as ``self.config`` (or
what the command line loads from YAML) and either returns a ``PackConfig`` or raises
``ConfigError`` naming the offending key.  The channels only ever see these objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..aliyun.account import AliyunAccount
from ..channels.dingtalk.config import DingTalkSettings
from ..channels.dingtalk.inbound import DingTalkInboundConfig
from ..channels.email.config import SmtpInstance
from ..channels.phone.profiles import SmsProfile
from ..errors import ConfigError
from ..message_center.settings import MessageCenterConfig
from .entries import check_entries, default_entry, find_entry
from .reader import ConfigReader

__all__ = ["PackConfig"]

DEFAULT_MAX_CONCURRENCY = 10
MAX_CONCURRENCY = 1000


@dataclass(frozen=True)
class PackConfig:
    """Everything the pack config holds, validated."""

    smtp_instances: tuple[SmtpInstance, ...] = ()
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    aliyun: AliyunAccount | None = None           # SMS, voice and the Message Center relay
    sms_profiles: tuple[SmsProfile, ...] = ()
    message_center: MessageCenterConfig = field(default_factory=MessageCenterConfig)
    dingtalk_inbound: DingTalkInboundConfig | None = None
    dingtalk: DingTalkSettings = field(default_factory=DingTalkSettings)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> PackConfig:
        reader = ConfigReader(mapping, "")
        instances = tuple(SmtpInstance.from_reader(r) for r in reader.items("smtp_instances"))
        check_entries(instances, "smtp_instances", name_key="assetname")
        aliyun_reader = reader.section("aliyun", "access_key_id", "access_key_secret")
        aliyun = None if aliyun_reader is None else AliyunAccount.from_reader(aliyun_reader)
        sms_profiles = tuple(SmsProfile.from_reader(r) for r in reader.items("sms_profiles"))
        check_entries(sms_profiles, "sms_profiles")
        if sms_profiles and aliyun is None:
            raise ConfigError("aliyun", "is required with sms_profiles: give access_key_id and "
                              "access_key_secret of the Alibaba Cloud account that sends")
        message_center = MessageCenterConfig.from_mapping(reader.mapping.get("message_center"))
        if message_center.provider == "aliyun_soar" and aliyun is None:
            raise ConfigError("aliyun", "is required when message_center.provider is "
                              "aliyun_soar: give the AccessKey pair that may call SOAR")
        return cls(
            smtp_instances=instances,
            max_concurrency=reader.integer("max_concurrency", default=DEFAULT_MAX_CONCURRENCY,
                                           minimum=1, maximum=MAX_CONCURRENCY),
            aliyun=aliyun,
            sms_profiles=sms_profiles,
            message_center=message_center,
            dingtalk_inbound=_dingtalk_inbound(reader),
            dingtalk=DingTalkSettings.from_reader(reader),
        )

    def secrets(self) -> list[str]:
        """Every secret value in the config, so that output can be scrubbed of them."""
        secrets = [i.password for i in self.smtp_instances if i.password]
        if self.aliyun is not None:
            secrets += self.aliyun.secrets()
        if self.dingtalk_inbound is not None:
            secrets.append(self.dingtalk_inbound.app_secret)
        secrets += self.dingtalk.secrets()
        return secrets

    @property
    def default_sms_profile(self) -> SmsProfile | None:
        return default_entry(self.sms_profiles)

    def smtp_instance(self, selector: str) -> SmtpInstance | None:
        """The instance an assetname, uuid or address names; blank = the default instance."""
        if not selector:
            return self.default_smtp_instance
        return find_entry(self.smtp_instances, selector, lambda i, text: i.matches(text))

    @property
    def default_smtp_instance(self) -> SmtpInstance | None:
        return default_entry(self.smtp_instances)


def _dingtalk_inbound(reader: ConfigReader) -> DingTalkInboundConfig | None:
    section = reader.section("dingtalk_inbound", "app_secret", "port")
    return None if section is None else DingTalkInboundConfig.from_mapping(section.mapping)
