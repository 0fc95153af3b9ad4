"""The decision log in one SQLite file (WAL, ``synchronous=FULL``).

Writers hold a ``flock`` on ``<file>-writer`` for as long as they are open: an
exclusive writer holds it exclusively (a second writer is refused), shared writers
hold it shared (any number of them, but no exclusive one beside them). The kernel
releases it if a writer dies. Every batch runs in ``BEGIN IMMEDIATE``, reads the
stored size and the nodes it builds on inside that transaction, and inserts at that
size, so writers can never interleave within a batch. Shared writers first take a
blocking exclusive ``flock`` on ``<file>-append`` for the batch: the kernel queues
them and wakes the next at once, where SQLite's busy handler would poll with sleeps
(measured: 25-40 % more appends/s with two to four writer processes). That wait has
no timeout: a holder keeps the lock for one transaction and the kernel drops it if
the holder dies, but a stopped (SIGSTOP) peer stalls the other writers until it
resumes. Readers need no lock: WAL lets them read while a writer appends.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from writ._errors import StoreUnavailable
from writ.log._storage import (
    NodeKey,
    NodeRow,
    PlanBatch,
    StoredCheckpoint,
    WriterLockHeld,
    fixed_plan,
)

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY, root BLOB NOT NULL, note BLOB, created REAL NOT NULL
);
"""

# UPDATE and DELETE are refused on every table. INSERT OR REPLACE deletes without
# firing DELETE triggers, so inserts must also extend the log: the next index only,
# and never a node or checkpoint that exists (a repeated checkpoint is ignored).
_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS entries_insert BEFORE INSERT ON entries
WHEN NEW.idx IS NOT (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries)
BEGIN SELECT RAISE(ABORT, 'writ log: entries only grow by the next index'); END;
CREATE TRIGGER IF NOT EXISTS nodes_insert BEFORE INSERT ON nodes
WHEN EXISTS (SELECT 1 FROM nodes WHERE level = NEW.level AND idx = NEW.idx)
BEGIN SELECT RAISE(ABORT, 'writ log: nodes are written once'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_insert BEFORE INSERT ON checkpoints
WHEN EXISTS (SELECT 1 FROM checkpoints WHERE size = NEW.size)
BEGIN SELECT RAISE(IGNORE); END;
"""
_REFUSE = """
CREATE TRIGGER IF NOT EXISTS {table}_no_{op} BEFORE {op} ON {table}
BEGIN SELECT RAISE(ABORT, 'writ log: {table} is append-only ({op} refused)'); END;
"""

_SIZE = "SELECT COALESCE(MAX(idx) + 1, 0) FROM entries"


def _schema() -> str:
    refusals = (
        _REFUSE.format(table=t, op=op)
        for t in ("entries", "nodes", "checkpoints")
        for op in ("UPDATE", "DELETE")
    )
    return _SCHEMA + _TRIGGERS + "".join(refusals)


def _connect(path: str, *, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode; transactions are explicit."""
    target = f"file:{path}?mode=ro" if readonly else path
    conn = sqlite3.connect(
        target, uri=readonly, isolation_level=None, check_same_thread=False, timeout=30.0
    )
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.text_factory = bytes  # the schema has no text; tampered TEXT values come back raw
    return conn


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Turn driver errors into ``StoreUnavailable`` (docs/architecture.md, Stores)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"SQLite log: {what} failed: {exc}") from exc


