"""PostgreSQL stores: shared by every replica, one transaction per operation.

A charge inserts any missing rows (``ON CONFLICT DO NOTHING``), locks every
row with ``SELECT … ORDER BY key FOR UPDATE`` (rows are locked after sorting,
so two charges always lock in the same order and cannot deadlock), evaluates
``_ledger`` and writes back, all in one READ COMMITTED transaction.

Nothing waits unboundedly: connecting gives up after ``timeout`` seconds,
every wait on the socket after ``io_timeout`` (a frozen server cannot hang a
caller), and the server aborts a lock wait after ``lock_timeout``. Any
``psycopg.Error`` becomes ``StoreUnavailable`` and a broken connection is
dropped, so the next call reconnects once the server is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from writ.stores._ledger import (
    COUNTER_GRACE_S,
    REPLAY_GRACE_S,
    Counter,
    check_replay,
    evaluate,
    micros,
    prepare,
)
from writ.stores._pgpool import Pool
from writ.stores._protocols import Charge, ChargeResult, Revocation, check_text

__all__ = ["PostgresCounterStore", "PostgresReplayStore", "PostgresRevocationStore", "schema"]

_PURGE_EVERY_S = 10.0
_PURGE_BATCH = 5000
_FOREVER_US = 2**63 - 1


def schema(ns: str) -> list[str]:
    """The DDL for namespace ``ns`` (idempotent)."""
    return [
        (f"CREATE TABLE IF NOT EXISTS {ns}_replay"
        " (key text PRIMARY KEY, expires_us bigint NOT NULL)"),
        f"CREATE INDEX IF NOT EXISTS {ns}_replay_exp ON {ns}_replay (expires_us)",
        (f"CREATE TABLE IF NOT EXISTS {ns}_counters (key text PRIMARY KEY,"
        " calls bigint NOT NULL DEFAULT 0, spent bigint NOT NULL DEFAULT 0,"
        " tat bigint NOT NULL DEFAULT 0, forget_us bigint NOT NULL DEFAULT 0)"),
        f"CREATE INDEX IF NOT EXISTS {ns}_counters_forget ON {ns}_counters (forget_us)",
        (f"CREATE TABLE IF NOT EXISTS {ns}_revocations (seq bigserial UNIQUE,"
        " jti text NOT NULL, signer text NOT NULL, statement text NOT NULL,"
        " issued_at double precision NOT NULL, PRIMARY KEY (jti, signer))"),
    ]


class _Purger:
    """Deletes expired rows now and then, in bounded batches, on the caller's clock."""

    def __init__(self, table: str, column: str, grace: float) -> None:
        self._sql = (
            f"DELETE FROM {table} WHERE key IN (SELECT key FROM {table}"
            f" WHERE {column} <= %s LIMIT {_PURGE_BATCH} FOR UPDATE SKIP LOCKED)"
        )
        self._next = float("-inf")
        self._grace = grace

    def maybe(self, conn: psycopg.Connection[Any], now: float) -> None:
        """Purge if due; a full batch means more are waiting, so stay due."""
        if now < self._next:
            return
        self._next = now + _PURGE_EVERY_S
        deleted = conn.execute(self._sql, (micros(now - self._grace),)).rowcount
        if deleted >= _PURGE_BATCH:
            self._next = now


class PostgresReplayStore:
    """Replay store: an upsert that only overwrites an expired row."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        table = f"{pool.namespace}_replay"
        self._purger = _Purger(table, "expires_us", REPLAY_GRACE_S)
        self._sql = (
            f"INSERT INTO {table} (key, expires_us) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET expires_us = EXCLUDED.expires_us"
            f" WHERE {table}.expires_us <= %s"
        )

    def add_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record key until expires_at. True if it was new, False if seen and unexpired."""
        check_replay(key, expires_at, now)
        with self._pool.connection() as conn:
            self._purger.maybe(conn, now)
            # rowcount is 1 when inserted or when an expired row was overwritten.
            return conn.execute(self._sql, (key, micros(expires_at), micros(now))).rowcount == 1


class PostgresCounterStore:
    """Counter store: insert missing rows, lock all in key order, evaluate, write back."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        t = f"{pool.namespace}_counters"
        self._purger = _Purger(t, "forget_us", 0.0)
        self._insert = f"INSERT INTO {t} (key) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING"
        self._lock = (
            f"SELECT key, calls, spent, tat FROM {t} WHERE key = ANY(%s) ORDER BY key FOR UPDATE"
        )
        self._update = (
            f"UPDATE {t} SET calls = v.calls, spent = v.spent, tat = v.tat,"
            f" forget_us = greatest({t}.forget_us, v.forget_us)"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])"
            f" AS v(key, calls, spent, tat, forget_us) WHERE {t}.key = v.key"
        )

    def charge(self, charges: Sequence[Charge], *, now: float) -> ChargeResult:
        """All-or-nothing: debit every charge, or none and say which limit refused."""
        limits = prepare(charges, now)
        if not limits:
            return ChargeResult(ok=True)
        keys = sorted(lim.key for lim in limits)
        with self._pool.connection() as conn:
            self._purger.maybe(conn, now)
            with conn.transaction():
                conn.execute(self._insert, (keys,))
                rows = conn.execute(self._lock, (keys,)).fetchall()
                states = {k: Counter(calls=c, spent=s, tat=t) for k, c, s, t in rows}
                result, updated = evaluate(limits, states, micros(now))
                if result.ok:
                    new = [updated[lim.key] for lim in limits]
                    conn.execute(self._update, (
                        [lim.key for lim in limits], [c.calls for c in new],
                        [c.spent for c in new], [c.tat for c in new],
                        [_forget_us(lim.expires_at) for lim in limits],
                    ))
        return result


def _forget_us(expires_at: float | None) -> int:
    return _FOREVER_US if expires_at is None else micros(expires_at + COUNTER_GRACE_S)


class PostgresRevocationStore:
    """Revocation store; ``seq`` is the change-feed cursor, assigned in commit order."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._t = f"{pool.namespace}_revocations"

    def add(self, revocation: Revocation) -> None:
        """Store a revocation; adding the same (jti, signer) again changes nothing."""
        r = revocation
        with self._pool.connection() as conn, conn.transaction():
            # Serialise writers so seq order is commit order: a replica reading the
            # feed with all_since(cursor) can never skip a row committed late.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._t,))
            conn.execute(
                f"INSERT INTO {self._t} (jti, signer, statement, issued_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (jti, signer) DO NOTHING",
                (r.jti, r.signer, r.statement, r.issued_at),
            )

    def find(self, jtis: Sequence[str]) -> list[Revocation]:
        """The stored revocations naming any of these token ids, in the order stored."""
        wanted = [check_text("jti", j) for j in dict.fromkeys(jtis)]
        if not wanted:
            return []
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT jti, signer, statement, issued_at FROM {self._t}"
                " WHERE jti = ANY(%s) ORDER BY seq", (wanted,),
            ).fetchall()
        return [Revocation(jti=j, signer=s, statement=st, issued_at=i) for j, s, st, i in rows]

    def all_since(self, cursor: int) -> tuple[list[Revocation], int]:
        """Revocations stored after ``cursor`` (0 = all), in order, and the new cursor."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT seq, jti, signer, statement, issued_at FROM {self._t}"
                " WHERE seq > %s ORDER BY seq", (cursor,),
            ).fetchall()
        found = [Revocation(jti=j, signer=s, statement=st, issued_at=i) for _, j, s, st, i in rows]
        return found, (int(rows[-1][0]) if rows else cursor)
