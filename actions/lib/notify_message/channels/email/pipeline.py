"""SMTP mail transactions after login, pipelined where the server offers it (RFC 2920).

aiosmtplib opens the session (TCP, implicit TLS or STARTTLS, EHLO, AUTH) and then hands its
transport to ``MailSession``, which owns every byte from there on.  aiosmtplib reads one
reply per command and drops what arrives while a parsed reply waits to be picked up, so it
cannot read a group of pipelined answers; ``_ReplyReader`` buffers everything and parses
replies in order.

``MailSession.transaction`` sends MAIL FROM, one RCPT TO per recipient and DATA as one
group (in writes of at most ``WRITE_BYTES``) when EHLO advertised PIPELINING, else one
command at a time; then the content.  It never raises for what the server does: the
``Transaction`` it returns holds every answer it got and, when the exchange broke, why
(``error``) and whether the content had been sent (``content_sent``), so that the caller
knows which recipients may have the message.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import aiosmtplib

__all__ = ["Reply", "Transaction", "MailSession", "MalformedReply", "SessionClosed",
           "WRITE_BYTES", "dot_stuffed"]

WRITE_BYTES = 64 * 1024        # one write of a pipelined group; a larger group takes more
MAX_REPLY_LINE = 8192          # RFC 5321 4.5.3.1.5 allows 512; aiosmtplib's bound
MAX_REPLY = 32 * 1024          # one (multi-line) reply, as aiosmtplib bounds it
MAX_BUFFERED = 256 * 1024      # unparsed bytes from the server before it counts as hostile
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_CODE = re.compile(rb"^[2-5][0-9][0-9]$")


class Reply(NamedTuple):
    """One SMTP reply: its code and text (the lines of a multi-line reply joined by \\n)."""

    code: int
    text: str

    @property
    def positive(self) -> bool:
        """A completion (2xx): what MAIL and RCPT must answer to go on."""
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()


class MalformedReply(Exception):
    """The server sent something that is no SMTP reply (or far too much of it)."""


class SessionClosed(ConnectionError):
    """The connection closed (or was reset) before the answer arrived."""


class _ReplyReader(asyncio.Protocol):
    """Every byte the server sends, parsed into replies in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._replies: collections.deque[Reply] = collections.deque()
        self._lines: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self.error: BaseException | None = None

    def data_received(self, data: bytes) -> None:
        if self.error is not None:
            return
        self._buffer += data
        try:
            self._parse()
        except MalformedReply as exc:
            self._fail(exc)
        self._wake()

    def _parse(self) -> None:
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_BUFFERED:
                    raise MalformedReply("the server sent more than 256 KiB without a line end")
                return
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[:end + 1]
            if len(line) > MAX_REPLY_LINE or not _CODE.match(line[:3]) \
                    or line[3:4] not in (b"", b" ", b"-"):
                raise MalformedReply("malformed SMTP reply line: "
                                     + line[:80].decode("utf-8", "replace"))
            if self._lines and line[:3] != self._lines[0][:3]:
                raise MalformedReply("a multi-line reply changed its code")
            self._lines.append(line)
            if sum(len(part) for part in self._lines) > MAX_REPLY:
                raise MalformedReply("a reply of more than 32 KiB")
            if line[3:4] != b"-":
                text = "\n".join(part[4:].decode("utf-8", "replace").strip()
                                 for part in self._lines)
                self._replies.append(Reply(int(line[:3]), text))
                self._lines = []

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def eof_received(self) -> bool:
        self._fail(SessionClosed("the server closed the connection"))
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(SessionClosed("the connection was lost" + (f" ({exc})" if exc else "")))
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drain(self) -> None:
        if self._drained is not None:
            await self._drained

    async def reply(self) -> Reply:
        """The next reply, in order; raises the error that ended the stream once none is left."""
        while not self._replies:
            if self.error is not None:
                raise self.error
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._replies.popleft()


class Transaction:
    """What the server answered to one mail transaction, as far as it got.

    ``rcpt`` has one entry per recipient, None for one whose answer never came; ``data`` is
    the answer to DATA (354 to go on), ``final`` the answer after the content.  ``error`` is
    what ended the exchange early (a lost connection, a timeout, a malformed reply) and
    ``content_sent`` whether the content had gone out by then: after it, the accepted
    recipients may have the message."""

    # a plain class, not a dataclass: every execution is a new process, and making a
    # dataclass costs more at import than this whole module's other definitions

    def __init__(self, recipients: tuple[str, ...], *, pipelined: bool) -> None:
        self.recipients = recipients
        self.pipelined = pipelined
        self.mail: Reply | None = None
        self.rcpt: list[Reply | None] = []
        self.data: Reply | None = None
        self.final: Reply | None = None
        self.content_sent = False
        self.error: BaseException | None = None
        self.writes = 0

    def __repr__(self) -> str:
        return (f"Transaction(mail={self.mail}, rcpt={len(self.rcpt)} answers, "
                f"data={self.data}, final={self.final}, error={self.error!r})")

    @property
    def accepted(self) -> list[str]:
        return [r for r, reply in zip(self.recipients, self.rcpt) if reply and reply.positive]

    @property
    def delivered(self) -> bool:
        return self.final is not None and self.final.code == 250


def dot_stuffed(content: bytes) -> bytes:
    """The content as DATA carries it: CRLF line ends, a leading dot doubled, ending CRLF.CRLF."""
    text = re.sub(rb"\r?\n|\r", b"\r\n", content)
    text = re.sub(rb"(?m)^\.", b"..", text)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return text + b".\r\n"


class MailSession:
    """A logged-in SMTP session whose transport this object has taken over from aiosmtplib."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        transport = client.transport
        if transport is None or transport.is_closing():
            raise SessionClosed("the session closed before the first mail transaction")
        extensions = {k.lower(): v for k, v in client.esmtp_extensions.items()}
        self.pipelining = "pipelining" in extensions
        self.smtputf8 = "smtputf8" in extensions
        self.eightbitmime = "8bitmime" in extensions
        size = extensions.get("size", "").strip()
        # a hostile "SIZE 99...9" of thousands of digits must not reach int()
        self.size_limit = (int(size) if size.isascii() and size.isdigit() and len(size) <= 18
                           and int(size) else None)
        self._transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self._reader = _ReplyReader()
        transport.set_protocol(self._reader)
        self.closing = False  # the server said 421, or the connection broke

    @property
    def usable(self) -> bool:
        return not self.closing and not self._transport.is_closing() \
            and self._reader.error is None

    async def _write(self, lines: list[bytes]) -> int:
        """Write lines in as few writes as WRITE_BYTES allows; returns how many writes."""
        writes, chunk = 0, bytearray()
        for line in lines:
            if chunk and len(chunk) + len(line) > WRITE_BYTES:
                writes += await self._send(bytes(chunk))
                chunk = bytearray()
            chunk += line
        if chunk:
            writes += await self._send(bytes(chunk))
        return writes

    async def _send(self, data: bytes) -> int:
        if self._transport.is_closing() or self._reader.error is not None:
            raise self._reader.error or SessionClosed("the connection was closed")
        self._transport.write(data)
        await self._reader.drain()
        return 1

    async def _reply(self) -> Reply:
        reply = await self._reader.reply()
        if reply.code == 421:
            self.closing = True
        return reply

    async def transaction(self, sender: str, recipients: tuple[str, ...], content: bytes, *,
                          timeout: float, utf8: bool = False) -> Transaction:
        """One mail transaction within ``timeout`` seconds; never raises for the server's doing."""
        for argument in (sender, *recipients):
            if _FORBIDDEN.search(argument):
                raise ValueError("an address holds a control character")
        done = Transaction(recipients, pipelined=self.pipelining)
        try:
            await asyncio.wait_for(self._exchange(done, sender, content, utf8), timeout)
        except asyncio.TimeoutError:
            done.error = TimeoutError(f"no answer within {timeout:g}s")
        except (MalformedReply, OSError, RuntimeError) as exc:
            done.error = exc
        if done.error is not None:
            self.closing = True
        return done

    def _mail_command(self, sender: str, content: bytes, utf8: bool) -> bytes:
        options = ""
        if self.size_limit is not None:
            options += f" SIZE={len(content)}"
        if utf8:
            options += " SMTPUTF8"
        if self.eightbitmime and utf8:
            options += " BODY=8BITMIME"
        return f"MAIL FROM:<{sender}>{options}\r\n".encode()

    async def _exchange(self, done: Transaction, sender: str, content: bytes, utf8: bool
                        ) -> None:
        mail = self._mail_command(sender, content, utf8)
        rcpts = [f"RCPT TO:<{r}>\r\n".encode() for r in done.recipients]
        if self.pipelining:
            done.writes += await self._write([mail, *rcpts, b"DATA\r\n"])
            done.mail = await self._reply()
            for _ in rcpts:
                done.rcpt.append(await self._reply())
            done.data = await self._reply()
            if done.data.code == 354 and (not done.mail.positive or not done.accepted):
                # DATA went ahead of the answers and the server took it anyway: end an
                # empty message that reaches nobody, then forget the transaction
                done.writes += await self._write([b".\r\n"])
                await self._reply()
                done.data = Reply(503, "no valid recipients")
        else:
            done.writes += await self._write([mail])
            done.mail = await self._reply()
            if not done.mail.positive:
                return
            for line in rcpts:
                done.writes += await self._write([line])
                reply = await self._reply()
                done.rcpt.append(reply)
                if reply.code == 421:
                    return
            if not done.accepted:
                await self._reset()
                return
            done.writes += await self._write([b"DATA\r\n"])
            done.data = await self._reply()
        if done.data is None or done.data.code != 354:
            if not self.closing:
                await self._reset()
            return
        done.content_sent = True  # from here on, a lost answer may hide an accepted message
        done.writes += await self._write([dot_stuffed(content)])
        done.final = await self._reply()

    async def _reset(self) -> None:
        await self._write([b"RSET\r\n"])
        await self._reply()

    async def quit(self, timeout: float) -> None:
        """QUIT politely (best effort within ``timeout``), then close the connection."""
        try:
            if self.usable:
                await asyncio.wait_for(self._quit(), timeout)
        except (asyncio.TimeoutError, MalformedReply, OSError, RuntimeError):
            pass
        finally:
            self.close()

    async def _quit(self) -> None:
        await self._write([b"QUIT\r\n"])
        await self._reader.reply()

    def close(self) -> None:
        self.closing = True
        if not self._transport.is_closing():
            self._transport.close()
