"""The state store's interface: the few atomic operations storm control needs.

Every operation is atomic on its own, across processes and (with Redis) hosts, and uses the
store's clock (``now()``), never the caller's: executions on several hosts agree on windows.
Errors::

    StoreUnavailable (also a ConnectionError)   the store cannot be reached, opened or
                                                locked within its bound: callers deliver
                                                without storm control and say so
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Store", "StoreUnavailable", "Window", "Claim", "Leased", "QueuedItem"]


class StoreUnavailable(ConnectionError):
    """The state store could not be reached or locked in time; the message says which."""


@dataclass(frozen=True)
class Window:
    """A rolling budget: at most ``limit`` takes in any ``seconds``."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class Claim:
    """Who holds a dedup key: ``won`` is true when this caller just claimed it."""

    won: bool
    owner: str
    at: float


@dataclass(frozen=True)
class QueuedItem:
    id: str
    data: str
    pushed_at: float


@dataclass(frozen=True)
class Leased:
    """Items leased to one flusher until ``until``: ack them once sent; if the flusher dies,
    they are offered again when the lease ends."""

    queue: str
    token: str
    until: float
    items: tuple[QueuedItem, ...]


class Store(Protocol):
    """One state store (``sqlite`` or ``redis``); ``where`` names it for messages."""

    backend: str
    where: str

    def now(self) -> float:
        """The store's clock, in seconds since the epoch."""

    def take(self, key: str, windows: Sequence[Window]) -> float:
        """Take one unit of the budget ``key`` if every window allows it: 0.0 when taken,
        else the seconds until one would (nothing taken)."""

    def claim(self, key: str, owner: str, ttl: float) -> Claim:
        """Claim ``key`` for ``ttl`` seconds unless someone holds it."""

    def release(self, key: str, owner: str) -> None:
        """Give up a claim (only the owner's own)."""

    def push(self, queue: str, data: str, *, not_before: float = 0.0) -> str:
        """Queue ``data``; the id it gets.  ``not_before``: offered from then on."""

    def pending(self, queue: str) -> int:
        """How many items the queue holds (leased or not)."""

    def queues(self) -> list[str]:
        """The queues that hold items."""

    def lease(self, queue: str, seconds: float, limit: int) -> Leased:
        """Lease up to ``limit`` of the queue's available items for ``seconds``."""

    def ack(self, leased: Leased) -> int:
        """Remove the leased items that are still this lease's; how many."""

    def unlease(self, leased: Leased) -> None:
        """Offer the leased items again now (the flusher could not send them)."""

    def set_until(self, key: str, until: float) -> None:
        """Remember a moment for ``key`` (a robot throttled until, a digest's next turn)."""

    def get_until(self, key: str) -> float:
        """The moment remembered for ``key`` if it is still ahead, else 0.0."""

    def ledger_get(self, key: str) -> dict[str, str]:
        """What the ledger holds for ``key``: target -> entry."""

    def ledger_put(self, key: str, target: str, entry: str, ttl: float) -> None:
        """Record one target's entry under ``key`` for ``ttl`` seconds."""

    def silence_put(self, silence_id: str, data: str, until: float) -> None:
        """Keep a silence until ``until``."""

    def silences(self) -> list[tuple[str, str]]:
        """The silences still in force: (id, data)."""

    def silence_expire(self, silence_id: str) -> bool:
        """End a silence now; false when none in force had that id."""

    def close(self) -> None:
        """Release the connection."""
