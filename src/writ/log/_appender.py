"""Durable appends with natural group commit, and opening a log by URL.

Callers queue their leaves; one writer thread takes everything that has queued up,
writes it in one transaction, commits, and only then wakes each caller with its
own index (DESIGN §5: the action runs only after its entry is durable). There is
no timer: while one batch commits, the next one fills, so the batch size follows
the load. A failed commit fails every caller of that batch with
``StoreUnavailable``; nothing is acknowledged that is not durable.

Several processes may write one log (replicas, ``--workers N``): in the default
shared mode each batch takes the store's append lock, reads the stored size inside
its transaction and, if another writer appended since, reloads the tree's right
edge (O(log n) stored nodes) before computing its own nodes and checkpoint. An
exclusive writer (``exclusive=True``) is alone for its lifetime, keeps the tree in
memory and refuses to build on anything it did not write.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from writ._errors import ConfigurationError, MalformedError, StoreUnavailable
from writ.log._merkle import (
    Frontier,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)
from writ.log._storage import (
    MAX_LEAF_BYTES,
    LogReader,
    NodeKey,
    NodeRow,
    NodesReader,
    StoredCheckpoint,
    WritableStore,
)

__all__ = ["AppendResult", "LogWriter", "open_log", "open_log_reader"]

_log = logging.getLogger("writ.log")

SignCheckpoint = Callable[[int, bytes], bytes]
OnCommit = Callable[[int, bytes], None]


@dataclass(frozen=True, kw_only=True)
class AppendResult:
    """Where a leaf landed: its index, and the tree head of the batch that committed it."""

    index: int
    leaf_hash: bytes
    size_after: int
    root_after: bytes
    checkpoint: bytes | None
    """The signed note stored with the batch, when the writer signs checkpoints."""


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[AppendResult]", int]


class _Batch:
    """Leaves that queued up together, and how each caller learns the outcome."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.done = threading.Event()
        self.waiters: list[_Waiter] = []
        self.error: StoreUnavailable | None = None
        self.first = 0
        self.hashes: list[bytes] = []
        self.head: tuple[int, bytes, bytes | None] = (0, b"", None)

    def result(self, position: int) -> AppendResult:
        """The outcome for the caller whose leaf is at ``position``; raises on failure."""
        if self.error is not None:
            raise self.error
        size, root, note = self.head
        return AppendResult(
            index=self.first + position,
            leaf_hash=self.hashes[position],
            size_after=size,
            root_after=root,
            checkpoint=note,
        )

    def finish(self) -> None:
        """Wake the threads, then hand each event loop its futures in one call."""
        self.done.set()
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[AppendResult], int]]]
        by_loop = {}
        for loop, future, position in self.waiters:
            by_loop.setdefault(loop, []).append((future, position))
        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._settle, futures)
            except RuntimeError:  # that loop has closed; its callers are gone
                pass

    def _settle(self, futures: list[tuple[asyncio.Future[AppendResult], int]]) -> None:
        for future, position in futures:
            if future.done():
                continue  # cancelled by its caller; the entry is durable all the same
            try:
                future.set_result(self.result(position))
            except StoreUnavailable as exc:
                future.set_exception(exc)


