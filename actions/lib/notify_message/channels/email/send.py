"""Email through an SMTP resource instance.

One SMTP session per instance carries the messages of a call; each recipient gets a
message of their own (nobody sees the other recipients), so each has its own delivery entry.
A large fan-out opens one more session for every ``MESSAGES_PER_SESSION`` messages, up to
the instance's ``max_sessions``, and those sessions run in parallel within the call's bound.
"""

from __future__ import annotations

import asyncio
import base64
import math
import ssl
from collections.abc import Callable, Sequence

import aiosmtplib

from ...result import Channel, Delivery, Redactor
from ...runtime import DeliveryContext, client_tls_context, exception_chain, guarded, report
from .config import SmtpInstance
from .message import EmailRequest, build_message
from .providers import explain_smtp_reply

__all__ = ["CHANNEL", "send_email", "explain_failure"]

CHANNEL = Channel.EMAIL
# Below this many messages per session a call keeps to one login: providers count logins.
MESSAGES_PER_SESSION = 25


async def send_email(request: EmailRequest, ctx: DeliveryContext) -> list[Delivery]:
    """Send one message per recipient over one session of the request's instance (more
    sessions for large fan-outs, up to its ``max_sessions``); one delivery per recipient."""
    instance = request.instance
    recipients = request.recipients
    sessions = max(1, min(instance.max_sessions,
                          math.ceil(len(recipients) / MESSAGES_PER_SESSION)))
    # every session logs in once; after a server closes a session, one more login per call
    logins = _LoginBudget(sessions + 1)

    async def session(share: Sequence[str]) -> list[Delivery]:
        async with ctx.limit:  # a session is one delivery slot, however many messages it carries
            return await _Session(instance, ctx.redactor, logins).send_all(share, request)

    shares = await asyncio.gather(*(guarded(CHANNEL, recipients[i::sessions],
                                            session(recipients[i::sessions]))
                                    for i in range(sessions)))
    by_recipient = {d.target: d for share in shares for d in share}
    return [by_recipient.get(recipient) or Delivery.unknown(
        CHANNEL, recipient, "no outcome was recorded for this recipient") for recipient in
        recipients]


def auth_forms(username: str, password: str) -> list[str]:
    """The password as it crosses the wire in AUTH LOGIN and AUTH PLAIN (base64)."""
    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    return [password, b64(password), b64(f"\0{username}\0{password}"),
            b64(f"{username}\0{username}\0{password}")]


class _LoginBudget:
    def __init__(self, logins: int) -> None:
        self.left = logins

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class _Session:
    def redactor(self, text: str) -> str:
        return self._call_redactor(self._auth_redactor(text))

    def __init__(self, instance: SmtpInstance, redactor: Redactor, logins: _LoginBudget) -> None:
        self.instance = instance
        # a server may echo what AUTH sent: the password as LOGIN and PLAIN encode it
        self._call_redactor = redactor
        self._auth_redactor = Redactor(auth_forms(instance.username, instance.password))
        self.logins = logins
        self.client: aiosmtplib.SMTP | None = None

    async def connect(self) -> aiosmtplib.SMTP:
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
        self.client = client
        # one deadline for the whole attempt (connect, TLS, EHLO, AUTH), not per read: a
        # server that answers a byte at a time cannot stretch it
        await asyncio.wait_for(self._open(client), timeout=instance.timeout)
        return client

    async def _open(self, client: aiosmtplib.SMTP) -> None:
        await client.connect()
        await client.login(self.instance.username, self.instance.password)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None or not client.is_connected:
            return
        try:
            await asyncio.wait_for(client.quit(), timeout=min(self.instance.timeout, 5.0))
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            client.close()

    async def send_all(self, recipients: Sequence[str], request: EmailRequest
                       ) -> list[Delivery]:
        deliveries: list[Delivery] = []
        try:
            for index, recipient in enumerate(recipients):
                client = self.client
                if client is not None and not client.is_connected:  # the server hung up
                    self.client = client = None
                if client is None:
                    if not self.logins.take():
                        why = ("the server closed the session and this call's one new login "
                               "is used up (no login loop)")
                        deliveries += [Delivery.not_sent(CHANNEL, r, why)
                                       for r in recipients[index:]]
                        break
                    try:
                        client = await self.connect()
                    except Exception as exc:  # noqa: BLE001  (nothing was sent)
                        await self.close()
                        failure = self.failure(exc, before_sending=True)
                        deliveries += [failure(r) for r in recipients[index:]]
                        break
                deliveries.append(report(await self.send_one(client, recipient, request)))
            return deliveries
        finally:
            await self.close()

    async def send_one(self, client: aiosmtplib.SMTP, recipient: str, request: EmailRequest
                       ) -> Delivery:
        """One message, within one deadline for MAIL, RCPT and DATA together."""
        instance = self.instance
        try:  # built here, one at a time: a large fan-out never holds every message at once
            message = build_message(instance, recipient, request.subject, request.body,
                                    request.html)
        except Exception as exc:  # noqa: BLE001  (one message's problem, not the call's)
            return Delivery.not_sent(CHANNEL, recipient,
                                     f"the message could not be built ({type(exc).__name__})")
        try:
            _, reply = await asyncio.wait_for(client.send_message(message),
                                              timeout=instance.timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            if refusal.code == 421 or not client.is_connected:  # the server is closing
                await self.close()
            return self.failure(refusal)(recipient)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code < 0:
                # an answer that is no SMTP reply (malformed, too long), or a session the
                # server dropped: the message may have been taken before it went wrong
                await self.close()
                code, detail = explain_failure(exc, instance)
                return Delivery.unknown(CHANNEL, recipient, self.redactor(
                    f"{detail}; the message may have been accepted, so it was not sent "
                    "again"), code=code)
            if exc.code == 421:  # the server is closing the session
                await self.close()
            return self.failure(exc)(recipient)
        except Exception as exc:  # noqa: BLE001  (SMTP errors, a broken session, anything)
            # the session broke mid-message: the server may have taken it before it went
            await self.close()
            code, detail = explain_failure(exc, instance)
            return Delivery.unknown(CHANNEL, recipient, self.redactor(
                f"{detail}; the message may have been accepted before the connection broke, "
                "so it was not sent again"), code=code)
        return Delivery.delivered(CHANNEL, recipient, f"accepted by {instance.endpoint}: "
                                  + self.redactor(reply.strip()), code="250")

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
    return None, f"failed talking to {where}: {type(exc).__name__}: {str(exc)[:200]}"
