"""The decision log in PostgreSQL (psycopg 3), one schema per log.

Writers hold a session-level advisory lock keyed by the schema name for as long as
they are connected: an exclusive writer holds it exclusively, so a second writer is
refused with ``WriterLockHeld`` instead of forking the tree (DESIGN §5); shared
writers hold it shared, so any number of them may run, but never beside an
exclusive one. If the connection drops, so does the lock; the writer reconnects
and must win it again before it writes.

Every batch reads the stored size inside its own transaction (and, when another
writer appended, the O(log n) nodes it builds on, in one more round trip) and
appends at that size. Shared writers first take a second,
transaction-level advisory lock (``pg_advisory_xact_lock``, released by COMMIT or
ROLLBACK), which serialises their batches; ``lock_timeout`` bounds the wait so a
stuck peer fails appends closed instead of hanging them.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from writ._errors import ConfigurationError, StoreUnavailable
from writ.log._storage import (
    NodeKey,
    NodeRow,
    PlanBatch,
    StoredCheckpoint,
    WriterLockHeld,
    fixed_plan,
)

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


def _lock_key(schema: str, purpose: bytes = b"writer") -> int:
    """A signed 64-bit advisory lock key for this log: ``writer`` (session) or ``append`` (batch)."""
    digest = hashlib.sha256(b"writ.log." + purpose + b":" + schema.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_NODES = """
SELECT n.level, n.idx, n.hash FROM {s}.nodes n
JOIN unnest(%s::smallint[], %s::bigint[]) AS k(level, idx) ON n.level = k.level AND n.idx = k.idx
"""
_LOCK_WAIT = "30s"  # how long a batch waits for another writer's batch before failing closed


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Turn driver errors into ``StoreUnavailable`` (docs/architecture.md, Stores)."""
    try:
        yield
    except psycopg.Error as exc:
        raise StoreUnavailable(f"PostgreSQL log: {what} failed: {exc}") from exc


class PostgresStore:
    """One log in one PostgreSQL schema; ``writer=True`` takes the lock and creates tables.

    ``exclusive`` (for writers) picks the mode: alone, or beside other shared writers.
    """

    def __init__(self, url: str, *, name: str, writer: bool, exclusive: bool = True) -> None:
        self._url, self.schema = url, schema_name(name)
        self.exclusive = exclusive
        self._append_key = _lock_key(self.schema, b"append")
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
                try_lock = "pg_try_advisory_lock" + ("" if self.exclusive else "_shared")
                taken = conn.execute(
                    sql.SQL("SELECT {}(%s)").format(sql.Identifier(try_lock)),
                    (_lock_key(self.schema),),
                ).fetchone()
                if not taken or not taken[0]:
                    held = "another writer holds" if self.exclusive else "an exclusive writer holds"
                    raise WriterLockHeld(
                        f"PostgreSQL log {self.schema!r}: {held} its advisory lock"
                    )
                # An acknowledged append must survive a crash, whatever the server default.
                conn.execute("SET synchronous_commit = on")
                conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(_LOCK_WAIT)))
                conn.execute(self._ddl())
        except BaseException:
            conn.close()
            raise
        return conn

    def _ddl(self) -> sql.Composed:
        # One implicit transaction (a multi-statement simple query) under the append lock:
        # shared writers starting together would otherwise race on CREATE OR REPLACE.
        lock = sql.SQL("SELECT pg_advisory_xact_lock({});").format(sql.Literal(self._append_key))
        parts = [lock, sql.SQL(_SCHEMA).format(s=self._s)]
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

    def append_batch(self, leaves: Sequence[bytes], plan: PlanBatch) -> int:
        """Append at the stored size in one transaction; durable when this returns."""
        conn = self._writer()
        # Two round trips: BEGIN, the lock and the size; then the inserts and COMMIT (plus
        # one for the nodes when another writer appended since this one's last batch).
        with _unavailable("an append"), conn.pipeline(), conn.transaction():
            if not self.exclusive:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._append_key,))
            size = conn.execute(self._sql("SELECT COALESCE(MAX(idx) + 1, 0) FROM {s}.entries"))
            first = int(size.fetchone()[0])  # type: ignore[index]
            nodes, checkpoint = plan(first, lambda keys: self._nodes(conn, keys))
            self._insert(conn, first, leaves, nodes, checkpoint)
        return first

    def write_batch(
        self,
        first: int,
        leaves: Sequence[bytes],
        nodes: Sequence[NodeRow],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        """Append precomputed rows in one transaction; refuse unless ``first`` is the size."""
        self.append_batch(leaves, fixed_plan(first, nodes, checkpoint))

    def _nodes(
        self, conn: psycopg.Connection[Any], keys: Sequence[NodeKey]
    ) -> dict[NodeKey, bytes]:
        """Several nodes in one query, inside the batch's transaction."""
        rows = conn.execute(
            self._sql(_NODES), ([lv for lv, _ in keys], [i for _, i in keys])
        ).fetchall()
        found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
        for level, index in keys:
            if (level, index) not in found:
                raise StoreUnavailable(f"PostgreSQL log: node ({level}, {index}) is missing")
        return found

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        first: int,
        leaves: Sequence[bytes],
        nodes: Sequence[NodeRow],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        levels, indexes, hashes = zip(*nodes, strict=True) if nodes else ((), (), ())
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
        """Close both connections, releasing the writer's advisory lock first."""
        with self._read_lock:
            self._read.close()
        if self._write is not None:
            # The server drops a closed session's locks only once it has processed the
            # disconnect, so a writer opened right after close() could still be refused.
            with contextlib.suppress(psycopg.Error):
                if not self._write.broken:
                    self._write.execute("SELECT pg_advisory_unlock_all()")
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
