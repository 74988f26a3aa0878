"""Email through an SMTP resource instance.

By default a notification is one message: MAIL FROM, one RCPT TO per receiver (cc and bcc
included) and one DATA, pipelined where the server offers it (``pipeline``); a list longer
than the instance's ``max_recipients_per_message`` is split into transactions of that size.
Each receiver's outcome comes from its own RCPT answer; the answer after the content covers
the accepted ones.  ``delivery: per_recipient`` (or ``emailPerRecipient``) sends every
receiver a message of their own instead, as before.

Temporary answers (421, 450, 451, 452, 454) and sessions that broke before the content went
out are retried with the instance's retry policy, for the receivers not yet accepted only:
an accepted message is never sent again, and one whose final answer was lost is ``outcome
unknown``.  A large fan-out opens one more session for every ``TRANSACTIONS_PER_SESSION``
transactions, up to the instance's ``max_sessions``; every session logs in once, and a call
logs in at most once more after a server closed a session.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import math
import ssl
from collections.abc import Sequence
from typing import NamedTuple

import aiosmtplib

from ...result import Channel, Delivery, Redactor
from ...runtime import DeliveryContext, client_tls_context, exception_chain, guarded, report
from .address import envelope_address, needs_smtputf8
from .config import SmtpInstance
from .message import (Batch, EmailRequest, batches, build_message, header_addresses,
                      message_bytes)
from .pipeline import MailSession, MalformedReply, Reply, SessionClosed, Transaction
from .providers import explain_smtp_reply

__all__ = ["CHANNEL", "send_email", "explain_failure", "auth_forms"]

CHANNEL = Channel.EMAIL
# Below this many transactions per session a call keeps to one login: providers count logins.
TRANSACTIONS_PER_SESSION = 25
TEMPORARY = frozenset({421, 450, 451, 452, 454})


async def send_email(request: EmailRequest, ctx: DeliveryContext) -> list[Delivery]:
    """Send the request's message to every target; one delivery per target, in order."""
    instance = request.instance
    targets = request.targets
    planned = batches(request)
    sessions = max(1, min(instance.max_sessions,
                          math.ceil(len(planned) / TRANSACTIONS_PER_SESSION)))
    shared = _Shared(request, _LoginBudget(sessions + 1))

    async def session(share: Sequence[Batch]) -> list[Delivery]:
        async with ctx.limit:  # a session is one delivery slot, however much it carries
            return await _Session(instance, ctx.redactor, shared).send_all(share)

    shares = [planned[i::sessions] for i in range(sessions)]
    results = await asyncio.gather(*(
        guarded(CHANNEL, [t for b in share for t in b.recipients], session(share))
        for share in shares))
    by_target = {d.target.lower(): d for share in results for d in share}
    return [by_target.get(t.lower()) or Delivery.unknown(
        CHANNEL, t, "no outcome was recorded for this recipient") for t in targets]


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


class _Shared:
    """What the sessions of one call share: the request, the logins, the transaction
    numbers, and the shared message (built once, whatever the number of transactions)."""

    def __init__(self, request: EmailRequest, logins: _LoginBudget) -> None:
        self.request = request
        self.logins = logins
        self.numbers = itertools.count(1)
        self._content: _Content | None = None

    def content(self, batch: Batch) -> _Content:
        """The message for a batch: built once for all, or once per per-recipient batch."""
        if batch.to is None and self._content is not None:
            return self._content
        message = build_message(self.request, batch.to)
        utf8 = [a for a in header_addresses(self.request, batch.to) if needs_smtputf8(a)]
        made = _Content(message_bytes(message), str(message["Message-ID"]), tuple(utf8))
        if batch.to is None:
            self._content = made
        return made


class _Content(NamedTuple):
    data: bytes
    message_id: str
    utf8_headers: tuple[str, ...]   # header addresses that need SMTPUTF8


