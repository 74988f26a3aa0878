"""A real SMTP server on loopback (aiosmtpd): implicit TLS, AUTH, and the refusals of the
providers the component supports.

By default it behaves like QQ / NetEase: AUTH is required, a wrong authorization code gets
``535``, and a MAIL FROM other than the login gets ``553``.  ``SmtpBehaviour`` turns on the
other answers the tests need.

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
    """The spool of the current generation; every connection keeps the one it began with."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool


async def _watch_resets(current: _Current, resets: ResetRequests) -> None:
    while True:
        generation = resets.pending()
        if generation:
            current.spool = current.spool.renewed()
            resets.confirm(generation)
        await asyncio.sleep(0.01)


class _Handler:
    def __init__(self, behaviour: SmtpBehaviour, spool: Spool) -> None:
        self.behaviour = behaviour
        self.spool = spool

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
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, mail_options: list[str]) -> str:
        await asyncio.sleep(self.behaviour.latency)
        if self.behaviour.mail_reply:
            return self.behaviour.mail_reply
        if self.behaviour.require_from_equals_login and address != session.auth_data:
            return "553 Mail from must equal authorized user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        await asyncio.sleep(self.behaviour.latency)
        reply = self.behaviour.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        await asyncio.sleep(self.behaviour.latency)
        if self.behaviour.drop_on_data:
            transport = server.transport
            if isinstance(transport, asyncio.Transport):
                transport.abort()       # a reset, not a goodbye
            elif transport is not None:
                transport.close()
            return "421 dropped"
        if self.behaviour.data_reply:
            return self.behaviour.data_reply
        content = envelope.content or b""  # bytes: the server is built with decode_data off
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.spool.write("mail", {
            "login": session.auth_data, "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": base64.b64encode(data).decode(), "time": time.time()})
        return "250 Mail OK queued as loopback"


async def _serve(port: int, spool: Spool, behaviour: SmtpBehaviour, server_pem: str | None) -> None:
    from aiosmtpd.smtp import SMTP

    from testkit.tls import server_context

    current = _Current(spool)

    def connection() -> SMTP:
        handler = _Handler(behaviour, current.spool)
        return SMTP(handler, authenticator=handler.authenticate, auth_required=True,
                    auth_require_tls=False, hostname="localhost")

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
