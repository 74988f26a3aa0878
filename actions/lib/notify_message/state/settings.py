"""The ``storm_control`` config section, parsed once into ``StormSettings``.

A section counts as configured when any key under it has a value: st2 builds every object
of the config schema even when the user left it out, so the schema gives storm_control no
defaults (they live here) and an empty or blank section is absent.  ``enabled: false``
switches a written section off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config.reader import ConfigReader
from ..errors import ConfigError
from ..storm_params import SEVERITIES
from .store import Store, Window

__all__ = ["StormSettings", "StateSettings", "QuietRule", "open_store",
           "SEVERITIES", "CHANNELS"]

CHANNELS = ("email", "dingtalk", "sms", "voice", "pmsg")
_SECTION_KEYS = {"enabled", "state", "dedup", "dingtalk", "email", "sms", "voice", "digest",
                 "quiet_hours", "ledger_days"}
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_FALLBACK_NAME = re.compile(r"^[^\x00-\x1f]{1,128}$")


@dataclass(frozen=True)
class StateSettings:
    backend: str = "sqlite"
    path: str = ""             # sqlite; blank: sqlite.default_path()
    url: str = field(default="", repr=False)       # redis://[:password@]host:port/db
    password: str = field(default="", repr=False)
    ca_bundle: str = ""        # rediss://: the CA that signed the server's certificate
    timeout: float = 2.0       # past it, a call goes out without storm control
    prefix: str = "notify_message:"

    def secrets(self) -> list[str]:
        from urllib.parse import urlsplit

        found = [self.password, self.url]
        if self.url:
            found.append(urlsplit(self.url).password or "")
        return [s for s in found if s]


@dataclass(frozen=True)
class QuietRule:
    """Outside ``start``-``end`` (minutes of the day, in ``timezone``), deliveries on
    ``channels`` are queued to the window's start or suppressed, unless their severity is
    in ``unless``."""

    name: str
    channels: tuple[str, ...]
    start: int
    end: int
    timezone: str
    unless: tuple[str, ...]
    action: str


@dataclass(frozen=True)
class StormSettings:
    state: StateSettings = StateSettings()
    dedup_windows: Mapping[str, float] = field(default_factory=dict)   # channel -> seconds
    content_hash: bool = False
    dingtalk_limit: int = 20
    dingtalk_window: float = 62.0     # DingTalk's 60 s and 2 s for a message in transit
    dingtalk_throttle: float = 600.0
    fallback: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    digest_reserve: int = 2           # of each robot's budget, kept for digests
    email_per_minute: int = 0
    email_per_day: int = 0
    sms_per_day: int = 50
    voice_per_minute: int = 1
    voice_per_hour: int = 5
    voice_per_day: int = 20
    group_interval: float = 60.0
    lease_seconds: float = 120.0
    flush_interval: float = 10.0      # how often the digest sensor looks for due digests
    max_digest_items: int = 500
    quiet_hours: tuple[QuietRule, ...] = ()
    ledger_days: int = 7

    def dedup_window(self, channel: str) -> float:
        return self.dedup_windows.get(channel, 0.0)

    def windows(self, channel: str, *, digest: bool = False) -> tuple[Window, ...]:
        """The rolling budgets of one target of ``channel`` (none: unlimited).  A robot's
        direct messages leave ``digest_reserve`` of its budget to digests."""
        if channel == "dingtalk":
            limit = self.dingtalk_limit if digest else max(
                1, self.dingtalk_limit - self.digest_reserve)
            return (Window(limit, self.dingtalk_window),)
        pairs: list[tuple[int, float]] = {
            "email": [(self.email_per_minute, 60.0), (self.email_per_day, 86400.0)],
            "sms": [(self.sms_per_day, 86400.0)],
            "voice": [(self.voice_per_minute, 60.0), (self.voice_per_hour, 3600.0),
                      (self.voice_per_day, 86400.0)],
        }.get(channel, [])
        return tuple(Window(limit, seconds) for limit, seconds in pairs if limit > 0)

    def secrets(self) -> list[str]:
        return self.state.secrets()

    @classmethod
    def from_mapping(cls, mapping: Any) -> StormSettings:
        reader = ConfigReader(mapping, "storm_control")
        unknown = sorted(str(k) for k in reader.mapping if k not in _SECTION_KEYS)
        if unknown:
            raise ConfigError(reader.key(unknown[0]), "is not a storm_control key; expected "
                              + ", ".join(sorted(_SECTION_KEYS)))
        dedup = reader.child("dedup")
        default_window = dedup.seconds("window", default=600.0, maximum=30 * 86400.0, zero=True)
        windows = {c: default_window for c in CHANNELS}
        per_channel = dedup.child("windows")
        for channel in per_channel.mapping:
            if channel not in CHANNELS:
                raise ConfigError(per_channel.key(channel),
                                  f"expected a channel: {', '.join(CHANNELS)}")
            windows[channel] = per_channel.seconds(channel, default=default_window,
                                                   maximum=30 * 86400.0, zero=True)
        dingtalk, email = reader.child("dingtalk"), reader.child("email")
        sms, voice, digest = reader.child("sms"), reader.child("voice"), reader.child("digest")
        limit = dingtalk.integer("per_minute", default=20, minimum=1, maximum=20)
        return cls(
            state=_state(reader.child("state")),
            dedup_windows=windows,
            content_hash=dedup.boolean("content_hash", default=False),
            dingtalk_limit=limit,
            dingtalk_window=dingtalk.seconds("window", default=62.0, maximum=3600.0),
            dingtalk_throttle=dingtalk.seconds("throttle_seconds", default=600.0,
                                               maximum=86400.0),
            fallback=_fallback(dingtalk),
            digest_reserve=dingtalk.integer("digest_reserve", default=min(2, limit - 1),
                                            minimum=0, maximum=limit - 1),
            email_per_minute=email.integer("per_minute", default=0, minimum=0, maximum=100000),
            email_per_day=email.integer("per_day", default=0, minimum=0, maximum=10000000),
            sms_per_day=sms.integer("per_day", default=50, minimum=0, maximum=100000),
            voice_per_minute=voice.integer("per_minute", default=1, minimum=0, maximum=1000),
            voice_per_hour=voice.integer("per_hour", default=5, minimum=0, maximum=10000),
            voice_per_day=voice.integer("per_day", default=20, minimum=0, maximum=100000),
            group_interval=digest.seconds("group_interval", default=60.0, maximum=86400.0),
            lease_seconds=digest.seconds("lease_seconds", default=120.0, maximum=3600.0),
            flush_interval=digest.seconds("flush_interval", default=10.0, maximum=30.0),
            max_digest_items=digest.integer("max_items", default=500, minimum=1, maximum=10000),
            quiet_hours=tuple(_quiet_rule(r) for r in reader.items("quiet_hours")),
            ledger_days=reader.integer("ledger_days", default=7, minimum=1, maximum=365),
        )


def _state(reader: ConfigReader) -> StateSettings:
    backend = reader.choice("backend", ("sqlite", "redis"), default="sqlite")
    url = reader.string("url")
    if backend == "redis":
        if not url:
            raise ConfigError(reader.key("url"), "is required with backend redis "
                              "(redis://host:6379/0 or rediss://host:6380/0)")
        if not url.startswith(("redis://", "rediss://")):
            raise ConfigError(reader.key("url"), "expected a redis:// or rediss:// URL")
        _check_redis_url(reader, url)
    return StateSettings(
        backend=backend,
        path=reader.string("path"),
        url=url,
        password=reader.string("password"),
        ca_bundle=reader.string("ca_bundle"),
        timeout=reader.seconds("timeout", default=2.0, maximum=30.0),
        prefix=reader.string("prefix", default="notify_message:", limit=64),
    )


def _check_redis_url(reader: ConfigReader, url: str) -> None:
    """A URL every later reader (the secrets list, the store's label, redis-py) can split;
    the refusal never quotes it, since it may hold the password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is no number in 0-65535 raises here
    except ValueError:
        raise ConfigError(reader.key("url"), "is not a valid URL (expected "
                          "redis://[:password@]host[:port][/db])") from None
    if not parts.hostname:
        raise ConfigError(reader.key("url"), "names no host (expected "
                          "redis://[:password@]host[:port][/db])")


def _fallback(dingtalk: ConfigReader) -> dict[str, tuple[str, ...]]:
    value = dingtalk.mapping.get("fallback")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(dingtalk.key("fallback"),
                          "expected an object: robot name -> list of fallback robot names")
    each = dingtalk.child("fallback")
    found: dict[str, tuple[str, ...]] = {}
    for name in value:
        if not isinstance(name, str) or not _FALLBACK_NAME.match(name):
            raise ConfigError(dingtalk.key("fallback"), "expected robot names as keys")
        found[name] = each.strings(name)
    return found


def _minutes(reader: ConfigReader, name: str, default: str) -> int:
    text = reader.string(name, default=default)
    match = _CLOCK.match(text)
    if not match:
        raise ConfigError(reader.key(name), f"expected a time of day HH:MM, got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _quiet_rule(reader: ConfigReader) -> QuietRule:
    channels = reader.strings("channels")
    for channel in channels:
        if channel not in CHANNELS:
            raise ConfigError(reader.key("channels"),
                              f"expected channels among {', '.join(CHANNELS)}, got {channel!r}")
    allow = reader.child("allow")
    timezone = allow.string("timezone", default="Asia/Shanghai")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except (ValueError, KeyError, OSError):
        raise ConfigError(allow.key("timezone"),
                          f"expected an IANA time zone such as Asia/Shanghai, got {timezone!r}"
                          ) from None
    unless = tuple(s.lower() for s in reader.strings("unless_severity"))
    for severity in unless:
        if severity not in SEVERITIES:
            raise ConfigError(reader.key("unless_severity"),
                              f"expected severities among {', '.join(SEVERITIES)}")
    return QuietRule(
        name=reader.string("name", default=reader.path),
        channels=channels or CHANNELS,
        start=_minutes(allow, "from", "08:00"),
        end=_minutes(allow, "to", "22:00"),
        timezone=timezone,
        unless=unless,
        action=reader.choice("outside", ("queue", "suppress"), default="queue"),
    )


def open_store(state: StateSettings) -> Store:
    """The configured store, connected; StoreUnavailable when it cannot be."""
    if state.backend == "redis":
        from .redis import RedisStore
        return RedisStore(state.url, password=state.password, ca_bundle=state.ca_bundle,
                          timeout=state.timeout, prefix=state.prefix)
    from .sqlite import SqliteStore, default_path
    return SqliteStore(state.path or default_path(), timeout=state.timeout)
