"""A real SMTP server on loopback (aiosmtpd): implicit TLS, AUTH, and the refusals of the
providers the component supports.

By default it behaves like QQ / NetEase: AUTH is required, a wrong authorization code gets
``535``, a MAIL FROM other than the login gets ``553``, and EHLO offers PIPELINING, SIZE and
SMTPUTF8.  ``SmtpBehaviour`` turns on the other answers the tests need, restating what real
servers do:

- ``pipelining=False``: PIPELINING is not offered, and a client that sends a command before
  the answer to the previous one gets ``554 SMTP synchronization error`` and the connection
  closes, as Exim does (Postfix, with ``reject_unauth_pipelining``, answers
  ``503 5.5.0 Error: improper use of SMTP command pipelining``).  aiosmtpd itself reads
  commands off a stream and would silently accept them.  With PIPELINING offered, commands
  are answered in order, as aiosmtpd and every real server do (RFC 2920).
- ``max_recipients``: the RCPT beyond it gets ``452 4.5.3 Error: too many recipients``
  (Postfix's ``smtpd_recipient_limit`` words; RFC 5321 4.5.3.1.10 says 452).
- ``max_message_bytes``: advertised as SIZE; a MAIL FROM declaring more, or content larger,
  gets aiosmtpd's ``552``.
- ``smtputf8=False``: SMTPUTF8 is not offered, and an address with non-ASCII characters gets
  ``553 5.6.7`` (RFC 6531 3.7.4.1); with it offered, only when MAIL FROM said SMTPUTF8.
- ``script``: answers on demand, each used once, in order, across the server's sessions:
  ``{"RCPT b@x.com": ["450 4.2.1 Mailbox busy"], "END": ["451 4.3.0 try later"]}``.  Keys
  are ``MAIL``, ``RCPT`` (any recipient), ``RCPT <address>``, ``DATA`` (the command) and
  ``END`` (the answer after the content); an answer ``DROP`` resets the connection instead,
  and a ``421`` answer closes it after going out.

It runs in a child process (see testkit/child.py); each accepted message is spooled before
the ``250`` goes out.  ``LocalSmtpServer.reset()`` forgets the sessions and mail received so
far without a new process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from testkit.child import (
    ChildServer,
    ResetRequests,
    Spool,
    announce_ready,
    child_parser,
    free_port,
)

if TYPE_CHECKING:  # aiosmtpd is imported by the child only, when it serves
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

__all__ = ["SmtpBehaviour", "ReceivedMail", "LocalSmtpServer", "free_port"]


@dataclass
class SmtpBehaviour:
    accounts: dict[str, str] = field(default_factory=dict)   # login -> authorization code
    auth_failure_reply: str = "535 Error: authentication failed"   # NetEase's words
    require_from_equals_login: bool = True
    mail_reply: str | None = None           # answer every MAIL FROM with this
    rcpt_replies: dict[str, str] = field(default_factory=dict)    # address -> reply
    data_reply: str | None = None          # e.g. "451 Temporary local problem"
    drop_on_data: bool = False              # close the connection instead of answering DATA
    latency: float = 0.0                    # seconds added to MAIL, RCPT and DATA
    pipelining: bool = True                 # offer PIPELINING; without it, refuse it
    max_recipients: int | None = None       # RCPTs per transaction, then 452
    max_message_bytes: int = 32 * 1024 * 1024   # SIZE, then 552
    smtputf8: bool = True                   # offer SMTPUTF8; without it, 553 non-ASCII
    script: dict[str, list[str]] = field(default_factory=dict)   # answers on demand


@dataclass(frozen=True)
class ReceivedMail:
    login: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        if not isinstance(message, EmailMessage):
            raise TypeError("policy.default parses into an EmailMessage")
        return message


class LocalSmtpServer:
    """``with LocalSmtpServer(server_pem, behaviour) as server:`` -> ``server.port``;
    ``server_pem`` None means no TLS at all."""

    def __init__(self, server_pem: str | None, behaviour: SmtpBehaviour | None = None) -> None:
        self.behaviour = behaviour or SmtpBehaviour()
        args = ["--behaviour", json.dumps(asdict(self.behaviour))]
        if server_pem:
            args += ["--server-pem", server_pem]
        self._child = ChildServer("testkit.smtp_server", args)

    @property
    def port(self) -> int:
        return self._child.port

    def reset(self) -> None:
        """Forget the sessions and mail received so far (the behaviour, given on the child's
        command line, stays as it was made).  Returns once the child has confirmed; a session
        that began before writes nothing from then on."""
        self._child.reset()

    @property
    def received(self) -> list[ReceivedMail]:
        return [ReceivedMail(r["login"], r["mail_from"], tuple(r["rcpt_tos"]),
                             base64.b64decode(r["data"])) for r in self._child.spool.read("mail")]

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """Every transaction that reached an end (accepted, refused, or dropped), in order:
        ``mail_from``, ``accepted`` and ``refused`` recipients (``[address, answer]``),
        ``end`` (the answer to DATA or after the content, or ``DROP``)."""
        return list(self._child.spool.read("transaction"))

    @property
    def commands(self) -> list[dict[str, Any]]:
        """Every MAIL / RCPT / DATA / RSET as it arrived: ``verb`` and ``pipelined`` (more
        input was already waiting behind it: the client did not wait for the answer).  A
        session's commands are recorded when it QUITs or its connection ends."""
        return [c for session in self._child.spool.read("commands") for c in session]

    @property
    def sessions(self) -> int:
        return len(self._child.spool.read("session"))

    @property
    def session_times(self) -> list[float]:
        """When each session began (its EHLO), as ``time.time()``, in order."""
        return [r["time"] for r in self._child.spool.read("session")]

    @property
    def mail_times(self) -> list[float]:
        """When each message was accepted (before its 250), as ``time.time()``, in order."""
        return [r["time"] for r in self._child.spool.read("mail")]

    def __enter__(self) -> LocalSmtpServer:
        self._child.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.__exit__()


