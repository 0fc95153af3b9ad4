"""Shared writers: several OS processes append to one log and it never forks.

Two processes, each with many threads, append through ``DecisionLog`` (group commit,
a signed checkpoint per batch, a receipt per entry) to one SQLite file or one
PostgreSQL schema. Every acknowledgement is reported on stdout only after ``append``
returned; afterwards the log must hold each acknowledged entry exactly once at its
index, recompute cleanly, and every receipt and checkpoint must verify, with each
checkpoint a prefix of the next. A writer killed with SIGKILL mid-run must not stop
the other or leave the log inconsistent.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ._errors import StoreUnavailable
from writ._keys import PrivateKey
from writ.log._appender import open_log, open_log_reader
from writ.log._audit import verify_bundle
from writ.log._bundle import export_bundle
from writ.log._checkpoint import Checkpoint, checkpoint_signer, log_verifier
from writ.log._merkle import leaf_hash, root_from_leaf_hashes, verify_consistency
from writ.log._note import Note
from writ.log._receipt import Receipt, verify_receipt
from writ.log._storage import LogReader, WriterLockHeld

from ._backends import Backend, backend  # noqa: F401

pytestmark = pytest.mark.services

ORIGIN = "writ.example/shared-writers"
KEY = PrivateKey(b"\x2a" * 32)

# argv: url, threads, appends per thread (0: until killed), key file, tag.
# It prints "ready" once the log is open, waits for a line on stdin so that both
# writers start together, then one JSON line per acknowledged append.
CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from writ._keys import PrivateKey
    from writ.log._appender import open_log
    from writ.log._checkpoint import checkpoint_signer
    from writ.log._decisions import DecisionLog

    url, threads, each, key_file, tag = sys.argv[1:6]
    threads, each = int(threads), int(each)
    key = PrivateKey.load(key_file)
    origin = "writ.example/shared-writers"
    log = DecisionLog(open_log(url, sign_checkpoint=checkpoint_signer(origin, key)),
                      key=key, origin=origin)
    out = threading.Lock()

    def work(t):
        j = 0
        while each == 0 or j < each:
            leaf = "%s:%d:%d" % (tag, t, j)
            receipt = log.append(leaf.encode())
            line = json.dumps({"leaf": leaf, "receipt": receipt.to_json()}) + "\\n"
            with out:
                os.write(1, line.encode())
            j += 1

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    os.write(1, b"ready\\n")
    sys.stdin.readline()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    log.close()
    """
)


