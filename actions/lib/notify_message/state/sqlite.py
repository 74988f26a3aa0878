"""The embedded state store: one SQLite file shared by every execution on this host.

WAL lets readers run while one writer writes; every operation is one ``BEGIN IMMEDIATE``
transaction (the write lock taken up front, so two processes never both read a budget and
both take it); the busy timeout bounds how long a call waits for the lock before storm
control is skipped for it.  The file is created, with its folder, on first use, readable
by its owner only.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from .store import Claim, Leased, QueuedItem, StoreUnavailable, Window

__all__ = ["SqliteStore", "default_path"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS takes (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS takes_key_at ON takes (key, at);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL,
                                   at REAL NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
                                  data TEXT NOT NULL, pushed_at REAL NOT NULL,
                                  available_at REAL NOT NULL, lease TEXT);
CREATE INDEX IF NOT EXISTS queue_available ON queue (queue, available_at);
CREATE TABLE IF NOT EXISTS untils (key TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (key TEXT NOT NULL, target TEXT NOT NULL, entry TEXT NOT NULL,
                                   expires REAL NOT NULL, PRIMARY KEY (key, target));
CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, data TEXT NOT NULL,
                                     until REAL NOT NULL);
"""


def default_path() -> str:
    """Where the store lives unless ``storm_control.state.path`` says: in the virtualenv st2
    made for the pack (``/opt/stackstorm/virtualenvs/notify_message``), which the action
    runner's user created and can write; outside a virtualenv, under the user's
    ``~/.local/state``."""
    if sys.prefix != sys.base_prefix:
        return os.path.join(sys.prefix, "var", "notify_message", "state.sqlite3")
    return os.path.join(os.path.expanduser("~"), ".local", "state", "notify_message",
                        "state.sqlite3")


