"""The decision log's storage contract, its read API, and the integrity audit.

A backend keeps three append-only tables (DESIGN §5 "Storage"): ``entries(idx, data)``,
``nodes(level, idx, hash)`` holding every *complete* subtree (level 0 is the leaf
hashes), and ``checkpoints(size, root, note, created)``. Because every complete
subtree is stored, any root or proof needs O(log n) node reads (``_merkle``).

Triggers refuse UPDATE and DELETE, but whoever holds the database file or a
superuser role can drop them; ``verify_integrity`` recomputes the whole tree from
the entries and names the first row that no longer fits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from writ._errors import StoreUnavailable
from writ.log import _merkle
from writ.log._merkle import Frontier, leaf_hash

__all__ = [
    "MAX_LEAF_BYTES",
    "IntegrityProblem",
    "IntegrityReport",
    "LogReader",
    "NodeKey",
    "NodeRow",
    "NodesReader",
    "PlanBatch",
    "Store",
    "StoredCheckpoint",
    "WritableStore",
    "WriterLockHeld",
    "check_integrity",
    "fixed_plan",
]

MAX_LEAF_BYTES = 64 * 1024
"""Largest leaf the log accepts (DESIGN §5: a JCS decision record of at most 64 KiB)."""

NodeRow = tuple[int, int, bytes]
"""``(level, index, hash)`` of one complete subtree."""

_CHUNK = 4096  # entries per read while auditing; a power of two keeps node ranges aligned


class WriterLockHeld(StoreUnavailable):
    """A writer that excludes this one holds the log; writing anyway could fork the tree.

    An exclusive writer keeps its tree in memory and must be alone; shared writers
    reload the tree under a per-batch lock, so they may be many, but never beside
    an exclusive one (DESIGN §5).
    """


@dataclass(frozen=True, kw_only=True)
class StoredCheckpoint:
    """A row of the ``checkpoints`` table: a tree head and, when signed, its note."""

    size: int
    root: bytes
    note: bytes | None
    created: float


NodeKey = tuple[int, int]
"""``(level, index)`` of one complete subtree."""

NodesReader = Callable[[Sequence[NodeKey]], dict[NodeKey, bytes]]
"""Reads several stored nodes at once (one round trip); ``StoreUnavailable`` if one is missing."""

PlanBatch = Callable[[int, NodesReader], tuple[Sequence[NodeRow], StoredCheckpoint | None]]
"""``plan(size, read)``: given the stored size and a reader of the stored nodes (both under
the append lock, in the batch's transaction), the nodes and checkpoint the batch adds."""


class Store(Protocol):
    """Read access to one log's tables; methods raise only ``StoreUnavailable``."""

    def read_size(self) -> int:
        """The number of entries (one more than the largest index)."""

    def read_node(self, level: int, index: int) -> bytes:
        """The stored hash of a complete subtree."""

    def read_entries(self, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Stored ``(idx, data)`` rows with ``start <= idx < stop``, in order."""

    def read_nodes(self, level: int, start: int, stop: int) -> list[tuple[int, bytes]]:
        """Stored ``(idx, hash)`` rows of one level with ``start <= idx < stop``, in order."""

    def node_levels(self) -> list[tuple[int, int]]:
        """``(level, largest idx)`` for every level present."""

    def read_checkpoints(self) -> list[StoredCheckpoint]:
        """Every stored checkpoint, by size."""

    def close(self) -> None:
        """Release connections and locks."""


class WritableStore(Store, Protocol):
    """A store opened as a writer: alone (exclusive) or with other shared writers."""

    def append_batch(self, leaves: Sequence[bytes], plan: PlanBatch) -> int:
        """Append at the stored size in one transaction under the append lock; return that size.

        The lock serialises every writer of the log, so the size and nodes ``plan``
        sees are the ones the batch extends; durable when this returns.
        """

    def write_batch(
        self,
        first: int,
        leaves: Sequence[bytes],
        nodes: Sequence[NodeRow],
        checkpoint: StoredCheckpoint | None,
    ) -> None:
        """Append precomputed rows in one transaction; refuse unless ``first`` is the size."""

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        """Store a checkpoint; one already stored for that size is kept."""

    def recover(self) -> None:
        """After a failed write: reconnect if needed and make sure the lock is still held."""


def fixed_plan(
    first: int, nodes: Sequence[NodeRow], checkpoint: StoredCheckpoint | None
) -> PlanBatch:
    """A plan for rows computed in advance: valid only if the log still has ``first`` entries."""

    def plan(size: int, read: NodesReader) -> tuple[Sequence[NodeRow], StoredCheckpoint | None]:
        if size != first:
            raise StoreUnavailable(
                f"decision log: {size} entries stored but the writer expected {first}"
            )
        return nodes, checkpoint

    return plan


@dataclass(frozen=True, kw_only=True)
class IntegrityProblem:
    """One thing that broke: the table, the first bad row, and what was found."""

    table: str
    index: int
    level: int | None
    message: str


@dataclass(frozen=True, kw_only=True)
class IntegrityReport:
    """The result of recomputing the tree from the entries."""

    size: int
    root: bytes
    problems: tuple[IntegrityProblem, ...]

    @property
    def ok(self) -> bool:
        """True when nothing broke."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.size} entries, root {self.root.hex()}"
        return "; ".join(p.message for p in self.problems)


class _Audit:
    """Recomputes the tree from the entries chunk by chunk and collects what differs."""

    def __init__(self, store: Store, heads: dict[int, list[tuple[str, bytes]]]) -> None:
        self.store, self.heads = store, heads
        self.frontier = Frontier()
        self.problems: list[IntegrityProblem] = []
        self.changed: dict[int, list[int]] = {}  # level -> node indexes that differ
        self.missing: list[NodeRow] = []

    def run(self) -> None:
        """Read every entry in order; stop at the first gap."""
        while True:
            start = self.frontier.size
            rows = self.store.read_entries(start, start + _CHUNK)
            made: list[NodeRow] = []
            for idx, data in rows:
                if idx != self.frontier.size:
                    break
                made.extend(self.frontier.append(leaf_hash(data)))
                self.check_heads()
            self._compare(made)
            if len(rows) < _CHUNK or idx != self.frontier.size - 1:
                return

    def check_heads(self) -> None:
        """Compare the heads of the current size with the recomputed root."""
        size = self.frontier.size
        for source, root in self.heads.pop(size, []):
            if root != self.frontier.root():
                self._add(
                    "entries",
                    max(size - 1, 0),
                    None,
                    f"entries: the tree of the first {size} entries does not match the {source} "
                    f"at size {size}: an entry before index {size}"
                    + (" or that checkpoint row" if source.startswith("stored") else "")
                    + " was changed",
                )

    def _compare(self, made: list[NodeRow]) -> None:
        by_level: dict[int, list[tuple[int, bytes]]] = {}
        for level, index, h in made:
            by_level.setdefault(level, []).append((index, h))
        for level, items in sorted(by_level.items()):
            stored = dict(self.store.read_nodes(level, items[0][0], items[-1][0] + 1))
            for index, h in items:
                found = stored.get(index)
                if found is None:
                    self.missing.append((level, index, h))
                elif found != h:
                    self.changed.setdefault(level, []).append(index)

    def _add(self, table: str, index: int, level: int | None, message: str) -> None:
        self.problems.append(
            IntegrityProblem(table=table, index=index, level=level, message=message)
        )

    def explain(self) -> None:
        """Turn the differences into problems, naming the table that was edited."""
        self._explain_gap_and_tail()
        for level, index, _ in self.missing[:1]:
            self._add("nodes", index, level, f"nodes: ({level}, {index}) is missing (deleted)")
        changed = {(lv, i) for lv, idxs in self.changed.items() for i in idxs}
        for level, index in sorted(changed):
            below = {(level - 1, 2 * index), (level - 1, 2 * index + 1)}
            if level > 0 and below & changed:
                continue  # follows from a change lower down
            self._explain_change(level, index, changed)
        gap = self.store.read_size() > self.frontier.size
        for size, sources in sorted(self.heads.items()):
            for source, _ in sources:
                self._add(
                    "entries",
                    self.frontier.size,
                    None,
                    f"entries: the {source} at size {size} cannot be checked past the missing "
                    f"row {self.frontier.size}"
                    if gap
                    else f"entries: the {source} commits to {size} entries but only "
                    f"{self.frontier.size} remain: the tail was truncated",
                )

    def _explain_change(self, level: int, index: int, changed: set[tuple[int, int]]) -> None:
        if level == 0 and (1, index >> 1) in changed:
            # The stored tree above still agrees with the old value: the entry was edited.
            self._add("entries", index, None, f"entries: row {index} was modified")
        elif level == 0 and index >> 1 >= self.frontier.size >> 1:
            self._add("entries", index, None, f"entries: row {index} or its leaf hash was modified")
        else:
            self._add(
                "nodes", index, level, f"nodes: ({level}, {index}) does not match the entries"
            )

    def _explain_gap_and_tail(self) -> None:
        size, stored = self.frontier.size, self.store.read_size()
        if stored > size:
            self._add("entries", size, None, f"entries: row {size} is missing (deleted)")
            return
        for level, largest in self.store.node_levels():
            if largest < size >> level:
                continue  # every stored node of this level lies inside the tree
            self._add(
                "entries",
                size,
                level,
                f"entries: rows from {size} are missing but nodes ({level}, {largest}) still "
                "covers them: the tail was deleted",
            )
            return


def check_integrity(store: Store, heads: Iterable[tuple[int, bytes]] = ()) -> IntegrityReport:
    """Recompute every leaf hash and node from the entries and compare with what is stored.

    ``heads`` are ``(size, root)`` pairs the caller trusts (from signed checkpoints);
    the stored checkpoints are checked too. A head larger than the log reveals a
    truncated tail even when the truncation removed the matching nodes.
    """
    expected: dict[int, list[tuple[str, bytes]]] = {}
    for cp in store.read_checkpoints():
        expected.setdefault(cp.size, []).append(("stored checkpoint", cp.root))
    for size, root in heads:
        expected.setdefault(size, []).append(("given checkpoint", root))
    audit = _Audit(store, expected)
    audit.check_heads()  # heads of the empty tree
    audit.run()
    audit.explain()
    problems = sorted(audit.problems, key=lambda p: (p.index, p.level or 0))
    return IntegrityReport(
        size=audit.frontier.size, root=audit.frontier.root(), problems=tuple(problems)
    )


class LogReader:
    """Read access for auditors: entries, roots and proofs. Needs no writer lock."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connections."""
        self._store.close()

    def size(self) -> int:
        """The number of committed entries."""
        return self._store.read_size()

    def entry(self, index: int) -> bytes:
        """The leaf bytes at ``index``."""
        rows = self._store.read_entries(index, index + 1)
        if index < 0 or not rows:
            raise IndexError(f"no entry {index} in the log")
        return rows[0][1]

    def entries(self, start: int, stop: int) -> list[bytes]:
        """The leaf bytes of ``start <= idx < stop``; the range must exist."""
        rows = self._store.read_entries(start, stop)
        if start < 0 or len(rows) != max(0, stop - start):
            raise IndexError(f"entries [{start}, {stop}) are not all in the log")
        return [data for _, data in rows]

    def leaf_hash(self, index: int) -> bytes:
        """The stored leaf hash of entry ``index``."""
        return self._store.read_node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """The Merkle Tree Hash of the first ``size`` entries (all of them by default)."""
        size = self._bounded(size)
        return _merkle.range_root(0, size, self._store.read_node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The RFC 9162 §2.1.3 audit path of entry ``index`` in the tree of ``size``."""
        return _merkle.inclusion_proof(index, self._bounded(size), self._store.read_node)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The RFC 9162 §2.1.4 proof that the tree of ``old_size`` is a prefix of ``new_size``."""
        return _merkle.consistency_proof(old_size, self._bounded(new_size), self._store.read_node)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """The stored checkpoints, by size."""
        return self._store.read_checkpoints()

    def verify_integrity(self, checkpoints: Iterable[tuple[int, bytes]] = ()) -> IntegrityReport:
        """Recompute the tree from the entries; see ``check_integrity``."""
        return check_integrity(self._store, checkpoints)

    def _bounded(self, size: int | None) -> int:
        current = self.size()
        if size is None:
            return current
        if not 0 <= size <= current:
            raise ValueError(f"tree size {size} is outside the log's {current} entries")
        return size
