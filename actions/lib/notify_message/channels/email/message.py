"""An email as it goes out: the typed request the sender takes, and the MIME message.

``build_message`` makes the message exactly as it goes on the wire: From is the login (QQ
and NetEase refuse anything else), the subject and body in UTF-8 (RFC 2047 headers), Date
and Message-ID set, and an HTML body with a plain-text alternative.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid

from .config import SmtpInstance

__all__ = ["EmailRequest", "build_message", "unique_addresses"]


@dataclass(frozen=True)
class EmailRequest:
    instance: SmtpInstance
    recipients: tuple[str, ...]
    subject: str
    body: str
    html: bool


def unique_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Each mailbox once, in first-seen order: an address differing only in case is the same
    mailbox (as providers treat it), kept as first written."""
    found: dict[str, str] = {}
    for address in addresses:
        found.setdefault(address.lower(), address)
    return tuple(found.values())


def build_message(instance: SmtpInstance, recipient: str, subject: str, body: str,
                  html: bool) -> EmailMessage:
    """The message as it goes on the wire: From is the login, as QQ and NetEase demand."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["Subject"] = subject
    message["From"] = formataddr((instance.sender_name, instance.username))
    message["To"] = recipient
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=instance.username.rpartition("@")[2])
    if html:
        from .plaintext import html_to_text  # only HTML bodies need the parser

        message.set_content(html_to_text(body))
        message.add_alternative(body, subtype="html")
    else:
        message.set_content(body)
    return message
