"""Faults: a writer killed mid-batch loses nothing it acknowledged; raw-SQL tampering is found."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

from writ.log._appender import open_log, open_log_reader
from writ.log._merkle import leaf_hash
from writ.log._storage import IntegrityReport, WriterLockHeld

from ._backends import Backend, backend  # noqa: F401

pytestmark = pytest.mark.services

# The child appends forever from many threads and reports each acknowledgement
# ("index leaf") on stdout, only after append() has returned.
CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from writ.log._appender import open_log

    log = open_log(sys.argv[1], exclusive=sys.argv[3] == "exclusive")
    out = threading.Lock()

    def work(caller):
        j = 0
        while True:
            leaf = b"%d:%d" % (caller, j)
            r = log.append(leaf)
            with out:
                os.write(1, b"%d %s\\n" % (r.index, leaf))
            j += 1

    for c in range(int(sys.argv[2])):
        threading.Thread(target=work, args=(c,), daemon=True).start()
    threading.Event().wait()
    """
)


def _read_acks(proc: subprocess.Popen[bytes], wanted: int) -> dict[int, bytes]:
    """Read acknowledgements from the pipe until ``wanted`` have arrived."""
    acks: dict[int, bytes] = {}
    assert proc.stdout is not None
    while len(acks) < wanted:
        line = proc.stdout.readline()
        if not line:
            assert proc.stderr is not None
            raise AssertionError(f"child exited early: {proc.stderr.read().decode()}")
        index, leaf = line.split()
        acks[int(index)] = leaf
    return acks


