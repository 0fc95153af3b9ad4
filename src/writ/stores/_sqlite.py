"""SQLite stores: the embedded default, safe across threads and processes on one file.

Each store object holds one connection (WAL, ``synchronous=FULL``) behind a
lock; processes serialise through SQLite's own file locks. A charge is one
``BEGIN IMMEDIATE`` transaction, so its read-check-write cannot interleave
with another writer. Every ``sqlite3.Error`` becomes ``StoreUnavailable``; a
locked database is waited on for at most ``busy_timeout`` seconds (default
5 s: a local lock held for a few fsyncs, not a network peer; SQLite's busy
handler polls, so a shorter bound turns contention between processes into
spurious denials).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from writ._errors import ConfigurationError, StoreUnavailable
from writ.stores._ledger import (
    COUNTER_GRACE_S,
    REPLAY_GRACE_S,
    Counter,
    check_replay,
    evaluate,
    micros,
    prepare,
)
from writ.stores._namespace import check_sql_namespace
from writ.stores._protocols import Charge, ChargeResult, Revocation, check_text

__all__ = ["SqliteCounterStore", "SqliteDatabase", "SqliteReplayStore", "SqliteRevocationStore"]

_PURGE_EVERY_S = 10.0
_PURGE_BATCH = 5000
_FOREVER_US = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {ns}_replay (
  key TEXT PRIMARY KEY, expires_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {ns}_replay_exp ON {ns}_replay (expires_us);
CREATE TABLE IF NOT EXISTS {ns}_counters (
  key TEXT PRIMARY KEY, calls INTEGER NOT NULL, spent INTEGER NOT NULL,
  tat INTEGER NOT NULL, forget_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {ns}_counters_forget ON {ns}_counters (forget_us);
CREATE TABLE IF NOT EXISTS {ns}_revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, jti TEXT NOT NULL, signer TEXT NOT NULL,
  statement TEXT NOT NULL, issued_at REAL NOT NULL, UNIQUE (jti, signer));
"""


class SqliteDatabase:
    """One SQLite file: a locked connection, the schema, and a transaction helper."""

    def __init__(
        self,
        path: str,
        *,
        namespace: str = "writ",
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
    ) -> None:
        self.ns = check_sql_namespace(namespace)
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigurationError("sqlite synchronous must be FULL or NORMAL")
        self._lock = threading.Lock()
        self._busy_timeout = busy_timeout
        try:
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed nonce or debit survives power loss (no replay, no
            # refund). NORMAL survives a crash of the process but not of the machine.
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            with self.transaction() as conn:
                for statement in _SCHEMA.format(ns=self.ns).split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"sqlite: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: the write lock is taken before anything is read."""
        with self._locked():
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite: {exc}") from exc
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"sqlite: {exc}") from exc
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read in autocommit mode (one implicit snapshot per statement)."""
        with self._locked():
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite: {exc}") from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Threads of this process queue here; bounded like SQLite's own busy wait.
        if not self._lock.acquire(timeout=self._busy_timeout):
            raise StoreUnavailable("sqlite: timed out waiting for this process's connection")
        try:
            yield
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction left to roll back, or the database is gone

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


class _Purger:
    """Deletes expired rows now and then, in bounded batches, on the caller's clock."""

    def __init__(self, db: SqliteDatabase, table: str, column: str, grace: float) -> None:
        self._sql = (
            f"DELETE FROM {db.ns}_{table} WHERE key IN (SELECT key FROM {db.ns}_{table}"
            f" WHERE {column} <= ? LIMIT {_PURGE_BATCH})"
        )
        self._next = float("-inf")
        self._grace = grace

    def maybe(self, conn: sqlite3.Connection, now: float) -> None:
        """Purge if due; a full batch means more are waiting, so stay due."""
        if now < self._next:
            return
        deleted = conn.execute(self._sql, (micros(now - self._grace),)).rowcount
        self._next = now if deleted >= _PURGE_BATCH else now + _PURGE_EVERY_S