@dataclass
class Writer:
    """One writer process and the acknowledgements it has reported so far."""

    tag: str
    proc: subprocess.Popen[bytes]
    acks: list[tuple[bytes, Receipt]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def pump(self) -> None:
        """Read acknowledgement lines until the pipe closes (the process exited or died)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith(b"\n"):
                break  # cut short by SIGKILL: never acknowledged
            item = json.loads(line)
            self.acks.append((item["leaf"].encode(), Receipt.from_json(item["receipt"])))
        self.done.set()


def _start(url: str, key_file: Path, tag: str, threads: int, each: int) -> Writer:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(threads), str(each), str(key_file), tag],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline()
    if ready != b"ready\n":
        assert proc.stderr is not None
        raise AssertionError(f"writer {tag} did not start: {proc.stderr.read().decode()}")
    return Writer(tag, proc)


def _go(writers: list[Writer]) -> list[threading.Thread]:
    pumps = [threading.Thread(target=w.pump, daemon=True) for w in writers]
    for pump in pumps:
        pump.start()
    for w in writers:
        assert w.proc.stdin is not None
        w.proc.stdin.write(b"go\n")
        w.proc.stdin.close()
    return pumps


def _wait_for(condition: object, timeout: float = 60.0) -> None:
    """Poll the pumps' progress (the writers run on their own)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


def _head(note: str) -> tuple[int, bytes]:
    cp = Checkpoint.parse(Note.parse(note).text)
    return cp.size, cp.root_hash


def _check_log(reader: LogReader, writers: list[Writer]) -> dict[int, str]:
    """Every property a shared log must keep; returns who committed each checkpoint."""
    acks = [(w.tag, leaf, r) for w in writers for leaf, r in w.acks]
    indexes = [r.index for _, _, r in acks]
    assert len(set(indexes)) == len(indexes), "two acknowledgements share an index"
    size = reader.size()
    assert max(indexes) < size
    entries = reader.entries(0, size)
    assert len(set(entries)) == size, "an entry was committed twice"
    for _, leaf, receipt in acks:  # each acknowledged entry exactly at its index
        assert reader.entry(receipt.index) == leaf
        result = verify_receipt(receipt, KEY.public_key, leaf)
        assert result.ok, result.reason
    owner: dict[int, str] = {}
    heads: dict[int, bytes] = {}
    for tag, _, receipt in acks:
        cp_size, root = _head(receipt.checkpoint)
        assert heads.setdefault(cp_size, root) == root, "two roots for one size: a fork"
        assert owner.setdefault(cp_size, tag) == tag, "two writers committed one batch"
    report = reader.verify_integrity(heads.items())
    assert report.ok, str(report)
    stored = {cp.size: cp for cp in reader.checkpoints()}
    sizes = sorted(heads)
    for old, new in itertools.pairwise(sizes):
        proof = reader.consistency_proof(old, new)
        assert verify_consistency(old, new, proof, heads[old], heads[new])
    for cp_size in sizes:
        note = stored[cp_size].note
        assert note is not None and _head(note.decode()) == (cp_size, heads[cp_size])
    everything = len({leaf for _, leaf, _ in acks}) == size
    last = stored[max(stored)].note if everything else None
    if last is not None:  # a bundle of the whole log verifies offline
        bundle = export_bundle(
            reader,
            last,
            [log_verifier(ORIGIN, KEY.public_key)],
            history=[stored[s].note or b"" for s in sizes[:3]],
        )
        audit = verify_bundle(bundle, log_verifier(ORIGIN, KEY.public_key))
        assert audit.ok, audit
    return owner


def _switches(owner: dict[int, str]) -> int:
    """How often consecutive batches came from different writers."""
    tags = [owner[s] for s in sorted(owner)]
    return sum(a != b for a, b in itertools.pairwise(tags))


@pytest.mark.slow
def test_two_processes_many_threads_one_log(backend: Backend, tmp_path: Path) -> None:  # noqa: F811
    key_file = tmp_path / "log.key"
    KEY.save(key_file)
    threads, each = 24, 60
    began = time.perf_counter()
    writers = [_start(backend.url, key_file, tag, threads, each) for tag in ("a", "b")]
    pumps = _go(writers)
    for w, pump in zip(writers, pumps, strict=True):
        assert w.proc.wait(timeout=120) == 0, w.proc.stderr.read().decode()  # type: ignore[union-attr]
        pump.join()
    elapsed = time.perf_counter() - began
    total = 2 * threads * each
    assert [len(w.acks) for w in writers] == [threads * each] * 2
    with open_log_reader(backend.url) as reader:
        assert reader.size() == total
        owner = _check_log(reader, writers)
    # The writers really interleaved, so each reloaded the tree the other had grown.
    assert _switches(owner) >= 10, owner
    print(
        f"{backend.kind}: {total} appends from 2 processes x {threads} threads in "
        f"{elapsed:.2f} s, {len(owner)} batches, {_switches(owner)} writer switches"
    )


@pytest.mark.slow
def test_kill_9_one_writer_the_other_continues(backend: Backend, tmp_path: Path) -> None:  # noqa: F811
    key_file = tmp_path / "log.key"
    KEY.save(key_file)
    writers = [_start(backend.url, key_file, tag, 16, 0) for tag in ("a", "b")]
    victim, survivor = writers
    pumps = _go(writers)
    try:
        _wait_for(lambda: len(victim.acks) >= 300 and len(survivor.acks) >= 300)
        os.kill(victim.proc.pid, signal.SIGKILL)  # mid-batch, most likely holding the lock
        victim.done.wait(30)
        after = len(survivor.acks)
        _wait_for(lambda: len(survivor.acks) >= after + 500)  # not blocked by the dead one
    finally:
        for w in writers:
            if w.proc.poll() is None:
                os.kill(w.proc.pid, signal.SIGKILL)
            w.proc.wait()
        for pump in pumps:
            pump.join(30)
    assert victim.proc.returncode == -signal.SIGKILL
    with open_log_reader(backend.url) as reader:
        owner = _check_log(reader, writers)
        size = reader.size()
    assert _switches(owner) >= 2
    # A new writer (here an exclusive one: the dead writers' locks are gone) goes on.
    deadline = time.monotonic() + 30
    while True:
        try:
            log = open_log(
                backend.url, exclusive=True, sign_checkpoint=checkpoint_signer(ORIGIN, KEY)
            )
            break
        except WriterLockHeld:  # PostgreSQL may still be reaping the dead sessions
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    with log:
        assert log.append(b"after").index == size
        assert log.verify_integrity().ok


def test_a_shared_writer_never_builds_on_a_tree_that_does_not_extend_its_own(
    backend: Backend,  # noqa: F811
) -> None:
    signed: list[int] = []

    def sign(size: int, root: bytes) -> bytes:
        signed.append(size)
        return b"note %d" % size

    with open_log(backend.url, sign_checkpoint=sign) as a, open_log(backend.url) as b:
        for i in range(5):
            a.append(b"a %d" % i)
        for i in range(3):
            b.append(b"b %d" % i)  # size 8: one complete subtree, node (3, 0)
        # Someone with the database's keys replaces the root subtree a would extend.
        backend.drop_triggers("nodes")
        nodes = backend.table("nodes")
        forged = backend.blob(b"f" * 32)
        backend.raw([f"UPDATE {nodes} SET hash = {forged} WHERE level = 3 AND idx = 0"])
        for _ in range(2):  # and not after its failure either (recovery reloads, checked)
            with pytest.raises(StoreUnavailable, match="does not extend the tree of 5"):
                a.append(b"a 5")
        assert signed == [1, 2, 3, 4, 5]  # no checkpoint was signed over the forged tree
        # b committed size 8 itself, so it extends its own tree in memory, not the forged node;
        # the audit names the edit.
        assert b.append(b"b 3").index == 8
        report = b.verify_integrity()
        assert not report.ok and report.problems[0].table == "nodes"


def test_a_shared_writer_refuses_a_log_that_shrank(backend: Backend) -> None:  # noqa: F811
    with open_log(backend.url) as log:
        for i in range(5):
            log.append(b"entry %d" % i)
        backend.drop_triggers("entries")
        backend.raw([f"DELETE FROM {backend.table('entries')} WHERE idx = 4"])
        with pytest.raises(StoreUnavailable, match="4 entries stored but this writer committed 5"):
            log.append(b"entry 5")


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 4)), min_size=1, max_size=12))
def test_any_interleaving_of_shared_writers_builds_one_tree(ops: list[tuple[int, int]]) -> None:
    """Whatever order three writers take turns in, the log is the tree of its entries in order."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{folder}/log.db"
        writers = [open_log(url, sign_checkpoint=checkpoint_signer(ORIGIN, KEY)) for _ in range(3)]
        try:
            leaves: list[bytes] = []
            for n, (who, count) in enumerate(ops):
                for j in range(count):
                    leaf = b"%d:%d:%d" % (who, n, j)
                    got = writers[who].append(leaf)
                    leaves.append(leaf)
                    assert got.index == len(leaves) - 1
                    assert got.root_after == root_from_leaf_hashes([leaf_hash(x) for x in leaves])
            assert writers[0].entries(0, len(leaves)) == leaves
            assert writers[1].verify_integrity().ok
        finally:
            for w in writers:
                w.close()


def test_postgres_batch_waits_for_a_stuck_writer_boundedly_then_fails_closed(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from writ.log import _postgres

    monkeypatch.setattr(_postgres, "_LOCK_WAIT", "300ms")  # 30 s in production
    with open_log(pg_url) as log:
        log.append(b"entry 0")
        key = _postgres._lock_key("writ_log", b"append")
        with psycopg.connect(pg_url) as stuck:  # a peer that took the lock and hangs
            stuck.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            began = time.monotonic()
            with pytest.raises(StoreUnavailable, match="lock timeout"):
                log.append(b"entry 1")
            assert time.monotonic() - began < 10
            stuck.rollback()
        assert log.append(b"entry 1").index == 1  # nothing of the failed batch was written
        assert log.entries(0, 2) == [b"entry 0", b"entry 1"]