class LogWriter(LogReader):
    """A writer of a log: durable appends with group commit, plus the read API.

    ``exclusive`` says how the store was opened: alone (the tree lives in memory) or
    shared with other writers (the tree is re-read whenever another writer appended).
    ``sign_checkpoint(size, root)`` (optional) returns a signed checkpoint note; it is
    called inside each batch's transaction, once the batch's place in the tree is
    known, stored with it, and handed to every caller of the batch.
    ``on_commit(size, root)`` runs after each commit; its errors are logged, never
    raised into callers whose entries are durable. Both run on the writer thread, so
    they must not call ``append`` (it would wait on itself).
    """

    def __init__(
        self,
        store: WritableStore,
        *,
        sign_checkpoint: SignCheckpoint | None = None,
        on_commit: OnCommit | None = None,
        clock: Callable[[], float] = time.time,
        exclusive: bool = True,
    ) -> None:
        super().__init__(store)
        self._wstore, self.exclusive = store, exclusive
        self._sign, self._on_commit, self._clock = sign_checkpoint, on_commit, clock
        self._frontier = Frontier.load(store.read_size(), store.read_node)
        self._cv = threading.Condition()  # guards the queue
        self._write_lock = threading.Lock()  # guards the writer connection
        self._pending = _Batch()
        self._closed = False
        self._broken = False
        self._thread = threading.Thread(target=self._run, name="writ-log-writer", daemon=True)
        self._thread.start()

    def append(self, leaf: bytes) -> AppendResult:
        """Append a leaf and block until it is durable; raises ``StoreUnavailable`` if not."""
        batch, position = self._enqueue(leaf, None)
        batch.done.wait()
        return batch.result(position)

    async def append_async(self, leaf: bytes) -> AppendResult:
        """Append a leaf and wait, without blocking the event loop, until it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._enqueue(leaf, (loop, future))
        return await future

    def _enqueue(
        self,
        leaf: bytes,
        waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[AppendResult]] | None,
    ) -> tuple[_Batch, int]:
        if not isinstance(leaf, bytes) or len(leaf) > MAX_LEAF_BYTES:
            raise MalformedError(f"a log leaf is bytes of at most {MAX_LEAF_BYTES} bytes")
        with self._cv:
            if self._closed:
                raise StoreUnavailable("the decision log is closed")
            batch = self._pending
            position = len(batch.leaves)
            batch.leaves.append(leaf)
            if waiter is not None:
                batch.waiters.append((waiter[0], waiter[1], position))
            if position == 0:
                self._cv.notify()
        return batch, position

    def size(self) -> int:
        """The number of committed entries (from memory when this writer is exclusive)."""
        return self._frontier.size if self.exclusive else self._store.read_size()

    def root(self, size: int | None = None) -> bytes:
        """The Merkle Tree Hash of the first ``size`` entries (all committed ones by default)."""
        frontier = self._frontier  # replaced, never mutated, once committed
        if size == frontier.size or (size is None and self.exclusive):
            return frontier.root()  # a committed prefix: no other writer can change it
        return super().root(size)

    def add_checkpoint(self, size: int, root: bytes, note: bytes | None) -> None:
        """Store a checkpoint signed outside a batch (for example by an ``on_commit`` hook)."""
        cp = StoredCheckpoint(size=size, root=root, note=note, created=self._clock())
        with self._write_lock:
            self._wstore.add_checkpoint(cp)

    def close(self) -> None:
        """Commit what is queued, stop the writer thread, and release the writer lock."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()
        super().close()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending.leaves and not self._closed:
                    self._cv.wait()
                batch, self._pending = self._pending, _Batch()
                if not batch.leaves:
                    return  # closed and drained
            try:
                with self._write_lock:  # the next batch fills while this one commits
                    self._commit(batch)
            finally:  # whatever happens, no caller is left waiting
                if batch.error is None and batch.head[0] == 0:
                    batch.error = StoreUnavailable("decision log: the writer thread stopped")
                batch.finish()
            if batch.error is None and self._on_commit is not None:
                self._notify(batch.head[0], batch.head[1])

    def _bounded(self, size: int | None) -> int:
        if size is not None and 0 <= size <= self._frontier.size:
            return size  # committed by this writer or seen by it: no read needed
        return super()._bounded(size)

    def _commit(self, batch: _Batch) -> None:
        """Write one batch; on success advance the tree, on failure fail the whole batch."""
        planned: list[tuple[Frontier, StoredCheckpoint | None]] = []

        def plan(size: int, read: NodesReader) -> tuple[list[NodeRow], StoredCheckpoint | None]:
            # Runs under the store's append lock, inside the batch's transaction.
            planned.clear()
            frontier = self._frontier_at(size, read)
            nodes: list[NodeRow] = []
            for h in batch.hashes:
                nodes.extend(frontier.append(h))
            planned.append((frontier, self._checkpoint(frontier.size, frontier.root())))
            return nodes, planned[-1][1]

        try:
            if self._broken:
                self._recover()
            batch.hashes = [leaf_hash(leaf) for leaf in batch.leaves]
            batch.first = self._wstore.append_batch(batch.leaves, plan)
        except Exception as exc:  # noqa: BLE001 - whatever failed, no caller may proceed
            self._broken = True
            batch.error = _as_unavailable(exc)
            return
        frontier, cp = planned[-1]
        batch.head = (frontier.size, frontier.root(), None if cp is None else cp.note)
        self._frontier = frontier

    def _recover(self) -> None:
        """After a failure: reconnect, and catch up with what is stored (a batch whose
        acknowledgement was lost may have committed), through the same checked reload."""
        store = self._wstore
        store.recover()
        size = store.read_size()
        if size != self._frontier.size:
            read = store.read_node
            self._frontier = self._reload(size, lambda keys: {k: read(*k) for k in keys})
        self._broken = False

    def _frontier_at(self, size: int, read: NodesReader) -> Frontier:
        """A copy of the tree of ``size`` stored entries, to extend with this batch."""
        current = self._frontier
        if size == current.size:
            return current.copy()
        if self.exclusive:  # someone wrote behind the writer lock
            raise StoreUnavailable(
                f"decision log: {size} entries stored but the writer expected {current.size}"
            )
        return self._reload(size, read)  # another shared writer appended

    def _reload(self, size: int, read: NodesReader) -> Frontier:
        """The stored tree of ``size`` entries, proven to extend the one this writer holds."""
        current = self._frontier
        if size < current.size:
            raise StoreUnavailable(
                f"decision log: {size} entries stored but this writer committed {current.size}"
            )
        # Read the O(log n) nodes of the new edge and of the proof that it extends the tree
        # this writer last saw (RFC 9162 §2.1.4), all at once, so edited nodes can never
        # make this writer sign a checkpoint over a fork.
        stored = read(_reads(current.size, size))
        frontier = Frontier.load(size, lambda level, index: stored[(level, index)])
        if current.size and not verify_consistency(
            current.size,
            size,
            consistency_proof(current.size, size, lambda level, index: stored[(level, index)]),
            current.root(),
            frontier.root(),
        ):
            raise StoreUnavailable(
                f"decision log: the stored tree of {size} entries does not extend the tree of "
                f"{current.size} this writer committed; refusing to build on it"
            )
        return frontier

    def _checkpoint(self, size: int, root: bytes) -> StoredCheckpoint | None:
        if self._sign is None:
            return None
        return StoredCheckpoint(
            size=size, root=root, note=self._sign(size, root), created=self._clock()
        )

    def _notify(self, size: int, root: bytes) -> None:
        assert self._on_commit is not None
        try:
            self._on_commit(size, root)
        except Exception:  # noqa: BLE001 - the batch is durable and acknowledged already
            _log.exception("writ.log on_commit hook failed at size %d", size)