class SqliteReplayStore:
    """Replay store: an upsert that only overwrites an expired row."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._purger = _Purger(db, "replay", "expires_us", REPLAY_GRACE_S)
        self._sql = (
            f"INSERT INTO {db.ns}_replay (key, expires_us) VALUES (?, ?)"
            f" ON CONFLICT (key) DO UPDATE SET expires_us = excluded.expires_us"
            f" WHERE {db.ns}_replay.expires_us <= ?"
        )

    def add_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record key until expires_at. True if it was new, False if seen and unexpired."""
        check_replay(key, expires_at, now)
        with self._db.transaction() as conn:
            self._purger.maybe(conn, now)
            # rowcount is 1 when inserted or when an expired row was overwritten.
            return conn.execute(self._sql, (key, micros(expires_at), micros(now))).rowcount == 1


class SqliteCounterStore:
    """Counter store: read, evaluate and write inside one ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._purger = _Purger(db, "counters", "forget_us", 0.0)
        ns = db.ns
        self._select = f"SELECT key, calls, spent, tat FROM {ns}_counters WHERE key IN "
        self._upsert = (
            f"INSERT INTO {ns}_counters (key, calls, spent, tat, forget_us) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET calls = excluded.calls, spent = excluded.spent,"
            f" tat = excluded.tat, forget_us = max({ns}_counters.forget_us, excluded.forget_us)"
        )

    def charge(self, charges: Sequence[Charge], *, now: float) -> ChargeResult:
        """All-or-nothing: debit every charge, or none and say which limit refused."""
        limits = prepare(charges, now)
        if not limits:
            return ChargeResult(ok=True)
        keys = [lim.key for lim in limits]
        with self._db.transaction() as conn:
            self._purger.maybe(conn, now)
            rows = conn.execute(self._select + f"({','.join('?' * len(keys))})", keys)
            states = {k: Counter(calls=c, spent=s, tat=t) for k, c, s, t in rows}
            result, updated = evaluate(limits, states, micros(now))
            if result.ok:
                conn.executemany(self._upsert, [
                    (lim.key, updated[lim.key].calls, updated[lim.key].spent,
                     updated[lim.key].tat, _forget_us(lim.expires_at))
                    for lim in limits
                ])
            return result


def _forget_us(expires_at: float | None) -> int:
    return _FOREVER_US if expires_at is None else micros(expires_at + COUNTER_GRACE_S)


class SqliteRevocationStore:
    """Revocation store; the AUTOINCREMENT ``seq`` is the change-feed cursor."""

    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db
        self._t = f"{db.ns}_revocations"

    def add(self, revocation: Revocation) -> None:
        """Store a revocation; adding the same (jti, signer) again changes nothing."""
        r = revocation
        with self._db.transaction() as conn:
            conn.execute(
                f"INSERT INTO {self._t} (jti, signer, statement, issued_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (jti, signer) DO NOTHING",
                (r.jti, r.signer, r.statement, r.issued_at),
            )

    def find(self, jtis: Sequence[str]) -> list[Revocation]:
        """The stored revocations naming any of these token ids, in the order stored."""
        wanted = [check_text("jti", j) for j in dict.fromkeys(jtis)]
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT jti, signer, statement, issued_at FROM {self._t}"
                f" WHERE jti IN ({marks}) ORDER BY seq", wanted,
            ).fetchall()
        return [Revocation(jti=j, signer=s, statement=st, issued_at=i) for j, s, st, i in rows]

    def all_since(self, cursor: int) -> tuple[list[Revocation], int]:
        """Revocations stored after ``cursor`` (0 = all), in order, and the new cursor."""
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT seq, jti, signer, statement, issued_at FROM {self._t}"
                " WHERE seq > ? ORDER BY seq", (cursor,),
            ).fetchall()
        found = [Revocation(jti=j, signer=s, statement=st, issued_at=i) for _, j, s, st, i in rows]
        return found, (rows[-1][0] if rows else cursor)
