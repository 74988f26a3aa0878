"""A loopback TCP proxy that delays every byte by ``delay`` seconds in each direction.

Network latency, not a slow server: each chunk read from one side is written to the other
``delay`` seconds after it arrived, and chunks keep their order, so a client that writes ten
commands at once waits one round trip for their answers, and a client that waits for each
answer waits ten.  TLS passes through untouched (the proxy never looks inside).

``with LatencyProxy(target_port, delay=0.01) as proxy:`` -> connect to ``proxy.port``.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from testkit.child import ChildServer, announce_ready, child_parser

__all__ = ["LatencyProxy"]

CHUNK = 64 * 1024


class LatencyProxy:
    def __init__(self, target_port: int, *, delay: float) -> None:
        self._child = ChildServer("testkit.latency_proxy",
                                  ["--target-port", str(target_port), "--delay", str(delay)])

    @property
    def port(self) -> int:
        return self._child.port

    def __enter__(self) -> LatencyProxy:
        self._child.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.__exit__()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                delay: float) -> None:
    """Forward what ``reader`` gives to ``writer``, each chunk ``delay`` after it came."""
    loop = asyncio.get_running_loop()
    waiting: collections.deque[tuple[float, bytes]] = collections.deque()
    arrived = asyncio.Event()

    async def forward() -> None:
        while True:
            while not waiting:
                arrived.clear()
                await arrived.wait()
            due, chunk = waiting.popleft()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            # everything else that is due goes in the same turn: a sleep per chunk would add
            # the event loop's millisecond granularity to every reply of a pipelined group
            chunks = [chunk]
            while chunk and waiting and waiting[0][0] <= loop.time():
                chunk = waiting.popleft()[1]
                chunks.append(chunk)
            data = b"".join(chunks)
            if data:
                writer.write(data)
            if not chunk:
                writer.close()
                return
            await writer.drain()

    sender = asyncio.create_task(forward())
    try:
        while True:
            chunk = await reader.read(CHUNK)
            waiting.append((loop.time() + delay, chunk))
            arrived.set()
            if not chunk:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.close()


async def _serve(port: int, target_port: int, delay: float) -> None:
    async def connection(client_reader: asyncio.StreamReader,
                         client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1",
                                                                         target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer, delay),
                             _pipe(server_reader, client_writer, delay),
                             return_exceptions=True)

    server = await asyncio.start_server(connection, host="127.0.0.1", port=port)
    announce_ready()
    async with server:
        await server.serve_forever()


def main(argv: Any = None) -> None:
    parser = child_parser()
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--delay", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, args.target_port, args.delay))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
