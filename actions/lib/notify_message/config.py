"""The pack config, parsed once into typed objects.

``PackConfig.from_mapping`` takes what StackStorm hands an action as ``self.config`` (or
what the command line loads from YAML) and either returns a ``PackConfig`` or raises
``ConfigError`` naming the offending key.  The channels only ever see these objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .dingtalk_config import DingTalkSettings
from .errors import ConfigError
from .providers import (
    ALIBABA_MAIL_ENTERPRISE_SERVER,
    BLOCKED_PORT,
    IMPLICIT_TLS_PORT,
    STARTTLS_PORT,
    infer_smtp_host,
)

__all__ = ["TLS_MODES", "SmtpInstance", "PackConfig", "ConfigReader"]

TLS_MODES = ("implicit", "starttls", "plain")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONCURRENCY = 10
DEFAULT_MAX_SESSIONS = 4


class ConfigReader:
    """Reads typed values out of one mapping of the config, naming keys by their path."""

    def __init__(self, mapping: Any, path: str) -> None:
        if mapping is None:
            mapping = {}
        if not isinstance(mapping, Mapping):
            raise ConfigError(path, f"expected an object, got {type(mapping).__name__}")
        self.mapping = mapping
        self.path = path

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
    dingtalk: DingTalkSettings = field(default_factory=DingTalkSettings)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> PackConfig:
        reader = ConfigReader(mapping, "")
        instances = tuple(SmtpInstance.from_reader(r) for r in reader.items("smtp_instances"))
        _check_unique(instances)
        return cls(
            smtp_instances=instances,
            max_concurrency=int(reader.number("max_concurrency",
                                              default=DEFAULT_MAX_CONCURRENCY)),
            dingtalk=DingTalkSettings.from_reader(reader),
        )

    def secrets(self) -> list[str]:
        """Every secret value in the config, so that output can be scrubbed of them."""
        secrets = [i.password for i in self.smtp_instances if i.password]
        secrets += self.dingtalk.secrets()
        return secrets

    @property
    def default_smtp_instance(self) -> SmtpInstance | None:
        for instance in self.smtp_instances:
            if instance.default:
                return instance
        return self.smtp_instances[0] if self.smtp_instances else None


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