class SqliteStore:
    backend = "sqlite"

    def __init__(self, path: str, *, timeout: float = 2.0) -> None:
        self.path = path
        self.where = f"sqlite {path}"
        self.timeout = timeout
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path) or "."
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            if not os.path.exists(self.path):
                # created readable by its owner only: the ledger names recipients
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                 check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            with _transaction(db):
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
            return db
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"the state store {self.path} could not be opened or "
                                   f"created ({_reason(exc)}); set storm_control.state.path "
                                   "to a file the action runner's user can write") from None

    def _run(self, work: Callable[[sqlite3.Connection, float], T]) -> T:
        """``work(db, now)`` in one write transaction, within the busy timeout."""
        try:
            with _transaction(self._db):
                return work(self._db, time.time())
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the state store {self.path} failed or stayed locked "
                                   f"past {self.timeout:g}s ({_reason(exc)})") from None

    def now(self) -> float:
        return time.time()

    def take(self, key: str, windows: Sequence[Window]) -> float:
        def work(db: sqlite3.Connection, now: float) -> float:
            longest = max(w.seconds for w in windows)
            db.execute("DELETE FROM takes WHERE key = ? AND at <= ?", (key, now - longest))
            wait = 0.0
            for window in windows:
                rows = db.execute("SELECT at FROM takes WHERE key = ? AND at > ? ORDER BY at",
                                  (key, now - window.seconds)).fetchall()
                if len(rows) >= window.limit:
                    # the take that frees a unit is the oldest one still counted
                    oldest = rows[len(rows) - window.limit][0]
                    wait = max(wait, oldest + window.seconds - now)
            if wait == 0.0:
                db.execute("INSERT INTO takes (key, at) VALUES (?, ?)", (key, now))
            return wait
        return self._run(work)

    def claim(self, key: str, owner: str, ttl: float) -> Claim:
        def work(db: sqlite3.Connection, now: float) -> Claim:
            row = db.execute("SELECT owner, at FROM claims WHERE key = ? AND expires > ?",
                             (key, now)).fetchone()
            if row is not None:
                return Claim(False, row[0], row[1])
            db.execute("INSERT OR REPLACE INTO claims (key, owner, at, expires) "
                       "VALUES (?, ?, ?, ?)", (key, owner, now, now + ttl))
            return Claim(True, owner, now)
        return self._run(work)

    def release(self, key: str, owner: str) -> None:
        self._run(lambda db, now: db.execute("DELETE FROM claims WHERE key = ? AND owner = ?",
                                             (key, owner)))

    def push(self, queue: str, data: str, *, not_before: float = 0.0) -> str:
        def work(db: sqlite3.Connection, now: float) -> str:
            cursor = db.execute("INSERT INTO queue (queue, data, pushed_at, available_at) "
                                "VALUES (?, ?, ?, ?)", (queue, data, now, max(now, not_before)))
            return str(cursor.lastrowid)
        return self._run(work)

    def pending(self, queue: str) -> int:
        return self._run(lambda db, now: int(db.execute(
            "SELECT COUNT(*) FROM queue WHERE queue = ?", (queue,)).fetchone()[0]))

    def queues(self) -> list[str]:
        def work(db: sqlite3.Connection, now: float) -> list[str]:
            # the flusher calls this every few seconds: a good time to forget what expired
            db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
            db.execute("DELETE FROM ledger WHERE expires <= ?", (now,))
            db.execute("DELETE FROM untils WHERE until <= ?", (now,))
            return [row[0] for row in db.execute("SELECT DISTINCT queue FROM queue ORDER BY queue")]
        return self._run(work)

    def lease(self, queue: str, seconds: float, limit: int) -> Leased:
        token = uuid.uuid4().hex

        def work(db: sqlite3.Connection, now: float) -> Leased:
            rows = db.execute("SELECT id, data, pushed_at FROM queue WHERE queue = ? AND "
                              "available_at <= ? ORDER BY id LIMIT ?",
                              (queue, now, limit)).fetchall()
            db.executemany("UPDATE queue SET available_at = ?, lease = ? WHERE id = ?",
                           [(now + seconds, token, row[0]) for row in rows])
            return Leased(queue, token, now + seconds,
                          tuple(QueuedItem(str(r[0]), r[1], r[2]) for r in rows))
        return self._run(work)

    def ack(self, leased: Leased) -> int:
        def work(db: sqlite3.Connection, now: float) -> int:
            return sum(db.execute("DELETE FROM queue WHERE id = ? AND lease = ?",
                                  (int(item.id), leased.token)).rowcount
                       for item in leased.items)
        return self._run(work)

    def unlease(self, leased: Leased) -> None:
        self._run(lambda db, now: db.executemany(
            "UPDATE queue SET available_at = ?, lease = NULL WHERE id = ? AND lease = ?",
            [(now, int(item.id), leased.token) for item in leased.items]))

    def set_until(self, key: str, until: float) -> None:
        self._run(lambda db, now: db.execute(
            "INSERT OR REPLACE INTO untils (key, until) VALUES (?, ?)", (key, until)))

    def get_until(self, key: str) -> float:
        def work(db: sqlite3.Connection, now: float) -> float:
            row = db.execute("SELECT until FROM untils WHERE key = ?", (key,)).fetchone()
            return float(row[0]) if row is not None and row[0] > now else 0.0
        return self._run(work)

    def ledger_get(self, key: str) -> dict[str, str]:
        return self._run(lambda db, now: {target: entry for target, entry in db.execute(
            "SELECT target, entry FROM ledger WHERE key = ? AND expires > ?", (key, now))})

    def ledger_put(self, key: str, target: str, entry: str, ttl: float) -> None:
        self._run(lambda db, now: db.execute(
            "INSERT OR REPLACE INTO ledger (key, target, entry, expires) VALUES (?, ?, ?, ?)",
            (key, target, entry, now + ttl)))

    def silence_put(self, silence_id: str, data: str, until: float) -> None:
        self._run(lambda db, now: db.execute(
            "INSERT OR REPLACE INTO silences (id, data, until) VALUES (?, ?, ?)",
            (silence_id, data, until)))

    def silences(self) -> list[tuple[str, str]]:
        def work(db: sqlite3.Connection, now: float) -> list[tuple[str, str]]:
            db.execute("DELETE FROM silences WHERE until <= ?", (now,))
            return [(r[0], r[1]) for r in db.execute("SELECT id, data FROM silences ORDER BY id")]
        return self._run(work)

    def silence_expire(self, silence_id: str) -> bool:
        return self._run(lambda db, now: db.execute(
            "DELETE FROM silences WHERE id = ? AND until > ?", (silence_id, now)).rowcount > 0)

    def close(self) -> None:
        self._db.close()


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
