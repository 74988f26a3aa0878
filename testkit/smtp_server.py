"""A real SMTP server on loopback (aiosmtpd): implicit TLS, AUTH, and the refusals of the
providers the component supports.

By default it behaves like QQ / NetEase: AUTH is required, a wrong authorization code gets
``535``, and a MAIL FROM other than the login gets ``553``.  ``SmtpBehaviour`` turns on the
other answers the tests need.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["SmtpBehaviour", "ReceivedMail", "LocalSmtpServer", "free_port"]

# aiosmtpd cannot tell that an implicit-TLS connection is encrypted, so AUTH must be allowed
# "without TLS" for it to work at all; its warnings about that are noise here.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
logging.getLogger("mail.log").setLevel(logging.ERROR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, behaviour: SmtpBehaviour) -> None:
        self.behaviour = behaviour
        self.received: list[ReceivedMail] = []
        self.sessions = 0
        self.lock = threading.Lock()

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.behaviour.accounts.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False, message=self.behaviour.auth_failure_reply)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        await asyncio.sleep(self.behaviour.latency)
        if self.behaviour.mail_reply:
            return self.behaviour.mail_reply
        if self.behaviour.require_from_equals_login and address != session.auth_data:
            return "553 Mail from must equal authorized user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        await asyncio.sleep(self.behaviour.latency)
        reply = self.behaviour.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        await asyncio.sleep(self.behaviour.latency)
        if self.behaviour.drop_on_data:
            server.transport.abort()
            return "421 dropped"
        if self.behaviour.data_reply:
            return self.behaviour.data_reply
        with self.lock:
            self.received.append(ReceivedMail(session.auth_data, envelope.mail_from,
                                              tuple(envelope.rcpt_tos), envelope.content))
        return "250 Mail OK queued as loopback"


class _Controller(Controller):
    def __init__(self, handler: _Handler, port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port, ssl_context=tls,
                         authenticator=handler.authenticate, auth_required=True,
                         auth_require_tls=False, server_hostname="localhost")

    def factory(self) -> SMTP:
        return SMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # the stock readiness probe speaks plain SMTP; ours must speak TLS when it is on
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), timeout=5) as raw:
            if self.ssl_context:
                with context.wrap_socket(raw) as wrapped:
                    wrapped.recv(1024)
            else:
                raw.recv(1024)


class LocalSmtpServer:
    """``with LocalSmtpServer(ssl_context, behaviour) as server:`` -> ``server.port``."""

    def __init__(self, tls: ssl.SSLContext | None, behaviour: SmtpBehaviour | None = None) -> None:
        self.behaviour = behaviour or SmtpBehaviour()
        self.handler = _Handler(self.behaviour)
        self.port = free_port()
        self._controller = _Controller(self.handler, self.port, tls)

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    @property
    def sessions(self) -> int:
        return self.handler.sessions

    def __enter__(self) -> LocalSmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