def _reads(old: int, new: int) -> list[NodeKey]:
    """The nodes loading the tree of ``new`` and proving it extends ``old`` will read (no I/O)."""
    keys: dict[NodeKey, None] = {}

    def record(level: int, index: int) -> bytes:
        keys[(level, index)] = None
        return bytes(32)  # which nodes a proof reads depends on the sizes only

    Frontier.load(new, record)
    if old:
        consistency_proof(old, new, record)
    return list(keys)


def _as_unavailable(exc: Exception) -> StoreUnavailable:
    if isinstance(exc, StoreUnavailable):
        return exc
    error = StoreUnavailable(f"decision log: append failed: {exc!r}")
    error.__cause__ = exc
    return error


def _open_store(url: str, *, name: str, writer: bool, exclusive: bool = True) -> WritableStore:
    """The backend for a URL: ``sqlite:///abs/log.db``, ``sqlite:rel.db`` or ``postgresql://…``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from writ.log._sqlite import SqliteStore

        if not parts.path or parts.path == "/":
            raise ConfigurationError(f"log URL {url!r} names no file")
        if parts.query or parts.netloc:
            # No options: the log is always WAL with synchronous=FULL (DESIGN §5).
            raise ConfigurationError(f"log URL {url!r}: use sqlite:///abs/path.db")
        return SqliteStore(parts.path, writer=writer, exclusive=exclusive)
    if parts.scheme in ("postgresql", "postgres"):
        from writ.log._postgres import PostgresStore

        return PostgresStore(url, name=name, writer=writer, exclusive=exclusive)
    raise ConfigurationError(f"log URL {url!r}: use sqlite:///path or postgresql://…")


def open_log(
    url: str,
    *,
    name: str = "writ_log",
    sign_checkpoint: SignCheckpoint | None = None,
    on_commit: OnCommit | None = None,
    clock: Callable[[], float] = time.time,
    exclusive: bool = False,
) -> LogWriter:
    """Open a log as a writer; ``name`` picks the PostgreSQL schema.

    By default the writer is shared: other processes may open the same log and
    append too (each batch is serialised by the store's append lock). With
    ``exclusive=True`` it must be the only writer; ``WriterLockHeld`` otherwise.
    """
    store = _open_store(url, name=name, writer=True, exclusive=exclusive)
    try:
        return LogWriter(
            store,
            sign_checkpoint=sign_checkpoint,
            on_commit=on_commit,
            clock=clock,
            exclusive=exclusive,
        )
    except BaseException:
        store.close()
        raise


def open_log_reader(url: str, *, name: str = "writ_log") -> LogReader:
    """Open a log for reading and auditing only; it takes no lock."""
    return LogReader(_open_store(url, name=name, writer=False))
