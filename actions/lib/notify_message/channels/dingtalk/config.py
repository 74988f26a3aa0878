"""The DingTalk part of the pack config: named robots and where robots may live.

``DingTalkSettings.from_reader`` is called by ``PackConfig.from_mapping`` with the config's
top-level reader and raises ``ConfigError`` naming the offending key.  ``parse_webhook`` is
also used for webhook URLs given as action parameters, so that both obey the same host rule:
only ``https://oapi.dingtalk.com`` unless ``dingtalk_allowed_hosts`` lists another host.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from .protocol import (
    DEFAULT_HOST,
    MOBILE_PATTERN,
    RATE_LIMIT_MESSAGES,
    RATE_LIMIT_WINDOW,
    SEND_PATH,
    SESSION_PATH,
)
from ...bounded import EDGE, control_character, describe_character
from ...config.entries import check_entries, find_entry
from ...config.reader import ConfigReader
from ...errors import ConfigError
from ...runtime import RetryPolicy


__all__ = ["Webhook", "DingTalkRobot", "DingTalkSettings", "parse_webhook", "parse_mobile"]

MAX_URL = 2048
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_SECONDS = 30.0
DEFAULT_RETRY_BACKOFF = 1.0


@dataclass(frozen=True)
class Webhook:
    """A robot's webhook URL.  The URL carries the access_token, a credential: show
    ``masked`` instead, never ``url``."""

    url: str = field(repr=False)
    access_token: str = field(repr=False)   # or, for a session webhook, the session
    netloc: str
    path: str
    credential: str = "access_token"        # the query parameter that holds the credential

    @property
    def masked(self) -> str:
        # a relay's path is shown only when it is DingTalk's own: any other may hold a token
        path = self.path if self.path in (SEND_PATH, SESSION_PATH) else "/..."
        return f"https://{self.netloc}{path}?{self.credential}={self.access_token[:4]}***"


def parse_webhook(text: str, allowed_hosts: Sequence[str]) -> Webhook:
    """A robot's webhook URL checked against the host rule; ValueError says what is wrong
    (without repeating the URL, which holds a credential)."""
    url, parts, query = _split_url(text, allowed_hosts, SEND_PATH, "access_token")
    tokens = query.get("access_token", [])
    if len(tokens) != 1 or not tokens[0].strip():
        raise ValueError("has no access_token: copy the whole webhook URL from the robot's "
                         f"settings, https://{DEFAULT_HOST}{SEND_PATH}?access_token=...")
    if "sign" in query or "timestamp" in query:
        raise ValueError("must not carry timestamp or sign: they expire; give the robot's "
                         "secret instead and every request is signed when it is sent")
    return Webhook(url=url, access_token=tokens[0].strip(), netloc=parts.netloc.lower(),
                   path=parts.path)


def parse_session_webhook(text: str, allowed_hosts: Sequence[str]) -> Webhook:
    """The ``sessionWebhook`` of an outgoing robot's message (``/robot/sendBySession?session=``),
    under the same host rule as robot webhooks."""
    url, parts, query = _split_url(text, allowed_hosts, SESSION_PATH, "session")
    sessions = query.get("session", [])
    if len(sessions) != 1 or not sessions[0].strip():
        raise ValueError(f"has no session: give the message's sessionWebhook as it is, "
                         f"https://{DEFAULT_HOST}{SESSION_PATH}?session=...")
    return Webhook(url=url, access_token=sessions[0].strip(), netloc=parts.netloc.lower(),
                   path=parts.path, credential="session")


def _split_url(text: str, allowed_hosts: Sequence[str], path: str, credential: str
               ) -> tuple[str, urllib.parse.SplitResult, dict[str, list[str]]]:
    """The checks every DingTalk URL passes: https, no user:password or fragment, and
    oapi.dingtalk.com on 443 at ``path`` unless the host is an allowed relay."""
    url = text.strip(EDGE)
    shape = f"https://{DEFAULT_HOST}{path}?{credential}=..."
    # the exact string that is sent: urlsplit silently drops tab, CR and LF
    char = control_character(url)
    if char is not None:
        raise ValueError(f"contains the control character {describe_character(char)}")
    if len(url) > MAX_URL:
        raise ValueError(f"is {len(url)} characters long; at most {MAX_URL} are accepted")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme.lower() != "https":
        raise ValueError("must be an https:// URL (DingTalk robots are reached over TLS only)")
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        raise ValueError(f"must be {shape}, without user:password")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    if host == DEFAULT_HOST:
        if port not in (None, 443):
            raise ValueError(f"{DEFAULT_HOST} is only reached on port 443")
        if parts.path != path:
            raise ValueError(f"must be {shape}")
    elif not _host_allowed(host, port, allowed_hosts):
        raise ValueError(
            f"points at {host}{f':{port}' if port else ''}, which is not {DEFAULT_HOST}; "
            "other hosts (an on-premises relay) must be listed in dingtalk_allowed_hosts in "
            "the pack config")
    return url, parts, urllib.parse.parse_qs(parts.query, keep_blank_values=True)


def _host_allowed(host: str, port: int | None, allowed_hosts: Sequence[str]) -> bool:
    for entry in allowed_hosts:
        allowed_host, sep, allowed_port = entry.rpartition(":")
        if not sep:
            allowed_host, allowed_port = entry, ""
        if allowed_host.strip("[]") == host and (not allowed_port or
                                                 str(port or 443) == allowed_port):
            return True
    return False


def parse_mobile(text: str) -> str | None:
    """A mobile number for atMobiles, or None when the text is not one."""
    mobile = text.strip().replace(" ", "")
    return mobile if MOBILE_PATTERN.match(mobile) else None


@dataclass(frozen=True)
class DingTalkRobot:
    """One named custom robot of the pack config (``dingtalk_robots``)."""

    name: str
    webhook: Webhook
    secret: str = field(default="", repr=False)
    keywords: tuple[str, ...] = ()
    at_mobiles: tuple[str, ...] = ()
    at_user_ids: tuple[str, ...] = ()
    at_all: bool = False
    default: bool = False
    long_messages: str = ""   # split / truncate; blank: dingtalk_long_messages

    @property
    def label(self) -> str:
        """How results name this robot: its name, never its URL."""
        return self.name

    @classmethod
    def from_reader(cls, reader: ConfigReader, allowed_hosts: Sequence[str]) -> DingTalkRobot:
        name = reader.string("name", required=True)
        try:
            webhook = parse_webhook(reader.string("webhook", required=True), allowed_hosts)
        except ValueError as exc:
            raise ConfigError(reader.key("webhook"), str(exc)) from None
        secret = reader.string("secret")
        if secret and not secret.startswith("SEC"):
            raise ConfigError(reader.key("secret"),
                              "expected the robot's signing secret, which starts with SEC "
                              "(robot settings > security settings > 加签)")
        mobiles = reader.strings("at_mobiles")
        for mobile in mobiles:
            if parse_mobile(mobile) is None:
                raise ConfigError(reader.key("at_mobiles"),
                                  f"{mobile!r} is not a mobile number (digits, optional +)")
        return cls(
            name=name,
            webhook=webhook,
            secret=secret,
            keywords=reader.strings("keywords"),
            at_mobiles=tuple(parse_mobile(m) or m for m in mobiles),
            at_user_ids=reader.strings("at_user_ids"),
            at_all=reader.boolean("at_all", default=False),
            default=reader.boolean("default", default=False),
            long_messages=_long_messages(reader, "long_messages", ""),
        )


@dataclass(frozen=True)
class DingTalkSettings:
    """Everything the DingTalk channel reads from the pack config."""

    robots: tuple[DingTalkRobot, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    ca_bundle: str = ""
    timeout: float = DEFAULT_TIMEOUT
    retry_seconds: float = DEFAULT_RETRY_SECONDS
    retry_backoff: float = DEFAULT_RETRY_BACKOFF
    retry_unknown: bool = True      # retry a request that may have reached DingTalk
    long_messages: str = "split"    # a text / markdown message over the size limit: split
    # DingTalk's own limits; not config keys, but replaceable so tests can use short windows
    rate_limit: int = RATE_LIMIT_MESSAGES
    rate_window: float = RATE_LIMIT_WINDOW

    @classmethod
    def from_reader(cls, reader: ConfigReader) -> DingTalkSettings:
        allowed = reader.hosts("dingtalk_allowed_hosts")
        robots = tuple(DingTalkRobot.from_reader(r, allowed)
                       for r in reader.items("dingtalk_robots"))
        _check_robots(robots)
        return cls(
            robots=robots,
            allowed_hosts=allowed,
            ca_bundle=reader.string("dingtalk_ca_bundle"),
            timeout=reader.seconds("dingtalk_timeout", default=DEFAULT_TIMEOUT),
            # 0 turns retries off
            retry_seconds=reader.seconds("dingtalk_retry_seconds", default=DEFAULT_RETRY_SECONDS,
                                         zero=True),
            retry_backoff=reader.seconds("dingtalk_retry_backoff", default=DEFAULT_RETRY_BACKOFF),
            retry_unknown=reader.boolean("dingtalk_retry_unknown", default=True),
            long_messages=_long_messages(reader, "dingtalk_long_messages", "split"),
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """Transient answers are retried within ``dingtalk_retry_seconds``, waiting
        ``dingtalk_retry_backoff`` seconds (less up to a quarter), doubling up to 8 s."""
        return RetryPolicy(attempts=None, backoff=self.retry_backoff, cap=8.0, jitter=0.25,
                           budget=self.retry_seconds)

    def secrets(self) -> list[str]:
        """The robots' webhook URLs, access tokens and signing secrets."""
        found: list[str] = []
        for robot in self.robots:
            found += [robot.webhook.url, robot.webhook.access_token, robot.secret]
        return [s for s in found if s]

    def robot(self, name: str) -> DingTalkRobot | None:
        return find_entry(self.robots, name)

    def robot_for_token(self, access_token: str) -> DingTalkRobot | None:
        for robot in self.robots:
            if robot.webhook.access_token == access_token:
                return robot
        return None

    @property
    def default_robots(self) -> tuple[DingTalkRobot, ...]:
        """The robots dingding = 1 sends to: those marked default, or the only robot."""
        marked = tuple(r for r in self.robots if r.default)
        if marked:
            return marked
        return self.robots if len(self.robots) == 1 else ()


def _long_messages(reader: ConfigReader, key: str, default: str) -> str:
    """How a text or markdown message over DingTalk's size limit goes out (split.py)."""
    from .split import LONG_MESSAGE_MODES

    return reader.choice(key, LONG_MESSAGE_MODES, default=default) if default else (
        reader.choice(key, LONG_MESSAGE_MODES + ("",), default=""))


def _check_robots(robots: Sequence[DingTalkRobot]) -> None:
    check_entries(robots, "dingtalk_robots", several_defaults=True)
    tokens: dict[str, int] = {}
    for i, robot in enumerate(robots):  # one robot configured twice under two names
        token = robot.webhook.access_token
        if token in tokens:
            raise ConfigError(f"dingtalk_robots[{i}].webhook",
                              f"is the same robot as dingtalk_robots[{tokens[token]}]")
        tokens[token] = i