# --------------------------------------------------------------------------- the child
class _Current:
    """The spool and the unused scripted answers of the current generation; every
    connection keeps the spool it began with."""

    def __init__(self, spool: Spool, behaviour: SmtpBehaviour) -> None:
        self.spool = spool
        self.behaviour = behaviour
        self.script = {key: list(answers) for key, answers in behaviour.script.items()}

    def renew(self) -> None:
        self.spool = self.spool.renewed()
        self.script = {key: list(answers) for key, answers in self.behaviour.script.items()}

    def scripted(self, *keys: str) -> str | None:
        for key in keys:
            answers = self.script.get(key)
            if answers:
                return answers.pop(0)
        return None


async def _watch_resets(current: _Current, resets: ResetRequests) -> None:
    while True:
        generation = resets.pending()
        if generation:
            current.renew()
            resets.confirm(generation)
        await asyncio.sleep(0.01)


def _abort(server: SMTP) -> None:
    transport = server.transport
    if isinstance(transport, asyncio.Transport):
        transport.abort()       # a reset, not a goodbye
    elif transport is not None:
        transport.close()


def _answer(server: SMTP, reply: str) -> str:
    """A scripted answer as the hook returns it; a 421 closes the session once it is out."""
    if reply.startswith("421") and server.transport is not None:
        asyncio.get_running_loop().call_soon(server.transport.close)
    return reply


class _Handler:
    def __init__(self, behaviour: SmtpBehaviour, current: _Current) -> None:
        self.behaviour = behaviour
        self.current = current
        self.spool = current.spool
        self.refused: list[list[str]] = []

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.behaviour.accounts.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False, message=self.behaviour.auth_failure_reply)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          hostname: str, responses: list[str]) -> list[str]:
        self.spool.write("session", {"time": time.time()})
        session.host_name = hostname
        if not self.behaviour.smtputf8:
            responses = [r for r in responses if r[4:].upper() != "SMTPUTF8"]
        if self.behaviour.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    def _end(self, envelope: Envelope, end: str) -> None:
        self.spool.write("transaction", {
            "mail_from": envelope.mail_from, "accepted": list(envelope.rcpt_tos),
            "refused": self.refused, "end": end})
        self.refused = []

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, mail_options: list[str]) -> str:
        if self.behaviour.latency:  # no extra turn of the loop per command without one
            await asyncio.sleep(self.behaviour.latency)
        self.refused = []
        scripted = self.current.scripted("MAIL")
        if scripted == "DROP":
            _abort(server)
            return "421 dropped"
        if scripted:
            return _answer(server, scripted)
        if self.behaviour.mail_reply:
            return self.behaviour.mail_reply
        if not self.behaviour.smtputf8 and "SMTPUTF8" in mail_options:
            return "555 5.5.4 Unsupported option: SMTPUTF8"   # Postfix's words
        if self.behaviour.require_from_equals_login and address != session.auth_data:
            return "553 Mail from must equal authorized user"
        if not address.isascii() and not self._utf8(mail_options):
            return "553 5.6.7 Non-ASCII addresses not permitted for that sender"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    def _utf8(self, mail_options: list[str]) -> bool:
        return self.behaviour.smtputf8 and "SMTPUTF8" in (o.upper() for o in mail_options)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if self.behaviour.latency:  # no extra turn of the loop per command without one
            await asyncio.sleep(self.behaviour.latency)
        reply = self.current.scripted(f"RCPT {address}", "RCPT")
        if reply == "DROP":
            _abort(server)
            return "421 dropped"
        if reply:
            self.refused.append([address, reply])
            return _answer(server, reply)
        reply = self.behaviour.rcpt_replies.get(address)
        if reply:
            self.refused.append([address, reply])
            return reply
        if not address.isascii() and not self._utf8(envelope.mail_options):
            reply = "553 5.6.7 Non-ASCII addresses not permitted for that recipient"
            self.refused.append([address, reply])
            return reply
        limit = self.behaviour.max_recipients
        if limit is not None and len(envelope.rcpt_tos) >= limit:
            reply = "452 4.5.3 Error: too many recipients"
            self.refused.append([address, reply])
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        self.refused = []
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        if self.behaviour.latency:  # no extra turn of the loop per command without one
            await asyncio.sleep(self.behaviour.latency)
        scripted = self.current.scripted("END")
        if self.behaviour.drop_on_data or scripted == "DROP":
            self._end(envelope, "DROP")
            _abort(server)
            return "421 dropped"
        reply = scripted or self.behaviour.data_reply
        if reply:
            self._end(envelope, reply)
            return _answer(server, reply)
        content = envelope.content or b""  # bytes: the server is built with decode_data off
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.spool.write("mail", {
            "login": session.auth_data, "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": base64.b64encode(data).decode(), "time": time.time()})
        self._end(envelope, "250 Mail OK queued as loopback")
        return "250 Mail OK queued as loopback"


