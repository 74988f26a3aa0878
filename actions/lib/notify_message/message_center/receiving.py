"""Message Center's receiving-management model, kept in the pack config.

Alibaba Cloud's Message Center keeps, per account (aliuid): contacts (name, email, mobile),
DingTalk robot webhooks, and per message type the status of each channel: ``-1`` mandatory,
``-2`` banned, ``0`` off, ``1`` on (subscribed).  A channel is *configured* for a message
type when its status is mandatory or on.  The channels a notification goes out on are the
intersection of the requested channels and the configured ones; a blank request means every
configured channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..bounded import shown as shown_value
from ..channels.email.address import bare_address, shown
from ..config.reader import ConfigReader
from ..errors import ConfigError, ParameterError
from ..channels.phone.numbers import PhoneNumber, parse_phone

__all__ = ["CHANNELS", "STATUSES", "Contact", "Recipient", "ChannelPlan", "plan_channels",
           "parse_recipients"]

CHANNELS = ("sms", "email", "webhook", "pmsg")

# Message Center's numeric statuses and the names we accept for them
STATUSES = {"mandatory": -1, "banned": -2, "off": 0, "on": 1}
_STATUS_ALIASES = {"subscribed": "on", "unsubscribed": "off", "-1": "mandatory",
                   "-2": "banned", "0": "off", "1": "on"}
DEFAULT_SUBSCRIPTION = "default"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str = ""
    mobile: PhoneNumber | None = None


@dataclass(frozen=True)
class Recipient:
    aliuid: str
    contacts: tuple[Contact, ...] = ()
    webhooks: tuple[str, ...] = ()    # DingTalk robot names (dingtalk_robots) or URLs
    smtp_instance: str = ""            # assetname / uuid / address; blank = default instance
    # message type (eventId, or "default") -> channel -> status name
    subscriptions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def statuses(self, event_id: str) -> dict[str, str]:
        """Each channel's status for a message type; unset channels are off."""
        chosen = self.subscriptions.get(event_id, self.subscriptions.get(DEFAULT_SUBSCRIPTION, {}))
        return {channel: chosen.get(channel, "off") for channel in CHANNELS}


@dataclass(frozen=True)
class ChannelPlan:
    requested: tuple[str, ...]     # as asked; empty = every configured channel
    configured: tuple[str, ...]    # mandatory or on for this message type
    used: tuple[str, ...]
    skipped: dict[str, str]        # channel -> why it is not used

    def to_dict(self) -> dict[str, Any]:
        return {"requested": list(self.requested), "configured": list(self.configured),
                "used": list(self.used), "skipped": dict(self.skipped)}


def plan_channels(requested: Iterable[str], statuses: Mapping[str, str]) -> ChannelPlan:
    """The seed's rule: used = requested ∩ configured; blank requested = all configured."""
    requested = tuple(requested)
    configured = tuple(c for c in CHANNELS if statuses.get(c) in ("mandatory", "on"))
    wanted = requested or configured
    used = tuple(c for c in CHANNELS if c in wanted and c in configured)
    skipped = {}
    for channel in CHANNELS:
        status = statuses.get(channel, "off")
        if channel in used:
            continue
        if channel in configured:  # only a request that leaves it out skips a configured one
            skipped[channel] = "configured but not in channelTypeList"
        elif channel in requested:
            skipped[channel] = f"requested but {status} for this message type"
        elif status == "banned":
            skipped[channel] = "banned for this message type"
    return ChannelPlan(requested, configured, used, skipped)


def _status(reader: ConfigReader, channel: str) -> str:
    value = reader.mapping.get(channel)
    if value is None:
        return "off"
    if isinstance(value, bool):  # YAML turns a bare on / off into true / false
        return "on" if value else "off"
    word = str(value).strip().lower() if isinstance(value, (str, int)) and \
        -1000 < (value if isinstance(value, int) else 0) < 1000 else ""
    word = _STATUS_ALIASES.get(word, word)
    if word not in STATUSES:
        raise ConfigError(reader.key(channel), "expected mandatory (-1), banned (-2), off (0) "
                          f"or on (1, subscribed), got {shown_value(value)}")
    return word


def _email(reader: ConfigReader) -> str:
    text = reader.string("email")
    if text and bare_address(text) is None:
        raise ConfigError(reader.key("email"), f"{shown(text)} is not an email address "
                          "(expected user@domain)")
    return bare_address(text) or ""


def _mobile(reader: ConfigReader) -> PhoneNumber | None:
    text = reader.string("mobile")
    if not text:
        return None
    try:
        return parse_phone(reader.key("mobile"), text)
    except ParameterError as exc:
        raise ConfigError(reader.key("mobile"), exc.problem) from None


def parse_recipients(reader: ConfigReader) -> dict[str, Recipient]:
    """``message_center.recipients``: a list of accounts, keyed here by aliuid."""
    recipients: dict[str, Recipient] = {}
    for item in reader.items("recipients"):
        aliuid = item.string("aliuid", required=True)
        if aliuid in recipients:
            raise ConfigError(item.key("aliuid"), f"{aliuid!r} is listed twice")
        contacts = []
        for contact in item.items("contacts"):
            contacts.append(Contact(contact.string("name", required=True),
                                    _email(contact), _mobile(contact)))
        webhooks = item.strings("webhooks")
        subscriptions = ConfigReader(item.mapping.get("subscriptions"), item.key("subscriptions"))
        parsed: dict[str, dict[str, str]] = {}
        for event_id, channels in subscriptions.mapping.items():
            by_channel = ConfigReader(channels, subscriptions.key(str(event_id)))
            unknown = sorted(str(c) for c in by_channel.mapping if c not in CHANNELS)
            if unknown:
                raise ConfigError(by_channel.key(str(unknown[0])),
                                  f"expected a channel of {', '.join(CHANNELS)}")
            parsed[str(event_id)] = {c: _status(by_channel, c) for c in CHANNELS}
        recipients[aliuid] = Recipient(aliuid, tuple(contacts), tuple(webhooks),
                                       item.string("smtp_instance"), parsed)
    return recipients
