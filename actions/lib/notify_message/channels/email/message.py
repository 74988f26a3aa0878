"""An email as it goes out: the typed request the sender takes, and the MIME message.

``build_message`` makes the message exactly as it goes on the wire: From is the login (QQ
and NetEase refuse anything else), To the receivers, Cc the cc list (bcc never appears in a
header), the subject and body in UTF-8 (RFC 2047 headers), Date and Message-ID set, an HTML
body with a plain-text alternative, inline images next to the HTML and attachments after.

Threads: messages that share a ``thread_key`` refer to one root Message-ID
(``In-Reply-To`` and ``References``), derived from the key and the sender's domain, so that
mail clients group an incident's updates without any state kept between executions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY
from email.utils import formataddr, formatdate, make_msgid

from .address import envelope_address, needs_smtputf8
from .config import SmtpInstance

__all__ = ["Attachment", "Batch", "EmailRequest", "batches", "build_message",
           "unique_addresses", "thread_ids", "message_bytes", "header_addresses", "header_utf8"]


@dataclass(frozen=True)
class Attachment:
    """A file that goes with the message; ``inline`` ones are images the HTML shows by
    ``cid:<content_id>``."""

    filename: str
    content: bytes = field(repr=False)
    content_type: str = "application/octet-stream"
    inline: bool = False
    content_id: str = ""


@dataclass(frozen=True)
class EmailRequest:
    """One notification by email: ``recipients`` go in To, ``cc`` in Cc, ``bcc`` only in the
    envelope.  ``names`` are display names by lower-cased address.  ``per_recipient`` None
    means the instance's ``delivery`` setting decides."""

    instance: SmtpInstance
    recipients: tuple[str, ...]
    subject: str
    body: str
    html: bool
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict, hash=False)
    attachments: tuple[Attachment, ...] = ()
    thread_key: str = ""
    per_recipient: bool | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        """Everyone the message goes to, each once: the receivers, then cc, then bcc."""
        return unique_addresses((*self.recipients, *self.cc, *self.bcc))

    @property
    def one_per_recipient(self) -> bool:
        if self.per_recipient is not None:
            return self.per_recipient
        return self.instance.delivery == "per_recipient"


class Batch(NamedTuple):
    """One message of a notification and whom it goes to: ``to`` set for a per-recipient
    message (its To header), None for the shared message (To the receivers, Cc the cc)."""

    recipients: tuple[str, ...]
    to: tuple[str, ...] | None = None


def batches(request: EmailRequest) -> list[Batch]:
    """The transactions a request takes, as the sender and a dry run both plan them."""
    targets = request.targets
    if request.one_per_recipient:
        return [Batch((t,), to=(t,)) for t in targets]
    size = request.instance.max_recipients_per_message
    return [Batch(targets[i:i + size]) for i in range(0, len(targets), size)]


def unique_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Each mailbox once, in first-seen order: an address differing only in case is the same
    mailbox (as providers treat it), kept as first written."""
    found: dict[str, str] = {}
    for address in addresses:
        found.setdefault(address.lower(), address)
    return tuple(found.values())


def _domain(instance: SmtpInstance) -> str:
    return instance.username.rpartition("@")[2].lower()


def thread_ids(key: str, domain: str) -> tuple[str, str]:
    """The thread's root Message-ID and a new Message-ID in the thread, for ``key``."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<thread.{digest}@{domain}>", f"<{digest}.{os.urandom(8).hex()}@{domain}>"


def _mailbox(address: str, name: str) -> str:
    """One mailbox: a name as formataddr writes it (quoted where it must be), or as RFC 2047
    encoded words when it is not ASCII (then the address may be UTF-8: RFC 6532)."""
    spec = address if needs_smtputf8(address) else envelope_address(address)
    if not name:
        return spec
    if name.isascii():
        return formataddr((name, "x@x"))[:-len("<x@x>")] + f"<{spec}>"
    return Header(name, "utf-8").encode(maxlinelen=76, linesep=" ") + f" <{spec}>"