class SqliteStore:
    """One log in one SQLite file; ``writer=True`` takes the writer lock and creates tables.

    ``exclusive`` (for writers) picks the mode: alone, or beside other shared writers.
    """

    def __init__(self, path: str, *, writer: bool, exclusive: bool = True) -> None:
        self.path = path
        self._lock_fd: int | None = None
        self._append_fd: int | None = None
        self._write: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._read: sqlite3.Connection | None = None
        try:
            if writer:
                self._lock_fd = _take_writer_lock(path, exclusive=exclusive)
                if not exclusive:
                    self._append_fd = _open_lock_file(path + "-append")
                self._write = self._open_writer(path)
            self._read = _connect(path, readonly=not writer)
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreUnavailable(f"SQLite log: cannot open {path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _open_writer(self, path: str) -> sqlite3.Connection:
        conn = _connect(path, readonly=False)
        mode = _bytes(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).decode()
        if mode != "wal":
            raise StoreUnavailable(f"SQLite log: {path} cannot use WAL (journal_mode {mode})")
        # FULL: the WAL is synced at every commit, so an acknowledged append
        # survives power loss, not only a process crash.
        conn.execute("PRAGMA synchronous = FULL")
        conn.executescript(_schema())
        return conn

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock, _unavailable("a read"):
            if self._read is None:
                raise StoreUnavailable("SQLite log: closed")
            return self._read.execute(sql, args).fetchall()

    def read_size(self) -> int:
        """The number of entries."""
        return int(self._query(_SIZE)[0][0])

    def read_node(self, level: int, index: int) -> bytes:
        """The stored hash of a complete subtree."""
        rows = self._query("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index))
        if not rows:
            raise StoreUnavailable(f"SQLite log: node ({level}, {index}) is missing")
        return _bytes(rows[0][0])

    def read_entries(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Stored ``(idx, data)`` rows in ``[start, stop)``."""
        sql = "SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"
        return [(int(i), _bytes(d)) for i, d in self._query(sql, (start, stop))]

    def read_nodes(self, level: int, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Stored ``(idx, hash)`` rows of one level in ``[start, stop)``."""
        sql = "SELECT idx, hash FROM nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx"
        return [(int(i), _bytes(h)) for i, h in self._query(sql, (level, start, stop))]

    def node_levels(self) -> list[tuple[int, int]]:
        """``(level, largest idx)`` of every level present."""
        sql = "SELECT level, MAX(idx) FROM nodes GROUP BY level ORDER BY level"
        return [(int(lv), int(i)) for lv, i in self._query(sql)]

    def read_checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, by size."""
        rows = self._query("SELECT size, root, note, created FROM checkpoints ORDER BY size")
        return [
            StoredCheckpoint(
                size=int(s), root=bytes(r), note=None if n is None else bytes(n), created=float(c)
            )
            for s, r, n, c in rows
        ]

    def append_batch(self, leaves: Sequence[bytes], plan: PlanBatch) -> int:
        """Append at the stored size in one transaction; durable when this returns."""
        conn = self._writer()
        with self._append_lock(), _unavailable("an append"):
            conn.execute("BEGIN IMMEDIATE")  # the write lock: the size cannot move until COMMIT
            try:
                first = int(conn.execute(_SIZE).fetchone()[0])
                nodes, checkpoint = plan(first, lambda keys: _nodes(conn, keys))
                rows = zip(range(first, first + len(leaves)), leaves, strict=True)
                conn.executemany("INSERT INTO entries (idx, data) VALUES (?, ?)", rows)
                conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
                if checkpoint is not None:
                    _insert_checkpoint(conn, checkpoint)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
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

    @contextmanager
    def _append_lock(self) -> Iterator[None]:
        """Queue behind other shared writers' batches (blocking ``flock``; none when exclusive)."""
        fd = self._append_fd
        if fd is None:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            raise StoreUnavailable(f"SQLite log: cannot lock {self.path}-append: {exc}") from exc
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a checkpoint; an existing one for that size is kept."""
        conn = self._writer()
        with _unavailable("storing a checkpoint"):
            _insert_checkpoint(conn, checkpoint)

    def recover(self) -> None:
        """Roll back whatever a failed batch left open."""
        conn = self._writer()
        with _unavailable("recovery"):
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connections and release the writer lock."""
        with self._read_lock:
            if self._read is not None:
                self._read.close()
                self._read = None
        if self._write is not None:
            self._write.close()
            self._write = None
        for fd in (self._lock_fd, self._append_fd):
            if fd is not None:
                os.close(fd)  # closing the descriptor drops the flock
        self._lock_fd = self._append_fd = None

    def _writer(self) -> sqlite3.Connection:
        if self._write is None:
            raise StoreUnavailable("SQLite log: opened read-only")
        return self._write


def _bytes(value: object) -> bytes:
    """A BLOB as bytes; SQLite lets a tamperer store any type, which must not crash an audit."""
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    return str(value).encode()


def _insert_checkpoint(conn: sqlite3.Connection, cp: StoredCheckpoint) -> None:
    conn.execute(
        "INSERT INTO checkpoints (size, root, note, created) VALUES (?, ?, ?, ?)",
        (cp.size, cp.root, cp.note, cp.created),
    )


def _nodes(conn: sqlite3.Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    """Nodes read inside the writer's transaction (so they are the ones the batch builds on)."""
    found: dict[NodeKey, bytes] = {}
    for level, index in keys:
        row = conn.execute(
            "SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, index)
        ).fetchone()
        if row is None:
            raise StoreUnavailable(f"SQLite log: node ({level}, {index}) is missing")
        found[(level, index)] = _bytes(row[0])
    return found


def _open_lock_file(path: str) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _take_writer_lock(path: str, *, exclusive: bool) -> int:
    """Hold a flock on ``<path>-writer``: exclusive (alone) or shared (beside shared writers)."""
    fd = _open_lock_file(path + "-writer")
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        held = "another writer has it open" if exclusive else "an exclusive writer has it open"
        raise WriterLockHeld(f"SQLite log {path}: {held}") from None
    return fd
