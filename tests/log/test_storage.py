"""One conformance suite for the decision log, run against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator

import pytest

from writ._errors import ConfigurationError, MalformedError, StoreUnavailable
from writ.log._appender import AppendResult, LogWriter, open_log, open_log_reader
from writ.log._merkle import (
    EMPTY_ROOT,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from writ.log._storage import MAX_LEAF_BYTES, WriterLockHeld

from ._backends import Backend, backend, sqlite_backend  # noqa: F401

pytestmark = pytest.mark.services


@pytest.fixture(params=["shared", "exclusive"])
def log(backend: Backend, request: pytest.FixtureRequest) -> Iterator[LogWriter]:  # noqa: F811
    """The contract holds in both writer modes."""
    writer = open_log(backend.url, exclusive=request.param == "exclusive")
    yield writer
    writer.close()


def _leaf(i: int) -> bytes:
    return b'{"decision":%d}' % i


def _roots(n: int) -> list[bytes]:
    hashes = [leaf_hash(_leaf(i)) for i in range(n)]
    return [root_from_leaf_hashes(hashes[:k]) for k in range(n + 1)]


def test_empty_log(log: LogWriter) -> None:
    assert log.size() == 0
    assert log.root() == EMPTY_ROOT
    with pytest.raises(IndexError):
        log.entry(0)
    assert log.verify_integrity().ok


def test_appends_land_in_order_with_their_tree_head(log: LogWriter) -> None:
    roots = _roots(20)
    for i in range(20):
        result = log.append(_leaf(i))
        assert result == AppendResult(
            index=i,
            leaf_hash=leaf_hash(_leaf(i)),
            size_after=i + 1,
            root_after=roots[i + 1],
            checkpoint=None,
        )
    assert log.size() == 20
    assert log.entry(7) == _leaf(7)
    assert log.entries(3, 6) == [_leaf(3), _leaf(4), _leaf(5)]
    assert log.leaf_hash(5) == leaf_hash(_leaf(5))
    with pytest.raises(IndexError):
        log.entries(18, 21)
    assert log.verify_integrity([(20, roots[20]), (5, roots[5]), (0, EMPTY_ROOT)]).ok
    wrong = log.verify_integrity([(5, roots[6]), (0, roots[1])])
    assert [(p.table, p.index) for p in wrong.problems] == [("entries", 0), ("entries", 4)]


def test_roots_and_proofs_at_every_size(log: LogWriter) -> None:
    n = 37
    for i in range(n):
        log.append(_leaf(i))
    roots = _roots(n)
    for size in range(1, n + 1):
        assert log.root(size) == roots[size]
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert verify_inclusion(leaf_hash(_leaf(index)), index, size, proof, roots[size])
        for old in range(1, size + 1):
            proof = log.consistency_proof(old, size)
            assert verify_consistency(old, size, proof, roots[old], roots[size])
    with pytest.raises(ValueError):
        log.inclusion_proof(0, n + 1)
    with pytest.raises(ValueError):
        log.root(n + 1)


def test_concurrent_callers_each_get_their_own_durable_index(log: LogWriter) -> None:
    callers, each = 32, 25
    results: list[tuple[bytes, AppendResult]] = []
    lock = threading.Lock()

    def work(caller: int) -> None:
        for j in range(each):
            leaf = b"caller %d append %d" % (caller, j)
            got = log.append(leaf)
            with lock:
                results.append((leaf, got))

    threads = [threading.Thread(target=work, args=(c,)) for c in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.index for _, r in results) == list(range(callers * each))
    for leaf, r in results:
        assert log.entry(r.index) == leaf
        assert r.index < r.size_after
        proof = log.inclusion_proof(r.index, r.size_after)
        assert verify_inclusion(leaf_hash(leaf), r.index, r.size_after, proof, r.root_after)
    assert log.verify_integrity().ok


async def test_async_callers(log: LogWriter) -> None:
    results = await asyncio.gather(*(log.append_async(_leaf(i)) for i in range(200)))
    assert sorted(r.index for r in results) == list(range(200))
    for i, r in enumerate(results):
        assert log.entry(r.index) == _leaf(i)
    # gather enqueues before the writer wakes, so the 200 commit in very few batches
    assert len({r.size_after for r in results}) < 200


def test_second_writer_is_refused_and_reopening_continues(backend: Backend) -> None:  # noqa: F811
    first = open_log(backend.url, exclusive=True)
    for i in range(5):
        first.append(_leaf(i))
    with pytest.raises(WriterLockHeld, match="another writer"):
        open_log(backend.url, exclusive=True)
    with pytest.raises(WriterLockHeld, match="an exclusive writer"):
        open_log(backend.url)  # a shared writer is refused beside an exclusive one
    first.close()
    second = open_log(backend.url, exclusive=True)
    try:
        assert second.size() == 5
        assert second.append(_leaf(5)).root_after == _roots(6)[6]
    finally:
        second.close()


def test_shared_writers_exclude_an_exclusive_one_and_build_on_each_other(
    backend: Backend,  # noqa: F811
) -> None:
    roots = _roots(6)
    with open_log(backend.url) as a, open_log(backend.url) as b:
        with pytest.raises(WriterLockHeld, match="another writer"):
            open_log(backend.url, exclusive=True)
        assert a.append(_leaf(0)).index == 0
        # b's tree in memory is empty: it must reload it from the store, not fork.
        got = b.append(_leaf(1))
        assert (got.index, got.root_after) == (1, roots[2])
        assert [a.append(_leaf(2)).root_after, b.append(_leaf(3)).root_after] == roots[3:5]
        assert a.size() == b.size() == 4
        assert a.root() == b.root() == roots[4]
        assert a.consistency_proof(2) == b.consistency_proof(2, 4)
    with open_log(backend.url, exclusive=True) as alone:  # all shared writers gone
        assert alone.append(_leaf(4)).root_after == roots[5]


def test_reader_needs_no_lock_and_sees_commits(
    log: LogWriter,
    backend: Backend,  # noqa: F811
) -> None:
    log.append(_leaf(0))
    reader = open_log_reader(backend.url)
    try:
        assert reader.size() == 1
        log.append(_leaf(1))
        assert reader.size() == 2
        assert reader.root() == log.root() == _roots(2)[2]
        assert reader.entry(1) == _leaf(1)
        with pytest.raises(StoreUnavailable, match="read-only"):
            reader._store.write_batch(2, [b"x"], [], None)  # type: ignore[attr-defined]
    finally:
        reader.close()


@pytest.mark.parametrize("op", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
@pytest.mark.parametrize("table", ["entries", "nodes", "checkpoints"])
def test_triggers_refuse_update_and_delete(
    log: LogWriter,
    backend: Backend,  # noqa: F811
    op: str,
    table: str,
) -> None:
    log.append(_leaf(0))
    log.add_checkpoint(1, log.root(), b"note")
    column = {"entries": "data", "nodes": "hash", "checkpoints": "root"}[table]
    statement = op.format(t=backend.table(table), c=column)
    with pytest.raises(Exception, match="append-only"):
        backend.raw([statement])
    assert log.verify_integrity().ok
    assert log.entry(0) == _leaf(0)


def test_postgres_refuses_truncate(pg_url: str) -> None:
    pg = Backend("postgresql", pg_url)
    with open_log(pg_url) as log:
        log.append(_leaf(0))
        for table in ("entries", "nodes", "checkpoints"):
            with pytest.raises(Exception, match="append-only"):
                pg.raw([f"TRUNCATE writ_log.{table}"])
        assert log.size() == 1


def test_sqlite_refuses_replace_and_gaps(sqlite_backend: Backend) -> None:  # noqa: F811
    with open_log(sqlite_backend.url) as log:
        log.append(_leaf(0))
        attempts = [
            "INSERT OR REPLACE INTO entries (idx, data) VALUES (0, x'00')",
            "INSERT INTO entries (idx, data) VALUES (5, x'00')",
            "INSERT OR REPLACE INTO nodes (level, idx, hash) VALUES (0, 0, x'00')",
        ]
        for statement in attempts:
            with pytest.raises(sqlite3.IntegrityError):
                sqlite_backend.raw([statement])
        assert log.entry(0) == _leaf(0)
        assert log.verify_integrity().ok


def test_leaf_size_limit(log: LogWriter) -> None:
    assert log.append(b"x" * MAX_LEAF_BYTES).index == 0
    with pytest.raises(MalformedError):
        log.append(b"x" * (MAX_LEAF_BYTES + 1))
    with pytest.raises(MalformedError):
        log.append("text")  # type: ignore[arg-type]
    assert log.size() == 1


def test_signed_checkpoint_per_batch_and_commit_hook(backend: Backend) -> None:  # noqa: F811
    signed: list[tuple[int, bytes]] = []
    committed: list[tuple[int, bytes]] = []

    def sign(size: int, root: bytes) -> bytes:
        signed.append((size, root))
        return b"note %d %s" % (size, root.hex().encode())

    def hook(size: int, root: bytes) -> None:
        committed.append((size, root))
        raise RuntimeError("a broken hook must not fail the append")

    with open_log(backend.url, sign_checkpoint=sign, on_commit=hook, clock=lambda: 1234.5) as log:
        results = [log.append(_leaf(i)) for i in range(3)]
        assert [r.checkpoint for r in results] == [
            b"note %d %s" % (r.size_after, r.root_after.hex().encode()) for r in results
        ]
        stored = log.checkpoints()
        assert [(c.size, c.root, c.note, c.created) for c in stored] == [
            (r.size_after, r.root_after, r.checkpoint, 1234.5) for r in results
        ]
        assert signed == [(r.size_after, r.root_after) for r in results]
        # close() waits for the writer thread, which runs the hook after each batch
    assert committed == signed


def test_failed_batch_fails_every_caller_and_acknowledges_nothing(
    backend: Backend,  # noqa: F811
) -> None:
    gate, entered = threading.Event(), threading.Event()
    fail_sizes: set[int] = set()

    def sign(size: int, root: bytes) -> bytes:
        if size == 1:
            entered.set()
            assert gate.wait(30)
        if size in fail_sizes:
            raise OSError("signing key unavailable")
        return b"note"

    with open_log(backend.url, sign_checkpoint=sign) as log:
        blocker = threading.Thread(target=log.append, args=(_leaf(0),))
        blocker.start()
        assert entered.wait(30)  # batch 1 is committing; the next callers queue together
        callers = 12
        fail_sizes.add(1 + callers)
        errors: list[BaseException] = []

        def work(i: int) -> None:
            try:
                log.append(_leaf(100 + i))
            except StoreUnavailable as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(callers)]
        for t in threads:
            t.start()
        _wait_for(lambda: len(log._pending.leaves) == callers)
        gate.set()
        blocker.join()
        for t in threads:
            t.join()
        assert len(errors) == callers
        assert all("signing key unavailable" in str(e) for e in errors)
        assert log.size() == 1
        assert log.append(_leaf(1)).index == 1  # nothing of the failed batch was written
        assert log.entries(0, 2) == [_leaf(0), _leaf(1)]
        assert log.verify_integrity().ok


@pytest.mark.parametrize("exclusive", [True, False])
def test_rogue_writer_is_detected_not_forked(
    backend: Backend,  # noqa: F811
    exclusive: bool,
) -> None:
    with open_log(backend.url, exclusive=exclusive) as log:
        log.append(_leaf(0))
        # A process that ignores the writer lock appends behind the writer's back.
        table = backend.table("entries")
        backend.raw([f"INSERT INTO {table} (idx, data) VALUES (1, {backend.blob(b'rogue')})"])
        if exclusive:  # an exclusive writer builds on nothing it did not write
            with pytest.raises(StoreUnavailable, match="expected 1"):
                log.append(_leaf(1))
        # Its entry has no leaf hash, so the writer refuses to build on it.
        with pytest.raises(StoreUnavailable, match=r"node \(\d+, \d+\) is missing"):
            log.append(_leaf(1))
        assert log.entries(0, 2) == [_leaf(0), b"rogue"]  # nothing was built on it
        with pytest.raises(IndexError):
            log.entry(2)
        report = log.verify_integrity()
        assert not report.ok
        assert report.problems[0].table == "nodes"


def test_postgres_writer_reconnects_after_losing_its_connection(pg_url: str) -> None:
    import psycopg

    with open_log(pg_url) as log:
        log.append(_leaf(0))
        pid = log._wstore._write.info.backend_pid  # type: ignore[attr-defined]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreUnavailable):
            log.append(_leaf(1))
        assert log.append(_leaf(1)).index == 1  # reconnected and won the lock again
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (_reader_pid(log),))
        with pytest.raises(StoreUnavailable):
            log.entry(0)
        assert log.entry(0) == _leaf(0)  # the reader reconnects too
        assert log.verify_integrity().ok


def _reader_pid(log: LogWriter) -> int:
    return int(log._store._read.info.backend_pid)  # type: ignore[attr-defined]


def test_closed_log_refuses_appends(log: LogWriter) -> None:
    log.append(_leaf(0))
    log.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        log.append(_leaf(1))


@pytest.mark.parametrize(
    "url",
    ["redis://x", "sqlite://", "mysql://x/y", "sqlite:///", "sqlite:///x.db?synchronous=off"],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_log(url)


def test_bad_postgres_log_name(pg_url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_log(pg_url, name="x; DROP TABLE y")


def _wait_for(condition: object, timeout: float = 30.0) -> None:
    """Poll a condition (no fixed sleeps): the writer thread moves on its own."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.001)