def _folded(header: str, value: str, width: int = 76) -> str:
    """The value folded at its spaces so that no line passes ``width`` where it can be
    helped (a space in a quoted name is folding white space there too)."""
    lines, line = [], f"{header}: "
    for word in value.split(" "):
        if len(line) + 1 + len(word) > width and line.strip() and not line.endswith(": "):
            lines.append(line)
            line = " " + word
        else:
            line = f"{line}{word}" if line.endswith(": ") else f"{line} {word}"
    lines.append(line)
    return "\n".join(lines)[len(header) + 2:]


def _set_addresses(message: EmailMessage, header: str, addresses: tuple[str, ...],
                   names: Mapping[str, str]) -> None:
    """An address header, made and folded here and stored as it is (the policy never
    refolds it): the email package parses a header it is given back again (90 ms for 200
    addresses), and its refolding splits a long quoted name that holds a comma."""
    value = ", ".join(_mailbox(a, names.get(a.lower(), "")) for a in addresses)
    message.set_raw(header, _folded(header, value))


def header_addresses(request: EmailRequest, to: tuple[str, ...] | None = None
                     ) -> tuple[str, ...]:
    """The addresses the message's headers show (never bcc)."""
    shown = to or request.recipients
    return (*shown, *(request.cc if to is None else ()), *request.reply_to)


def header_utf8(request: EmailRequest, to: tuple[str, ...] | None = None) -> bool:
    """Whether a header address has a non-ASCII local part: then the whole message is
    written as SMTPUTF8 (RFC 6532) and needs a server that offers it."""
    return any(needs_smtputf8(a) for a in header_addresses(request, to))


def build_message(request: EmailRequest, to: tuple[str, ...] | None = None) -> EmailMessage:
    """The message as it goes on the wire.  ``to`` given: a message of their own for those
    receivers (per-recipient delivery), with no Cc header."""
    instance = request.instance
    policy = SMTPUTF8_POLICY if header_utf8(request, to) else SMTP_POLICY
    # raw (address) headers are folded by _set_addresses; the others are header objects
    message = EmailMessage(policy=policy.clone(refold_source="none"))
    message["Subject"] = request.subject
    message["From"] = Address(display_name=instance.sender_name,
                              addr_spec=instance.username)
    _set_addresses(message, "To", to or request.recipients, request.names)
    if request.cc and to is None:
        _set_addresses(message, "Cc", request.cc, request.names)
    if request.reply_to:
        _set_addresses(message, "Reply-To", request.reply_to, request.names)
    message["Date"] = formatdate(localtime=True)
    if request.thread_key:
        root, own = thread_ids(request.thread_key, _domain(instance))
        message["Message-ID"] = own
        message["In-Reply-To"] = root
        message["References"] = root
    else:
        message["Message-ID"] = make_msgid(domain=_domain(instance))
    _set_body(message, request)
    return message


def _set_body(message: EmailMessage, request: EmailRequest) -> None:
    inline = [a for a in request.attachments if a.inline]
    if request.html:
        from .plaintext import html_to_text  # only HTML bodies need the parser

        message.set_content(html_to_text(request.body))
        message.add_alternative(request.body, subtype="html")
        if inline:
            html_part = message.get_body(("html",))
            assert html_part is not None
            for image in inline:
                maintype, _, subtype = image.content_type.partition("/")
                html_part.add_related(image.content, maintype, subtype,
                                      cid=f"<{image.content_id}>", filename=image.filename,
                                      disposition="inline")
    else:
        message.set_content(request.body)
    for item in request.attachments:
        if not item.inline:
            maintype, _, subtype = item.content_type.partition("/")
            message.add_attachment(item.content, maintype, subtype, filename=item.filename)


def message_bytes(message: EmailMessage) -> bytes:
    """The message as DATA carries it (before dot-stuffing), CRLF line ends."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
