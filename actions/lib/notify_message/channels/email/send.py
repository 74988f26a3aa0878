"""Email through an SMTP resource instance.

One SMTP session per instance carries the messages of a call; each recipient gets a
message of their own (nobody sees the other recipients), so each has its own delivery entry.
A large fan-out opens one more session for every ``MESSAGES_PER_SESSION`` messages, up to
the instance's ``max_sessions``, and those sessions run in parallel within the call's bound.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid
from html.parser import HTMLParser

import aiosmtplib

from .config import SmtpInstance
from .request import EmailRequest
from ...runtime import DeliveryContext
from .providers import explain_smtp_reply
from ...result import Delivery, Redactor

__all__ = ["CHANNEL", "build_message", "send_email"]

CHANNEL = "email"
# Below this many messages per session a call keeps to one login: providers count logins.
MESSAGES_PER_SESSION = 25


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
        message.set_content(html_to_text(body))
        message.add_alternative(body, subtype="html")
    else:
        message.set_content(body)
    return message


class _TextExtractor(HTMLParser):
    _BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML body."""
    extractor = _TextExtractor()
    extractor.feed(html)
    lines = (line.strip() for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line) + "\n"


def tls_context(instance: SmtpInstance) -> ssl.SSLContext:
    if not instance.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=instance.ca_bundle or None)


async def send_email(request: EmailRequest, ctx: DeliveryContext) -> list[Delivery]:
    """Send one message per recipient over one session of the request's instance."""
    instance = request.instance
    messages = [
        (recipient, build_message(instance, recipient, request.subject, request.body, request.html))
        for recipient in request.recipients
    ]
    sessions = max(1, min(instance.max_sessions, math.ceil(len(messages) / MESSAGES_PER_SESSION)))

    async def session(share: Sequence[tuple[str, EmailMessage]]) -> list[Delivery]:
        async with ctx.limit:  # a session is one delivery slot, however many messages it carries
            return await _Session(instance, ctx.redactor).send_all(share)

    shares = await asyncio.gather(*(session(messages[i::sessions]) for i in range(sessions)))
    by_recipient = {d.target: d for share in shares for d in share}
    return [by_recipient[recipient] for recipient, _ in messages]


class _Session:
    def __init__(self, instance: SmtpInstance, redactor: Redactor) -> None:
        self.instance = instance
        self.redactor = redactor
        self.client: aiosmtplib.SMTP | None = None

    async def connect(self) -> None:
        instance = self.instance
        client = aiosmtplib.SMTP(
            hostname=instance.host,
            port=instance.port,
            use_tls=instance.tls == "implicit",
            start_tls=instance.tls == "starttls",
            tls_context=tls_context(instance) if instance.tls != "plain" else None,
            timeout=instance.timeout,
        )
        await client.connect()
        self.client = client
        await client.login(instance.username, instance.password)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            client.close()

    async def send_all(self, messages: Sequence[tuple[str, EmailMessage]]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        reconnects_left = 1
        try:
            for recipient, message in messages:
                if self.client is None:
                    try:
                        await self.connect()
                    except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                        await self.close()
                        failure = self.failure(exc, before_sending=True)
                        done = {d.target for d in deliveries}
                        deliveries += [failure(r) for r, _ in messages if r not in done]
                        return deliveries
                try:
                    _, reply = await self.client.send_message(message)  # type: ignore[union-attr]
                    deliveries.append(Delivery(CHANNEL, recipient, True, "250", 1,
                                               f"accepted by {self.instance.endpoint}: "
                                               + self.redactor(reply.strip())))
                except aiosmtplib.SMTPResponseException as exc:
                    deliveries.append(self.failure(exc)(recipient))
                    if exc.code == 421:  # the server is closing the session
                        await self.close()
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    deliveries.append(self.failure(exc.recipients[0])(recipient))
                except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
                    # the session broke: this message was not accepted; the rest get one
                    # fresh session
                    deliveries.append(self.failure(exc)(recipient))
                    await self.close()
                    if reconnects_left == 0:
                        failure = self.failure(exc, before_sending=True)
                        deliveries += [failure(r) for r, _ in messages[len(deliveries):]]
                        return deliveries
                    reconnects_left -= 1
            return deliveries
        finally:
            await self.close()

    def failure(self, exc: BaseException, *, before_sending: bool = False):
        code, detail = explain_failure(exc, self.instance)
        detail = self.redactor(detail)
        if before_sending:
            detail = "not sent: " + detail

        def make(recipient: str) -> Delivery:
            return Delivery(CHANNEL, recipient, False, code, 1, detail)

        return make


def explain_failure(exc: BaseException, instance: SmtpInstance) -> tuple[str | None, str]:
    """The SMTP code (if the server answered) and a message that says what to do."""
    where = instance.endpoint
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
        said = f"{where} answered {exc.code} {exc.message.strip()}"
        hint = explain_smtp_reply(exc.code, instance.username)
        return str(exc.code), f"{said}: {hint}" if hint else said
    if isinstance(exc, (aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPReadTimeoutError,
                        aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError)):
        return None, (f"timed out after {instance.timeout:g}s talking to {where}: check the "
                      "host and port, and that a firewall lets the connection out (Alibaba "
                      "Cloud blocks port 25; use 465)")
    cause = _root_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        return None, (f"the certificate of {where} could not be verified "
                      f"({cause.verify_message}); for a private relay set ca_bundle to its CA "
                      "file")
    if isinstance(cause, ssl.SSLError):
        return None, (f"TLS failed with {where} ({cause.reason or cause}): the server may not "
                      "speak implicit TLS on this port; port 465 does, 587 needs tls: starttls")
    if isinstance(cause, ConnectionRefusedError):
        return None, f"connection refused by {where}: check emailSendServer and the port"
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return None, f"{where} closed the connection before accepting the message"
    if isinstance(cause, OSError):
        return None, f"could not talk to {where}: {cause.strerror or cause}"
    return None, f"failed talking to {where}: {exc}"


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc
