"""What every delivery of one call shares: the concurrency bound, the keep-alive HTTP
clients, the redactor, TLS contexts, the retry policy, and the exception cause chain.

``run_deliveries(deliver, ...)`` runs one call's deliveries inside one ``DeliveryContext``.
httpx is imported only when a channel first asks for an HTTP client, so an email-only call
never loads it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from . import bounded
from .result import Channel, Delivery, Redactor

if TYPE_CHECKING:
    import httpx

__all__ = ["DeliveryContext", "RetryPolicy", "run_deliveries", "client_tls_context",
           "exception_chain", "post", "HttpAnswer", "AnswerTooLarge", "guarded",
           "ProgressObserver", "PROGRESS", "report"]

DEFAULT_HTTP_TIMEOUT = 10.0
log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)
def client_tls_context(ca_bundle: str = "", *, verify: bool = True) -> ssl.SSLContext:
    """The TLS context of every client connection: the system CAs or ``ca_bundle``, hostname
    and certificate checked; ``verify=False`` (lab relays only) checks neither.  Made once per
    trust setting and process: loading the CAs costs more than a loopback connection."""
    context = ssl.create_default_context(cafile=ca_bundle or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what caused it (``__cause__``, else ``__context__``), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@dataclass(frozen=True)
class RetryPolicy:
    """How a delivery retries a transient failure: ``attempts`` in all (the first included;
    None: as many as the budget allows), waits growing from ``backoff`` by ``factor`` up to
    ``cap`` seconds, each shortened by up to ``jitter`` (a share of it), and no wait that would
    end past ``budget`` seconds after the first attempt began."""

    attempts: int | None = 3
    backoff: float = 1.0
    factor: float = 2.0
    cap: float = 8.0
    jitter: float = 0.0
    budget: float = float("inf")

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 = the first retry)."""
        wait = min(self.backoff * self.factor ** (retry - 1), self.cap)
        return wait * random.uniform(1.0 - self.jitter, 1.0) if self.jitter else wait

    def next_delay(self, attempts_made: int, elapsed: float) -> float | None:
        """The wait before the next attempt, or None when the policy allows no more."""
        if self.attempts is not None and attempts_made >= self.attempts:
            return None
        wait = self.delay(attempts_made)
        return None if elapsed + wait > self.budget else wait


class DeliveryContext:
    """``async with DeliveryContext(redactor, max_concurrency) as ctx:``

    ``ctx.limit`` bounds how many deliveries run at once across every channel;
    ``ctx.http(ca_bundle)`` returns one keep-alive ``httpx.AsyncClient`` per trust setting,
    shared by every HTTP delivery of the call and closed when the call ends.
    """

    def __init__(self, redactor: Redactor, max_concurrency: int) -> None:
        self.redactor = redactor
        self.limit = asyncio.Semaphore(max_concurrency)
        self._clients: dict[tuple[str, bool], httpx.AsyncClient] = {}

    def http(self, ca_bundle: str = "", *, verify: bool = True) -> httpx.AsyncClient:
        key = (ca_bundle, verify)
        client = self._clients.get(key)
        if client is None:
            import httpx  # only calls that reach an HTTP service pay for importing it

            client = httpx.AsyncClient(verify=client_tls_context(ca_bundle, verify=verify),
                                       timeout=DEFAULT_HTTP_TIMEOUT, follow_redirects=False,
                                       trust_env=False)
            self._clients[key] = client
        return client

    async def __aenter__(self) -> DeliveryContext:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.aclose() for client in clients))


# what an HTTP service may answer: DingTalk's and Alibaba's answers are a few hundred bytes
MAX_ANSWER_BYTES = 1024 * 1024


class AnswerTooLarge(ValueError):
    """The service answered more than MAX_ANSWER_BYTES: not read further."""


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP answer read within bounds: its status and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON within ``bounded``'s limits; ValueError when it is not that."""
        return bounded.loads(self.body.decode("utf-8", "replace"), max_bytes=MAX_ANSWER_BYTES)


async def post(client: httpx.AsyncClient, url: str, *, content: bytes,
               headers: Mapping[str, str], timeout: float) -> HttpAnswer:
    """POST and read the answer within one deadline for the whole exchange (httpx's timeout
    is per read: a server sending a byte at a time would stretch it) and a size bound."""
    async def exchange() -> HttpAnswer:
        async with client.stream("POST", url, content=content, headers=dict(headers),
                                 timeout=timeout) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise AnswerTooLarge(f"the answer is over {MAX_ANSWER_BYTES} bytes")
                chunks.append(chunk)
            return HttpAnswer(response.status_code, b"".join(chunks))

    return await asyncio.wait_for(exchange(), timeout=timeout)


class ProgressObserver(Protocol):
    """Who follows a call's progress (the command line's progress bar): ``expect`` is told
    how many deliveries a channel will make, ``done`` each delivery as it ends."""

    def expect(self, count: int) -> None: ...

    def done(self, delivery: Delivery) -> None: ...


# set by whoever wants progress (the command line); asyncio tasks inherit it
PROGRESS: contextvars.ContextVar[ProgressObserver | None] = contextvars.ContextVar(
    "notify_message_progress", default=None)
_INSIDE_GUARD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "notify_message_inside_guard", default=False)


def report(delivery: Delivery) -> Delivery:
    """Tell the progress observer, if any, that ``delivery`` ended; returns it."""
    observer = PROGRESS.get()
    if observer is not None:
        observer.done(delivery)
    return delivery


async def guarded(channel: Channel, targets: Sequence[str],
                  work: Awaitable[list[Delivery]]) -> list[Delivery]:
    """The deliveries ``work`` makes, or, when it raises what no sender expected, one
    ``outcome unknown`` delivery per target naming the exception's type (never its text,
    which could hold a secret): one delivery's failure never takes the others' results.
    The outermost guard of a channel tells the progress observer how many to expect."""
    observer = PROGRESS.get()
    if observer is not None and not _INSIDE_GUARD.get():
        observer.expect(len(targets))
    inside = _INSIDE_GUARD.set(True)  # the senders' inner guards see it
    try:
        return await work
    except Exception as exc:  # noqa: BLE001  (the delivery boundary: nothing passes it)
        log.error("%s delivery to %d target(s) failed unexpectedly: %s", channel.value,
                  len(targets), type(exc).__name__)
        return [Delivery.unknown(channel, target, (
            f"the delivery failed unexpectedly ({type(exc).__name__}) and may or may not have "
            "reached the service; the action's log has the exception type"))
            for target in targets]
    finally:
        _INSIDE_GUARD.reset(inside)


def run_deliveries(deliver: Callable[[DeliveryContext], Awaitable[list[Delivery]]], *,
                   secrets: Iterable[str], max_concurrency: int) -> list[Delivery]:
    """Run one call's deliveries in one context (concurrency bound, HTTP clients, redactor)."""
    redactor = Redactor(secrets)

    async def run() -> list[Delivery]:
        async with DeliveryContext(redactor, max_concurrency) as ctx:
            return await deliver(ctx)

    return asyncio.run(run())
