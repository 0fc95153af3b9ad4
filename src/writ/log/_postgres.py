"""The decision log in PostgreSQL (psycopg 3), one schema per log.

One writer per log: the writer holds a session-level advisory lock keyed by the
schema name for as long as it is connected, so a second writer process is refused
with ``WriterLockHeld`` instead of forking the tree (DESIGN §5). If the connection
drops, so does the lock; the writer reconnects and must win it again before it
writes. Each batch also checks the stored size inside its transaction.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from writ._errors import ConfigurationError, StoreUnavailable
from writ.log._storage import NodeRow, StoredCheckpoint, WriterLockHeld

__all__ = ["PostgresStore"]

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_TABLES = ("entries", "nodes", "checkpoints")

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.entries (idx bigint PRIMARY KEY, data bytea NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.nodes (
    level smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS {s}.checkpoints (
    size bigint PRIMARY KEY, root bytea NOT NULL, note bytea, created double precision NOT NULL
);
CREATE OR REPLACE FUNCTION {s}.expect_size(expected bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE stored bigint;
BEGIN
    SELECT COALESCE(MAX(idx) + 1, 0) INTO stored FROM {s}.entries;
    IF stored <> expected THEN
        RAISE EXCEPTION 'writ log: % entries stored but the writer expected %', stored, expected;
    END IF;
END $$;
CREATE OR REPLACE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'writ log: % on %.% refused: the log is append-only',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME;
END $$;
"""
# Row triggers refuse UPDATE (which INSERT ... ON CONFLICT DO UPDATE also fires)
# and DELETE; a statement trigger refuses TRUNCATE, which row triggers do not see.
_TRIGGERS = """
CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON {s}.{t}
    FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();
CREATE OR REPLACE TRIGGER no_truncate BEFORE TRUNCATE ON {s}.{t}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();
"""
# Auditors read with any role (the entries hold commitments, never raw personal data).
_GRANTS = """
GRANT USAGE ON SCHEMA {s} TO PUBLIC;
GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO PUBLIC;
"""


def schema_name(name: str) -> str:
    """Check a log name; it becomes the schema that holds the log's tables."""
    if not _NAME.fullmatch(name):
        raise ConfigurationError(f"log name {name!r} must match {_NAME.pattern}")
    return name


