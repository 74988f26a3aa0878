"""SMTP resource instances (``smtp_instances``): the component's "Instance Configuration".

Each instance is a sender account; its server is ``emailSendServer`` or, when blank,
inferred from the sender's domain (``providers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...bounded import ascii_digits
from ...config.reader import ConfigReader
from ...errors import ConfigError
from ...runtime import RetryPolicy
from .address import bare_address, shown
from .providers import (
    ALIBABA_MAIL_ENTERPRISE_SERVER,
    BLOCKED_PORT,
    IMPLICIT_TLS_PORT,
    STARTTLS_PORT,
    infer_smtp_host,
)

__all__ = ["TLS_MODES", "SmtpInstance"]

# host:port, [IPv6]:port, or either without the port (465)
_SERVER = re.compile(r"^(?:(?P<host>[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
                     r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?)"
                     r"|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?$", re.ASCII)

TLS_MODES = ("implicit", "starttls", "plain")
DELIVERY_MODES = ("per_message", "per_recipient")
# recipients per transaction: Gmail takes up to 100 per message over SMTP; the smallest
# published cap is what a default must fit (see docs/email.md for the providers' limits)
DEFAULT_MAX_RECIPIENTS_PER_MESSAGE = 100
MAX_RECIPIENTS_PER_MESSAGE = 1000
DEFAULT_MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024   # decoded; providers cap a mail at 20-50 MB
MAX_ATTACHMENT_BYTES = 1024 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_SESSIONS = 1
MAX_SESSIONS = 100


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
    delivery: str = "per_message"
    max_recipients_per_message: int = DEFAULT_MAX_RECIPIENTS_PER_MESSAGE
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    attachment_dirs: tuple[str, ...] = ()
    retry_attempts: int = 3
    retry_backoff: float = 1.0
    retry_budget: float = 60.0

    @property
    def retry_policy(self) -> RetryPolicy:
        """Temporary answers and broken sessions: ``retry_attempts`` transactions in all,
        waits from ``retry_backoff`` doubling, none ending past ``retry_budget`` seconds."""
        return RetryPolicy(attempts=self.retry_attempts, backoff=self.retry_backoff,
                           cap=30.0, jitter=0.25, budget=self.retry_budget)

    @property
    def endpoint(self) -> str:
        """Where this instance connects, for messages: ``host:port (implicit TLS)``."""
        mode = {"implicit": "implicit TLS", "starttls": "STARTTLS", "plain": "no TLS"}[self.tls]
        return f"{self.host}:{self.port} ({mode})"

    @property
    def name(self) -> str:
        return self.assetname

    def matches(self, selector: str) -> bool:
        """An instance is named by its assetname, its uuid (the playbook's assetUuid) or its
        sender address."""
        wanted = selector.strip().lower()
        return wanted in (self.assetname.lower(), self.uuid.lower(), self.username.lower())

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> SmtpInstance:
        username = reader.string("emailUsername", required=True)
        if bare_address(username) != username or not username.isascii():
            raise ConfigError(reader.key("emailUsername"),
                              f"expected the full sender address (user@domain), got "
                              f"{shown(username)}")
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
            timeout=reader.seconds("timeout", default=DEFAULT_TIMEOUT),
            default=reader.boolean("default", default=False),
            max_sessions=reader.integer("max_sessions", default=DEFAULT_MAX_SESSIONS,
                                        minimum=1, maximum=MAX_SESSIONS),
            delivery=reader.choice("delivery", DELIVERY_MODES, default="per_message"),
            max_recipients_per_message=reader.integer(
                "max_recipients_per_message", default=DEFAULT_MAX_RECIPIENTS_PER_MESSAGE,
                minimum=1, maximum=MAX_RECIPIENTS_PER_MESSAGE),
            max_attachment_bytes=reader.integer(
                "max_attachment_bytes", default=DEFAULT_MAX_ATTACHMENT_BYTES, minimum=0,
                maximum=MAX_ATTACHMENT_BYTES),
            attachment_dirs=_directories(reader, "attachment_dirs"),
            retry_attempts=reader.integer("retry_attempts", default=3, minimum=1, maximum=10),
            retry_backoff=reader.seconds("retry_backoff", default=1.0, maximum=60.0,
                                         zero=True),
            retry_budget=reader.seconds("retry_budget", default=60.0, maximum=3600.0),
        )


def _directories(reader: ConfigReader, name: str) -> tuple[str, ...]:
    """Absolute directories, resolved (symbolic links and ``..``) once, here."""
    import os

    found = []
    for i, path in enumerate(reader.strings(name)):
        if not os.path.isabs(path):
            raise ConfigError(f"{reader.key(name)}[{i}]",
                              f"expected an absolute directory, got {shown(path)}")
        found.append(os.path.realpath(path))
    return tuple(found)


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
    if "://" in server:
        raise ConfigError(key, "expected host or host:port without a scheme: write "
                          "smtps://host:465 as host:465 (implicit TLS is the default) and "
                          "set tls for starttls or plain")
    match = _SERVER.match(server)
    if match is None:
        raise ConfigError(key, f"expected host or host:port (a host name, an IPv4 address or "
                          f"an [IPv6] address), got {shown(server)}")
    host = match.group("host") or match.group("ipv6")
    port_text = match.group("port") or ""
    if not port_text:
        port = IMPLICIT_TLS_PORT
    elif ascii_digits(port_text) and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ConfigError(key, f"expected a port from 1 to 65535 after ':', got "
                          f"{shown(port_text)}")
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