def _smtp_class() -> type[SMTP]:
    """aiosmtpd's SMTP, checking RFC 2920's synchronisation and answering DATA on demand."""
    from aiosmtpd.smtp import SMTP

    class StrictSMTP(SMTP):
        event_handler: _Handler

        def _pipelined(self) -> bool:
            # the client wrote more before our answer: input is already waiting behind it
            return bool(getattr(self._reader, "_buffer", b""))

        command_log: list[dict[str, Any]] | None = None

        def _flush_commands(self) -> None:
            # one record per session, not per command: a file per RCPT would make the
            # oracle, not the client, the slow part of a 200-recipient transaction
            if self.command_log:
                self.event_handler.spool.write("commands", self.command_log)
            self.command_log = None

        async def smtp_QUIT(self, arg: str) -> None:  # noqa: N802
            self._flush_commands()
            await super().smtp_QUIT(arg)

        def connection_lost(self, exc: Exception | None) -> None:
            self._flush_commands()
            super().connection_lost(exc)

        async def _synchronised(self, verb: str) -> bool:
            pipelined = self._pipelined()
            if self.command_log is None:
                self.command_log = []
            self.command_log.append({"verb": verb, "pipelined": pipelined})
            if pipelined and not self.event_handler.behaviour.pipelining:
                self._flush_commands()
                await self.push("554 SMTP synchronization error")
                if self.transport is not None:
                    self.transport.close()
                return False
            return True

        async def smtp_MAIL(self, arg: str) -> None:  # noqa: N802
            if await self._synchronised("MAIL"):
                await super().smtp_MAIL(arg)

        async def smtp_RCPT(self, arg: str) -> None:  # noqa: N802
            if await self._synchronised("RCPT"):
                await super().smtp_RCPT(arg)

        async def smtp_RSET(self, arg: str) -> None:  # noqa: N802
            if await self._synchronised("RSET"):
                await super().smtp_RSET(arg)

        async def smtp_DATA(self, arg: str) -> None:  # noqa: N802
            if not await self._synchronised("DATA"):
                return
            scripted = self.event_handler.current.scripted("DATA")
            if scripted == "DROP":
                _abort(self)
                return
            if scripted:
                assert self.envelope is not None
                self.event_handler._end(self.envelope, scripted)
                await self.push(scripted)
                if scripted.startswith("421") and self.transport is not None:
                    self.transport.close()
                return
            await super().smtp_DATA(arg)

    return StrictSMTP


async def _serve(port: int, spool: Spool, behaviour: SmtpBehaviour, server_pem: str | None) -> None:
    from testkit.tls import server_context

    current = _Current(spool, behaviour)
    smtp_class = _smtp_class()

    def connection() -> SMTP:
        handler = _Handler(behaviour, current)
        smtp = smtp_class(handler, authenticator=handler.authenticate, auth_required=True,
                          auth_require_tls=False, hostname="localhost",
                          data_size_limit=behaviour.max_message_bytes,
                          enable_SMTPUTF8=True)  # offered or not by handle_EHLO
        return smtp

    tls = server_context(server_pem) if server_pem else None
    # aiosmtpd cannot tell that an implicit-TLS connection is encrypted, so AUTH has to be
    # allowed "without TLS" for it to work at all; its warnings about that are noise here.
    warnings.filterwarnings("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(connection, host="127.0.0.1", port=port, ssl=tls)
    announce_ready()
    watcher = asyncio.create_task(_watch_resets(current, ResetRequests(spool.directory)))
    async with server:
        await server.serve_forever()
    watcher.cancel()


def main() -> None:
    parser = child_parser()
    parser.add_argument("--behaviour", required=True)
    parser.add_argument("--server-pem")
    args = parser.parse_args()
    behaviour = SmtpBehaviour(**json.loads(args.behaviour))
    try:
        asyncio.run(_serve(args.port, Spool(args.spool), behaviour, args.server_pem))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