def _lock_key(schema: str) -> int:
    """A signed 64-bit advisory lock key for this log."""
    digest = hashlib.sha256(b"writ.log.writer:" + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Turn driver errors into ``StoreUnavailable`` (docs/architecture.md, Stores)."""
    try:
        yield
    except psycopg.Error as exc:
        raise StoreUnavailable(f"PostgreSQL log: {what} failed: {exc}") from exc


class PostgresStore:
    """One log in one PostgreSQL schema; ``writer=True`` takes the lock and creates tables."""

    def __init__(self, url: str, *, name: str, writer: bool) -> None:
        self._url, self.schema = url, schema_name(name)
        self._s = sql.Identifier(self.schema)
        self._read_lock = threading.Lock()
        self._write: psycopg.Connection[Any] | None = None
        with _unavailable("connecting"):
            self._read = psycopg.connect(url, autocommit=True)
        if writer:
            try:
                self._write = self._open_writer()
            except BaseException:
                self._read.close()
                raise

    def _open_writer(self) -> psycopg.Connection[Any]:
        with _unavailable("connecting the writer"):
            conn = psycopg.connect(self._url, autocommit=True)
        try:
            with _unavailable("taking the writer lock"):
                taken = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (_lock_key(self.schema),)
                ).fetchone()
                if not taken or not taken[0]:
                    raise WriterLockHeld(
                        f"PostgreSQL log {self.schema!r}: another writer holds its advisory lock"
                    )
                # An acknowledged append must survive a crash, whatever the server default.
                conn.execute("SET synchronous_commit = on")
                conn.execute(self._ddl())
        except BaseException:
            conn.close()
            raise
        return conn

    def _ddl(self) -> sql.Composed:
        parts = [sql.SQL(_SCHEMA).format(s=self._s)]
        for table in _TABLES:
            parts.append(sql.SQL(_TRIGGERS).format(s=self._s, t=sql.Identifier(table)))
        parts.append(sql.SQL(_GRANTS).format(s=self._s))
        return sql.Composed(parts)

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)

    def _query(self, text: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock, _unavailable("a read"):
            if self._read.broken:  # a server restart; the next read gets a new connection
                self._read.close()
                self._read = psycopg.connect(self._url, autocommit=True)
            return self._read.execute(self._sql(text), args).fetchall()

    def read_size(self) -> int:
        """The number of entries."""
        return int(self._query("SELECT COALESCE(MAX(idx) + 1, 0) FROM {s}.entries")[0][0])

    def read_node(self, level: int, index: int) -> bytes:
        """The stored hash of a complete subtree."""
        text = "SELECT hash FROM {s}.nodes WHERE level = %s AND idx = %s"
        rows = self._query(text, (level, index))
        if not rows:
            raise StoreUnavailable(f"PostgreSQL log: node ({level}, {index}) is missing")
        return bytes(rows[0][0])

    def read_entries(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Stored ``(idx, data)`` rows in ``[start, stop)``."""
        text = "SELECT idx, data FROM {s}.entries WHERE idx >= %s AND idx < %s ORDER BY idx"
        return [(int(i), bytes(d)) for i, d in self._query(text, (start, stop))]

    def read_nodes(self, level: int, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Stored ``(idx, hash)`` rows of one level in ``[start, stop)``."""
        text = (
            "SELECT idx, hash FROM {s}.nodes WHERE level = %s AND idx >= %s AND idx < %s"
            " ORDER BY idx"
        )
        return [(int(i), bytes(h)) for i, h in self._query(text, (level, start, stop))]

    def node_levels(self) -> list[tuple[int, int]]:
        """``(level, largest idx)`` of every level present."""
        text = "SELECT level, MAX(idx) FROM {s}.nodes GROUP BY level ORDER BY level"
        return [(int(lv), int(i)) for lv, i in self._query(text)]

    def read_checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, by size."""
        text = "SELECT size, root, note, created FROM {s}.checkpoints ORDER BY size"
        return [
            StoredCheckpoint(
                size=int(s), root=bytes(r), note=None if n is None else bytes(n), created=float(c)
            )
            for s, r, n, c in self._query(text)
        ]

    def write_batch(
        self,
        first: int,
        leaves: Sequence[bytes],
        nodes: Sequence[NodeRow],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        """Append in one transaction; durable when this returns."""
        conn = self._writer()
        levels, indexes, hashes = zip(*nodes, strict=True) if nodes else ((), (), ())
        # One pipeline, one round trip: the size check raises server-side, which
        # aborts the transaction, so nothing after it is applied and COMMIT rolls back.
        with _unavailable("an append"), conn.pipeline(), conn.transaction():
            conn.execute(self._sql("SELECT {s}.expect_size(%s)"), (first,))
            conn.execute(
                self._sql(
                    "INSERT INTO {s}.entries (idx, data)"
                    " SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
                ),
                (list(range(first, first + len(leaves))), list(leaves)),
            )
            conn.execute(
                self._sql(
                    "INSERT INTO {s}.nodes (level, idx, hash)"
                    " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])"
                ),
                (list(levels), list(indexes), list(hashes)),
            )
            if checkpoint is not None:
                self._insert_checkpoint(conn, checkpoint)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a checkpoint; an existing one for that size is kept."""
        conn = self._writer()
        with _unavailable("storing a checkpoint"):
            self._insert_checkpoint(conn, checkpoint)

    def _insert_checkpoint(self, conn: psycopg.Connection[Any], cp: StoredCheckpoint) -> None:
        text = (
            "INSERT INTO {s}.checkpoints (size, root, note, created) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (size) DO NOTHING"
        )
        conn.execute(self._sql(text), (cp.size, cp.root, cp.note, cp.created))

    def recover(self) -> None:
        """Reconnect after a lost connection; the lock went with it and must be won again."""
        conn = self._writer()
        if conn.closed or conn.broken:
            conn.close()
            self._write = None
            self._write = self._open_writer()

    def close(self) -> None:
        """Close both connections; closing the writer's releases the advisory lock."""
        with self._read_lock:
            self._read.close()
        if self._write is not None:
            self._write.close()
            self._write = None

    def drop(self) -> None:
        """Drop this log's schema and everything in it (for tests and benchmarks)."""
        with _unavailable("dropping the log"):
            self._read.execute(self._sql("DROP SCHEMA IF EXISTS {s} CASCADE"))

    def _writer(self) -> psycopg.Connection[Any]:
        if self._write is None:
            raise StoreUnavailable("PostgreSQL log: opened read-only")
        return self._write
