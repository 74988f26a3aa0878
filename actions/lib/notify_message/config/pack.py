"""The pack config, parsed once into typed objects.

``PackConfig.from_mapping`` takes what StackStorm hands an action as ``self.config`` (or
what the command line loads from YAML) and either returns a ``PackConfig`` or raises
``ConfigError`` naming the offending key.  The channels only ever see these objects.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..channels.email.config import SmtpInstance
from ..errors import ConfigError
from .entries import check_entries, default_entry, find_entry
from .reader import ConfigReader

if TYPE_CHECKING:
    from ..aliyun.account import AliyunAccount
    from ..channels.dingtalk.config import DingTalkSettings
    from ..channels.dingtalk.inbound import DingTalkInboundConfig
    from ..channels.phone.profiles import SmsProfile
    from ..message_center.settings import MessageCenterConfig
    from ..state.settings import StormSettings

__all__ = ["PackConfig"]

DEFAULT_MAX_CONCURRENCY = 10
MAX_CONCURRENCY = 1000
# the top-level keys of the DingTalk channel
_DINGTALK_KEYS = ("dingtalk_robots", "dingtalk_allowed_hosts", "dingtalk_ca_bundle",
                  "dingtalk_timeout", "dingtalk_retry_seconds", "dingtalk_retry_backoff")
# what st2 fills into message_center from the schema's defaults alone
_MESSAGE_CENTER_DEFAULTS = {"provider": "local", "default_lang": "zh", "pmsg_ttl_days": 30}


# the config keys the schema marks secret: true (a test compares them)
SECRET_KEYS = frozenset({"emailPassword", "webhook", "secret", "access_key_id",
                         "access_key_secret", "app_secret", "url", "password"})


def raw_secrets(mapping: Any) -> list[str]:
    """The values of every secret key in a config mapping, parsed or not: what an error
    about a config that did not parse must not show either."""
    found: list[str] = []
    pending = [mapping]
    while pending:
        current = pending.pop()
        if isinstance(current, Mapping):
            for key, value in current.items():
                if key in SECRET_KEYS and isinstance(value, str):
                    found.append(value.strip())
                else:
                    pending.append(value)
        elif isinstance(current, (list, tuple)):
            pending += list(current)
    return found


def _has_value(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_has_value(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return bool(value)
    return value is not None and not (isinstance(value, str) and not value.strip())


class PackConfig:
    """Everything the pack config holds, validated.

    ``from_mapping`` checks every section the mapping configures and raises ``ConfigError``
    naming the first bad key.  A section's module is imported only when the config has that
    section (or a caller asks for it), so that an email-only deployment never loads the
    DingTalk, Alibaba Cloud or Message Center code.
    """

    def __init__(self, mapping: Mapping[str, Any] | None = None) -> None:
        self._reader = ConfigReader(mapping, "")
        reader = self._reader
        self.smtp_instances: tuple[SmtpInstance, ...] = tuple(
            SmtpInstance.from_reader(r) for r in reader.items("smtp_instances"))
        check_entries(self.smtp_instances, "smtp_instances", name_key="assetname")
        self.max_concurrency = reader.integer("max_concurrency",
                                              default=DEFAULT_MAX_CONCURRENCY, minimum=1,
                                              maximum=MAX_CONCURRENCY)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> PackConfig:
        config = cls(mapping)
        config.secrets()  # reads every configured section, so that a bad key fails here
        if config.sms_profiles and config.aliyun is None:
            raise ConfigError("aliyun", "is required with sms_profiles: give access_key_id and "
                              "access_key_secret of the Alibaba Cloud account that sends")
        if config._configured("message_center") and \
                config.message_center.provider == "aliyun_soar" and config.aliyun is None:
            raise ConfigError("aliyun", "is required when message_center.provider is "
                              "aliyun_soar: give the AccessKey pair that may call SOAR")
        return config

    @property
    def mapping(self) -> Mapping[str, Any]:
        """The config as it was given."""
        return self._reader.mapping

    def replace(self, **sections: Any) -> PackConfig:
        """A copy with some sections replaced by parsed ones (``dingtalk=...``)."""
        copied = copy.copy(self)
        for name, value in sections.items():
            if not isinstance(getattr(type(self), name, None), cached_property):
                raise TypeError(f"PackConfig has no section {name!r}")
            copied.__dict__[name] = value
        return copied

    def _configured(self, section: str) -> bool:
        mapping = self._reader.mapping
        if section == "dingtalk":
            return any(mapping.get(key) not in (None, "", []) for key in _DINGTALK_KEYS)
        if section == "message_center":
            value = mapping.get("message_center")
            if not isinstance(value, Mapping):
                return value is not None
            return any(v not in (None, "", [], {}) and _MESSAGE_CENTER_DEFAULTS.get(k) != v
                       for k, v in value.items())
        if section == "aliyun":
            return self._reader.section("aliyun", "access_key_id", "access_key_secret") \
                is not None
        if section == "storm_control":
            # st2 builds the section from the schema even when it was left out: only a key
            # with a value turns storm control on, and enabled: false turns it off
            value = mapping.get("storm_control")
            if isinstance(value, Mapping):
                if value.get("enabled") is False:
                    return False
                value = {k: v for k, v in value.items() if k != "enabled"}
            return _has_value(value)
        if section == "dingtalk_inbound":
            return self._reader.section("dingtalk_inbound", "app_secret", "port") is not None
        return bool(mapping.get(section))

    @cached_property
    def aliyun(self) -> AliyunAccount | None:
        """SMS, voice and the Message Center relay's account."""
        if not self._configured("aliyun"):
            return None
        from ..aliyun.account import AliyunAccount
        return AliyunAccount.from_reader(self._reader.child("aliyun"))

    @cached_property
    def sms_profiles(self) -> tuple[SmsProfile, ...]:
        if not self._configured("sms_profiles"):
            return ()
        from ..channels.phone.profiles import SmsProfile
        profiles = tuple(SmsProfile.from_reader(r) for r in self._reader.items("sms_profiles"))
        check_entries(profiles, "sms_profiles")
        return profiles

    @cached_property
    def message_center(self) -> MessageCenterConfig:
        from ..message_center.settings import MessageCenterConfig
        return MessageCenterConfig.from_mapping(self._reader.mapping.get("message_center"))

    @cached_property
    def dingtalk_inbound(self) -> DingTalkInboundConfig | None:
        if not self._configured("dingtalk_inbound"):
            return None
        from ..channels.dingtalk.inbound import DingTalkInboundConfig
        return DingTalkInboundConfig.from_mapping(self._reader.child("dingtalk_inbound").mapping)

    @cached_property
    def storm_control(self) -> StormSettings | None:
        """Storm control's settings, or None without a storm_control section (nothing of
        notify_message.state is imported then)."""
        if not self._configured("storm_control"):
            return None
        from ..state.settings import StormSettings
        return StormSettings.from_mapping(self._reader.mapping.get("storm_control"))

    @cached_property
    def dingtalk(self) -> DingTalkSettings:
        from ..channels.dingtalk.config import DingTalkSettings
        return DingTalkSettings.from_reader(self._reader)

    def secrets(self) -> list[str]:
        """Every secret value in the config, so that output can be scrubbed of them."""
        secrets = [i.password for i in self.smtp_instances if i.password]
        if self.aliyun is not None:
            secrets += self.aliyun.secrets()
        if self.dingtalk_inbound is not None:
            secrets.append(self.dingtalk_inbound.app_secret)
        if self._configured("dingtalk"):
            secrets += self.dingtalk.secrets()
        if self._configured("message_center"):
            self.message_center  # noqa: B018  (checked; it holds no secret of its own)
        self.sms_profiles  # noqa: B018
        if self.storm_control is not None:
            secrets += self.storm_control.secrets()
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
