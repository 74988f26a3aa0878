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
from collections.abc import Callable, Sequence
from email.message import EmailMessage

import aiosmtplib

from ...result import Channel, Delivery, Redactor
from ...runtime import DeliveryContext, client_tls_context, exception_chain
from .config import SmtpInstance
from .message import EmailRequest, build_message
from .providers import explain_smtp_reply

__all__ = ["CHANNEL", "send_email", "explain_failure"]

CHANNEL = Channel.EMAIL
# Below this many messages per session a call keeps to one login: providers count logins.
MESSAGES_PER_SESSION = 25


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
            tls_context=(client_tls_context(instance.ca_bundle, verify=instance.verify)
                         if instance.tls != "plain" else None),
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
                    deliveries.append(Delivery.delivered(
                        CHANNEL, recipient, f"accepted by {self.instance.endpoint}: "
                        + self.redactor(reply.strip()), code="250"))
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

    def failure(self, exc: BaseException, *, before_sending: bool = False
                ) -> Callable[[str], Delivery]:
        code, detail = explain_failure(exc, self.instance)
        detail = self.redactor(detail)

        def make(recipient: str) -> Delivery:
            if before_sending:
                return Delivery.not_sent(CHANNEL, recipient, detail, code=code, attempts=1)
            return Delivery.failed(CHANNEL, recipient, detail, code=code)

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
    cause = list(exception_chain(exc))[-1]
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
