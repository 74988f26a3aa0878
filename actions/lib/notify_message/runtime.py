"""What every channel shares during one call: the bound on concurrent deliveries, the
keep-alive HTTP clients, and the redactor that keeps secrets out of results."""

from __future__ import annotations

import asyncio
import ssl
from types import TracebackType

import httpx

from .result import Redactor

__all__ = ["DeliveryContext"]

DEFAULT_HTTP_TIMEOUT = 10.0


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
            trust: ssl.SSLContext | bool = (
                ssl.create_default_context(cafile=ca_bundle or None) if verify else False)
            client = httpx.AsyncClient(verify=trust, timeout=DEFAULT_HTTP_TIMEOUT,
                                       follow_redirects=False, trust_env=False)
            self._clients[key] = client
        return client

    async def __aenter__(self) -> DeliveryContext:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.aclose() for client in clients))
