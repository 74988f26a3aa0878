"""A real SMTP server on loopback (aiosmtpd): implicit TLS, AUTH, and the refusals of the
providers the component supports.

By default it behaves like QQ / NetEase: AUTH is required, a wrong authorization code gets
``535``, and a MAIL FROM other than the login gets ``553``.  ``SmtpBehaviour`` turns on the
other answers the tests need.

The server runs in a child process of its own.  StackStorm's test base classes monkey patch
the test process with eventlet, which turns threads into greenlets that share asyncio's
per-thread state; an asyncio server in a thread of that process would collide with the
client's event loop.  A child process is also what a real server is: another program.
What the server receives is spooled to a directory, one record per accepted message,
written before the ``250`` goes out.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

__all__ = ["SmtpBehaviour", "ReceivedMail", "LocalSmtpServer", "free_port"]

_PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


class LocalSmtpServer:
    """``with LocalSmtpServer(server_pem, behaviour) as server:`` -> ``server.port``;
    ``server_pem`` None means no TLS at all."""

    def __init__(self, server_pem: str | None, behaviour: SmtpBehaviour | None = None) -> None:
        self.behaviour = behaviour or SmtpBehaviour()
        self.server_pem = server_pem
        self.port = 0
        self._spool = ""
        self._process: subprocess.Popen[str] | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        mails = []
        for name in sorted(os.listdir(self._spool)):
            if name.endswith(".mail"):
                with open(os.path.join(self._spool, name)) as f:
                    record = json.load(f)
                mails.append(ReceivedMail(record["login"], record["mail_from"],
                                          tuple(record["rcpt_tos"]),
                                          base64.b64decode(record["data"])))
        return mails

    @property
    def sessions(self) -> int:
        return sum(1 for name in os.listdir(self._spool) if name.endswith(".session"))

    def __enter__(self) -> LocalSmtpServer:
        self._spool = tempfile.mkdtemp(prefix="notify-message-smtp-")
        self.port = free_port()
        command = [sys.executable, "-m", "testkit.smtp_server", "--port", str(self.port),
                   "--spool", self._spool, "--behaviour", json.dumps(asdict(self.behaviour))]
        if self.server_pem:
            command += ["--server-pem", self.server_pem]
        env = dict(os.environ, PYTHONPATH=_PACK_DIR)
        self._process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        ready = self._process.stdout.readline() if self._process.stdout else ""
        if ready.strip() != "ready":
            self.__exit__(None, None, None)
            raise RuntimeError("the loopback SMTP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout:
                self._process.stdout.close()
            self._process = None
        shutil.rmtree(self._spool, ignore_errors=True)


# --------------------------------------------------------------------------- the child
class _Handler:
    def __init__(self, behaviour: SmtpBehaviour, spool: str) -> None:
        self.behaviour = behaviour
        self.spool = spool
        self.count = 0

    def _record(self, suffix: str, record: dict[str, Any]) -> None:
        self.count += 1
        path = os.path.join(self.spool, "%08d%s" % (self.count, suffix))
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)

    def authenticate(self, server, session, envelope, mechanism, auth_data):  # type: ignore
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            if self.behaviour.accounts.get(login) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False, message=self.behaviour.auth_failure_reply)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self._record(".session", {"time": time.time()})
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
        self._record(".mail", {
            "login": session.auth_data, "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": base64.b64encode(envelope.content).decode()})
        return "250 Mail OK queued as loopback"


async def _serve(port: int, spool: str, behaviour: SmtpBehaviour, server_pem: str | None) -> None:
    from aiosmtpd.smtp import SMTP

    from testkit.tls import server_context

    handler = _Handler(behaviour, spool)
    tls = server_context(server_pem) if server_pem else None
    # aiosmtpd cannot tell that an implicit-TLS connection is encrypted, so AUTH has to be
    # allowed "without TLS" for it to work at all; its warnings about that are noise here.
    warnings.filterwarnings("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, authenticator=handler.authenticate, auth_required=True,
                     auth_require_tls=False, hostname="localhost"),
        host="127.0.0.1", port=port, ssl=tls)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--behaviour", required=True)
    parser.add_argument("--server-pem")
    args = parser.parse_args()
    behaviour = SmtpBehaviour(**json.loads(args.behaviour))
    try:
        asyncio.run(_serve(args.port, args.spool, behaviour, args.server_pem))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
