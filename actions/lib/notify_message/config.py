"""The pack config, parsed once into typed objects.

``PackConfig.from_mapping`` takes what StackStorm hands an action as ``self.config`` (or
what the command line loads from YAML) and either returns a ``PackConfig`` or raises
``ConfigError`` naming the offending key.  The channels only ever see these objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .aliyun import AliyunAccount
from .config_reader import ConfigReader
from .dingtalk_config import DingTalkSettings
from .dingtalk_inbound import DingTalkInboundConfig
from .errors import ConfigError
from .message_center.settings import MessageCenterConfig
from .providers import (
    ALIBABA_MAIL_ENTERPRISE_SERVER,
    BLOCKED_PORT,
    IMPLICIT_TLS_PORT,
    STARTTLS_PORT,
    infer_smtp_host,
)
from .sms_config import SmsProfile, default_profile, parse_sms_profiles

__all__ = ["TLS_MODES", "SmtpInstance", "PackConfig", "ConfigReader", "SmsProfile",
           "AliyunAccount"]

TLS_MODES = ("implicit", "starttls", "plain")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENCY = 10
DEFAULT_MAX_SESSIONS = 1


@dataclass(frozen=True)
class SmtpInstance:
    """One SMTP resource instance: the component's "Instance Configuration"."""

    assetname: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    tls: str = "implicit"
    uuid: str = ""
    sender_name: str = ""
    ca_bundle: str = ""
    verify: bool = True
    timeout: float = DEFAULT_TIMEOUT
    default: bool = False
    max_sessions: int = DEFAULT_MAX_SESSIONS

    @property
    def endpoint(self) -> str:
        """Where this instance connects, for messages: ``host:port (implicit TLS)``."""
        mode = {"implicit": "implicit TLS", "starttls": "STARTTLS", "plain": "no TLS"}[self.tls]
        return f"{self.host}:{self.port} ({mode})"

    def matches(self, selector: str) -> bool:
        wanted = selector.strip().lower()
        return wanted in (self.assetname.lower(), self.uuid.lower(), self.username.lower())

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> SmtpInstance:
        username = reader.string("emailUsername", required=True)
        if "@" not in username:
            raise ConfigError(reader.key("emailUsername"),
                              f"expected the full sender address (user@domain), got {username!r}")
        tls = reader.choice("tls", TLS_MODES, default="implicit")
        tls_set = bool(reader.string("tls"))
        host, port = _server(reader, username, tls, tls_set)
        return cls(
            assetname=reader.string("assetname", required=True),
            host=host,
            port=port,
            username=username,
            password=reader.string("emailPassword", required=True),
            tls=tls,
            uuid=reader.string("uuid"),
            sender_name=reader.string("sender_name"),
            ca_bundle=reader.string("ca_bundle"),
            verify=reader.boolean("verify", default=True),
            timeout=reader.number("timeout", default=DEFAULT_TIMEOUT),
            default=reader.boolean("default", default=False),
            max_sessions=int(reader.number("max_sessions", default=DEFAULT_MAX_SESSIONS,
                                           minimum=0.0)),
        )


def _server(reader: ConfigReader, username: str, tls: str, tls_set: bool) -> tuple[str, int]:
    """Host and port from emailSendServer, inferred from the sender's domain when blank."""
    key = reader.key("emailSendServer")
    server = reader.string("emailSendServer")
    if not server:
        host = infer_smtp_host(username)
        if host is None:
            domain = username.rpartition("@")[2]
            raise ConfigError(
                key,
                f"cannot infer the SMTP server for the domain {domain!r}: known domains are "
                "qq.com, foxmail.com, 163.com, 126.com, gmail.com and aliyun.com. For Alibaba "
                "Mail enterprise on your own domain set it to "
                f"{ALIBABA_MAIL_ENTERPRISE_SERVER}:465",
            )
        return host, IMPLICIT_TLS_PORT
    host, sep, port_text = server.rpartition(":")
    if not sep or "]" in port_text:  # no port given (or a bare IPv6 literal)
        host, port_text = server, ""
    host = host.strip().strip("[]")
    if not host or any(c.isspace() for c in host):
        raise ConfigError(key, f"expected host or host:port, got {server!r}")
    if not port_text:
        port = IMPLICIT_TLS_PORT
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ConfigError(key, f"expected a port from 1 to 65535 after ':', got {port_text!r}")
    if port == BLOCKED_PORT and not (tls_set and tls in ("starttls", "plain")):
        raise ConfigError(
            key,
            "port 25 is blocked on Alibaba Cloud servers and most clouds; use port 465 with "
            "implicit TLS. For a relay that only listens on 25, set tls to starttls or plain "
            "explicitly",
        )
    if port == STARTTLS_PORT and not tls_set:
        raise ConfigError(
            key,
            "port 587 speaks STARTTLS, not implicit TLS; use port 465, or set tls: starttls "
            "explicitly",
        )
    return host, port


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
        _check_unique(instances)
        aliyun_reader = reader.section("aliyun", "access_key_id", "access_key_secret")
        aliyun = None if aliyun_reader is None else AliyunAccount.from_reader(aliyun_reader)
        sms_profiles = parse_sms_profiles(reader.items("sms_profiles"))
        if sms_profiles and aliyun is None:
            raise ConfigError("aliyun", "is required with sms_profiles: give access_key_id and "
                              "access_key_secret of the Alibaba Cloud account that sends")
        message_center = MessageCenterConfig.from_mapping(reader.mapping.get("message_center"))
        if message_center.provider == "aliyun_soar" and aliyun is None:
            raise ConfigError("aliyun", "is required when message_center.provider is "
                              "aliyun_soar: give the AccessKey pair that may call SOAR")
        return cls(
            smtp_instances=instances,
            max_concurrency=int(reader.number("max_concurrency",
                                              default=DEFAULT_MAX_CONCURRENCY)),
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
        return default_profile(self.sms_profiles)

    def smtp_instance(self, selector: str) -> SmtpInstance | None:
        """The instance an assetname, uuid or address names; blank = the default instance."""
        if not selector:
            return self.default_smtp_instance
        return next((i for i in self.smtp_instances if i.matches(selector)), None)

    @property
    def default_smtp_instance(self) -> SmtpInstance | None:
        for instance in self.smtp_instances:
            if instance.default:
                return instance
        return self.smtp_instances[0] if self.smtp_instances else None


def _dingtalk_inbound(reader: ConfigReader) -> DingTalkInboundConfig | None:
    section = reader.section("dingtalk_inbound", "app_secret", "port")
    return None if section is None else DingTalkInboundConfig.from_mapping(section.mapping)


def _check_unique(instances: Sequence[SmtpInstance]) -> None:
    seen: dict[str, int] = {}
    defaults = 0
    for i, instance in enumerate(instances):
        name = instance.assetname.lower()
        if name in seen:
            raise ConfigError(f"smtp_instances[{i}].assetname", f"{instance.assetname!r} is "
                              f"already used by smtp_instances[{seen[name]}]")
        seen[name] = i
        defaults += instance.default
    if defaults > 1:
        raise ConfigError("smtp_instances", "at most one instance may be marked default: true")