def _reopen(url: str, timeout: float = 30.0) -> Callable[[], None]:
    """Open an exclusive writer, polling while the server notices the dead client's lock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return open_log(url, exclusive=True).close
        except WriterLockHeld:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["shared", "exclusive"])
def test_kill_9_mid_batch_loses_no_acknowledged_entry(
    backend: Backend,  # noqa: F811
    mode: str,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend.url, "64", mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        acks = _read_acks(proc, 3000)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate()
    for line in rest.splitlines():  # acknowledged before the kill, still in the pipe
        index, leaf = line.split()
        acks[int(index)] = leaf
    assert proc.returncode == -signal.SIGKILL
    _reopen(backend.url)()  # the writer lock (of either mode) died with the process
    with open_log_reader(backend.url) as reader:
        size = reader.size()
        assert size >= max(acks) + 1
        for index, leaf in acks.items():
            assert reader.entry(index) == leaf
        report = reader.verify_integrity()
        assert report.ok, str(report)
        assert report.size == size
        assert report.root == reader.root()
    with open_log(backend.url) as log:  # and the log goes on from where it stopped
        assert log.append(b"after").index == size


N = 100


def _tampered(
    backend: Backend,  # noqa: F811
    statements: list[str],
    *tables: str,
) -> IntegrityReport:
    with open_log(backend.url) as log:
        for i in range(N):
            log.append(b"entry %d" % i)
        log.add_checkpoint(60, log.root(60), None)
    for table in tables:
        backend.drop_triggers(table)
    backend.raw(statements)
    with open_log_reader(backend.url) as reader:
        return reader.verify_integrity()


def _only(report: IntegrityReport, table: str, index: int, text: str) -> None:
    assert not report.ok
    first = report.problems[0]
    assert (first.table, first.index) == (table, index), str(report)
    assert text in first.message, first.message
    assert text in str(report)


def test_untampered_log_is_ok(backend: Backend) -> None:  # noqa: F811
    report = _tampered(backend, [])
    assert report.ok and report.size == N
    assert str(report).startswith(f"ok: {N} entries")


def test_updated_entry_is_named(backend: Backend) -> None:  # noqa: F811
    t = backend.table("entries")
    report = _tampered(backend, [f"UPDATE {t} SET data = data || data WHERE idx = 42"], "entries")
    _only(report, "entries", 42, "entries: row 42 was modified")
    assert any("stored checkpoint at size 60" in p.message for p in report.problems)


def test_updated_last_entry_is_named(backend: Backend) -> None:  # noqa: F811
    t = backend.table("entries")
    report = _tampered(backend, [f"UPDATE {t} SET data = data || data WHERE idx = 99"], "entries")
    _only(report, "entries", 99, "entries: row 99 was modified")


def test_deleted_entry_is_named(backend: Backend) -> None:  # noqa: F811
    t = backend.table("entries")
    report = _tampered(backend, [f"DELETE FROM {t} WHERE idx = 17"], "entries")
    _only(report, "entries", 17, "entries: row 17 is missing (deleted)")


def test_updated_node_is_named(backend: Backend) -> None:  # noqa: F811
    t = backend.table("nodes")
    statement = f"UPDATE {t} SET hash = entries_hash WHERE level = 2 AND idx = 5"
    statement = statement.replace("entries_hash", "hash || hash")
    report = _tampered(backend, [statement], "nodes")
    _only(report, "nodes", 5, "nodes: (2, 5) does not match the entries")
    assert report.problems[0].level == 2


def test_entry_rewritten_with_its_leaf_hash_is_found_above(backend: Backend) -> None:  # noqa: F811
    forged = b"entry 42 (forged)"
    e, n = backend.table("entries"), backend.table("nodes")
    statements = [
        f"UPDATE {e} SET data = {backend.blob(forged)} WHERE idx = 42",
        f"UPDATE {n} SET hash = {backend.blob(leaf_hash(forged))} WHERE level = 0 AND idx = 42",
    ]
    report = _tampered(backend, statements, "entries", "nodes")
    _only(report, "nodes", 21, "nodes: (1, 21) does not match the entries")


def test_truncated_tail_is_found_from_leftover_nodes(backend: Backend) -> None:  # noqa: F811
    t = backend.table("entries")
    report = _tampered(backend, [f"DELETE FROM {t} WHERE idx >= 90"], "entries")
    _only(report, "entries", 90, "the tail was deleted")


def test_clean_truncation_is_found_by_a_checkpoint(backend: Backend) -> None:  # noqa: F811
    # Everything after 50 is removed consistently, stored checkpoints included:
    # only a checkpoint held outside the database can reveal it.
    with open_log(backend.url) as log:
        for i in range(N):
            log.append(b"entry %d" % i)
        head = (log.size(), log.root())
    for table in ("entries", "nodes", "checkpoints"):
        backend.drop_triggers(table)
    e, n = backend.table("entries"), backend.table("nodes")
    backend.raw(
        [
            f"DELETE FROM {e} WHERE idx >= 50",
            f"DELETE FROM {n} WHERE idx >= (CAST(50 AS BIGINT) >> level)",
        ]
    )
    with open_log_reader(backend.url) as reader:
        assert reader.verify_integrity().ok  # self-consistent without outside evidence
        report = reader.verify_integrity([head])
    _only(report, "entries", 50, "the given checkpoint commits to 100 entries but only 50 remain")


def test_fully_recomputed_forgery_is_found_by_a_checkpoint(backend: Backend) -> None:  # noqa: F811
    with open_log(backend.url) as log:
        for i in range(8):
            log.append(b"entry %d" % i)
        head = (8, log.root())
    # Rebuild an 8-leaf log with entry 3 changed, every node consistent.
    forged = [b"entry %d" % i if i != 3 else b"forged" for i in range(8)]
    backend.drop_triggers("entries")
    backend.drop_triggers("nodes")
    statements = [
        f"DELETE FROM {backend.table('entries')}",
        f"DELETE FROM {backend.table('nodes')}",
    ]
    other = Backend(backend.kind, backend.url)
    other.raw(statements)
    with open_log(backend.url) as log:
        for leaf in forged:
            log.append(leaf)
    with open_log_reader(backend.url) as reader:
        assert reader.verify_integrity().ok
        report = reader.verify_integrity([head])
    _only(report, "entries", 7, "does not match the given checkpoint at size 8")