class _Session:
    def __init__(self, instance: SmtpInstance, redactor: Redactor, shared: _Shared) -> None:
        self.instance = instance
        # a server may echo what AUTH sent: the password as LOGIN and PLAIN encode it
        self._call_redactor = redactor
        self._auth_redactor = Redactor(auth_forms(instance.username, instance.password))
        self.shared = shared
        self.mail: MailSession | None = None
        self.client: aiosmtplib.SMTP | None = None
        # a session that could not be opened (refused, TLS, a wrong authorization code) is
        # not tried again for the next message: the rest get the same answer
        self.open_failure: tuple[str | None, str] | None = None

    def redactor(self, text: str) -> str:
        return self._call_redactor(self._auth_redactor(text))

    async def open(self) -> MailSession:
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
        await asyncio.wait_for(self._login(client), timeout=instance.timeout)
        self.mail = MailSession(client)
        return self.mail

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        await client.connect()
        await client.login(self.instance.username, self.instance.password)

    async def close(self) -> None:
        mail, client, self.mail, self.client = self.mail, self.client, None, None
        if mail is not None:
            await mail.quit(timeout=min(self.instance.timeout, 5.0))
        elif client is not None and client.is_connected:
            client.close()

    async def send_all(self, batches: Sequence[Batch]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        try:
            for batch in batches:  # each outcome told to the progress observer as it ends
                deliveries += [report(d) for d in await self.deliver(batch)]
        finally:
            await self.close()
        return deliveries

    async def session(self, pending: Sequence[str]) -> MailSession | list[Delivery]:
        """The open session, a new one, or why there is none (one delivery per pending)."""
        if self.mail is not None and self.mail.usable:
            return self.mail
        await self.close()
        if self.open_failure is not None:
            code, detail = self.open_failure
            return [Delivery.not_sent(CHANNEL, r, detail, code=code, attempts=1)
                    for r in pending]
        if not self.shared.logins.take():
            why = ("the server closed the session and this call's one new login is used up "
                   "(no login loop)")
            return [Delivery.not_sent(CHANNEL, r, why) for r in pending]
        try:
            return await self.open()
        except Exception as exc:  # noqa: BLE001  (nothing was sent)
            await self.close()
            code, detail = explain_failure(exc, self.instance)
            self.open_failure = code, self.redactor(detail)
            return [Delivery.not_sent(CHANNEL, r, self.redactor(detail), code=code, attempts=1)
                    for r in pending]

    async def deliver(self, batch: Batch) -> list[Delivery]:
        """One message to a batch: transactions until every receiver has an outcome."""
        try:  # built here: a large per-recipient fan-out never holds every message at once
            content = self.shared.content(batch)
        except Exception as exc:  # noqa: BLE001  (one message's problem, not the call's)
            return [Delivery.not_sent(CHANNEL, r, f"the message could not be built "
                                      f"({type(exc).__name__})") for r in batch.recipients]
        policy = self.instance.retry_policy
        loop = asyncio.get_running_loop()
        started = loop.time()
        done: dict[str, Delivery] = {}
        attempts: dict[str, int] = {r: 0 for r in batch.recipients}
        pending = list(batch.recipients)
        retries = 0
        last: tuple[Transaction, list[str]] | None = None   # the latest try, and to whom
        while pending:
            opened = await self.session(pending)
            if isinstance(opened, list):
                for d in opened:
                    done[d.target] = (self._given_up(*last, d.target, attempts[d.target],
                                                     d.detail) if last is not None else d)
                break
            pending = self._refuse_unsendable(opened, pending, content, done)
            if not pending:
                break
            label = str(next(self.shared.numbers))
            transaction = await opened.transaction(
                self.instance.username, tuple(envelope_address(r) for r in pending),
                content.data, timeout=self.instance.timeout,
                utf8=bool(content.utf8_headers) or any(needs_smtputf8(r) for r in pending))
            for r in pending:
                attempts[r] += 1
            last = transaction, list(pending)
            retry, progress = self._outcomes(transaction, pending, label, content.message_id,
                                             done, attempts)
            if not retry:
                break
            if progress and all(_too_many(transaction, r, pending) for r in retry):
                pending = retry  # the server's recipient limit: the rest go in the next one
                continue
            retries += 1
            wait = policy.next_delay(retries, loop.time() - started)
            if wait is None:
                for r in retry:
                    done[r] = self._given_up(transaction, pending, r, attempts[r])
                break
            await asyncio.sleep(wait)
            pending = retry
        return [done.get(r) or Delivery.unknown(CHANNEL, r, "no outcome was recorded")
                for r in batch.recipients]

    def _refuse_unsendable(self, session: MailSession, pending: list[str], content: _Content,
                           done: dict[str, Delivery]) -> list[str]:
        """What this server cannot take is refused before the transaction, by name."""
        size = len(content.data)
        if session.size_limit is not None and size > session.size_limit:
            why = (f"the message is {size} bytes and {self.instance.endpoint} takes at "
                   f"most {session.size_limit} (its SIZE); send smaller attachments")
            done.update((r, Delivery.not_sent(CHANNEL, r, why)) for r in pending)
            return []
        if session.smtputf8:
            return pending
        if content.utf8_headers:
            why = (f"the message's headers show {', '.join(content.utf8_headers)}, with a "
                   f"non-ASCII local part, and {self.instance.endpoint} does not offer SMTPUTF8 "
                   "(RFC 6531); use ASCII addresses, or emailPerRecipient so that each "
                   "receiver's message shows only their own address")
            done.update((r, Delivery.not_sent(CHANNEL, r, why)) for r in pending)
            return []
        for r in pending:
            if needs_smtputf8(r):
                done[r] = Delivery.not_sent(CHANNEL, r, (
                    f"the address {r} has a non-ASCII local part and {self.instance.endpoint} "
                    "does not offer SMTPUTF8 (RFC 6531); use an ASCII address for this "
                    "receiver"))
        return [r for r in pending if r not in done]

    def _outcomes(self, tx: Transaction, pending: list[str], label: str, message_id: str,
                  done: dict[str, Delivery], attempts: dict[str, int]
                  ) -> tuple[list[str], bool]:
        """Each receiver's outcome from the transaction; returns who to retry and whether
        anyone was delivered."""
        where = self.instance.endpoint
        retry: list[str] = []
        progress = False

        def settle(r: str, delivery: Delivery) -> None:
            done[r] = dataclasses.replace(delivery, target=r, transaction=label,
                                          attempts=attempts[r])

        if tx.mail is not None and not tx.mail.positive:
            for r in pending:
                if tx.mail.code in TEMPORARY:
                    retry.append(r)
                else:
                    settle(r, self._refused(tx.mail))
            return retry, False
        for i, r in enumerate(pending):
            rcpt = tx.rcpt[i] if i < len(tx.rcpt) else None
            if rcpt is None:  # never answered: the session broke before its turn
                retry.append(r)
            elif not rcpt.positive:
                if rcpt.code in TEMPORARY:
                    retry.append(r)
                else:
                    settle(r, self._refused(rcpt))
            elif tx.delivered:
                assert tx.final is not None
                progress = True
                settle(r, Delivery.delivered(
                    CHANNEL, r, f"accepted by {where} in transaction {label}: "
                    + self.redactor(str(tx.final)), code=str(tx.final.code),
                    reference=message_id.strip("<>")))
            elif tx.final is not None:  # the server refused the content
                if tx.final.code in TEMPORARY:
                    retry.append(r)
                else:
                    settle(r, self._refused(tx.final))
            elif tx.content_sent:  # the content went out and its answer never came
                code, detail = explain_failure(tx.error or SessionClosed(), self.instance)
                settle(r, Delivery.unknown(CHANNEL, r, self.redactor(
                    f"{detail}; the message may have been accepted, so it was not sent "
                    "again"), code=code))
            elif tx.data is not None and tx.data.code != 354:
                if tx.data.code in TEMPORARY:
                    retry.append(r)
                else:
                    settle(r, self._refused(tx.data))
            else:
                retry.append(r)
        return retry, progress

    def _refused(self, reply: Reply) -> Delivery:
        code, detail = explain_failure(_Answered(reply), self.instance)
        return Delivery.failed(CHANNEL, "", self.redactor(detail), code=code)

    def _given_up(self, tx: Transaction, pending: Sequence[str], r: str, attempts: int,
                  why: str = "") -> Delivery:
        """A receiver still refused for the moment when the retry policy (or the login
        budget: ``why``) is spent."""
        answer = _answer_for(tx, r, pending)
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        if why:
            tries += "; not retried: " + why.removeprefix("not sent: ")
        if answer is not None:
            code, detail = explain_failure(_Answered(answer), self.instance)
            return Delivery.failed(CHANNEL, r, self.redactor(detail + tries), code=code,
                                   attempts=attempts)
        code, detail = explain_failure(tx.error or SessionClosed(), self.instance)
        return Delivery.failed(CHANNEL, r, self.redactor(
            f"{detail}; the message was not accepted{tries}"), code=code, attempts=attempts)


def _counted(delivery: Delivery, attempts: int) -> Delivery:
    return dataclasses.replace(delivery, attempts=max(delivery.attempts, attempts))


def _answer_for(tx: Transaction, r: str, pending: Sequence[str]) -> Reply | None:
    """The answer that refused ``r`` in ``tx`` (MAIL, its RCPT, DATA or the final one)."""
    if tx.mail is not None and not tx.mail.positive:
        return tx.mail
    i = pending.index(r)
    rcpt = tx.rcpt[i] if i < len(tx.rcpt) else None
    if rcpt is not None and not rcpt.positive:
        return rcpt
    if rcpt is None:
        return None
    if tx.final is not None:
        return tx.final
    return tx.data if tx.data is not None and tx.data.code != 354 else None


def _too_many(tx: Transaction, r: str, pending: Sequence[str]) -> bool:
    answer = _answer_for(tx, r, pending)
    return answer is not None and answer.code == 452 and tx.delivered


class _Answered(aiosmtplib.SMTPResponseException):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.code, reply.text)


def explain_failure(exc: BaseException, instance: SmtpInstance) -> tuple[str | None, str]:
    """The SMTP code (if the server answered) and a message that says what to do."""
    where = instance.endpoint
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
        said = f"{where} answered {exc.code} {exc.message.strip()}"
        hint = explain_smtp_reply(exc.code, instance.username)
        return str(exc.code), f"{said}: {hint}" if hint else said
    if isinstance(exc, (aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPReadTimeoutError,
                        aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return None, (f"timed out after {instance.timeout:g}s talking to {where}: check the "
                      "host and port, and that a firewall lets the connection out (Alibaba "
                      "Cloud blocks port 25; use 465)")
    if isinstance(exc, MalformedReply) or (
            isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code < 0):
        text = exc.message if isinstance(exc, aiosmtplib.SMTPResponseException) else str(exc)
        return None, f"{where} answered something that is no SMTP reply ({text[:200]})"
    if isinstance(exc, SessionClosed):
        return None, f"{where} closed the connection before accepting the message"
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
