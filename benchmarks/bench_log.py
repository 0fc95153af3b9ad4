"""Decision log benchmark: durable appends per second, and proofs at one million entries.

Run: ``.venv/bin/python benchmarks/bench_log.py [--seconds 3] [--entries 1000000]``

Appends are durable (SQLite WAL with synchronous=FULL on the local disk; PostgreSQL with
synchronous_commit=on) and go through the real group-commit writer, with N threads each
appending in a loop. PostgreSQL runs in a throwaway schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from writ.log._appender import LogWriter, OnCommit, open_log
from writ.log._merkle import Frontier, leaf_hash, verify_consistency, verify_inclusion
from writ.log._sqlite import SqliteStore
from writ.log._storage import LogReader, NodeRow

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
CALLERS = (1, 16, 64, 256)
LEAF = b'{"v":1,"decision":"allow","tool":"refund_order","args":"' + b"a" * 64 + b'"}'


def appends_per_second(
    open_writer: Callable[[OnCommit], LogWriter], callers: int, seconds: float
) -> tuple[float, float]:
    """Durable appends/s with ``callers`` threads, and the mean batch size."""
    commits = [0]

    def count(size: int, root: bytes) -> None:
        commits[0] += 1

    log = open_writer(count)
    stop = time.perf_counter() + seconds
    done = [0] * callers
    start = threading.Barrier(callers + 1)

    def work(i: int) -> None:
        start.wait()
        while time.perf_counter() < stop:
            log.append(LEAF)
            done[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    log.close()
    total = sum(done)
    return total / elapsed, total / max(commits[0], 1)


def _opener(url: str, name: str) -> Callable[[OnCommit], LogWriter]:
    return lambda hook: open_log(url, name=name, on_commit=hook)


def bench_appends(seconds: float, workdir: Path) -> list[tuple[str, int, float, float]]:
    """Appends on SQLite and PostgreSQL for every caller count."""
    rows = []
    for callers in CALLERS:
        path = workdir / f"appends-{callers}.db"
        rate, batch = appends_per_second(_opener(f"sqlite://{path}", "writ_log"), callers, seconds)
        rows.append(("SQLite", callers, rate, batch))
    try:
        from writ.log._postgres import PostgresStore

        for callers in CALLERS:
            name = "writ_bench_" + uuid.uuid4().hex[:10]
            try:
                rate, batch = appends_per_second(_opener(PG_URL, name), callers, seconds)
                rows.append(("PostgreSQL", callers, rate, batch))
            finally:
                cleanup = PostgresStore(PG_URL, name=name, writer=False)
                cleanup.drop()
                cleanup.close()
    except Exception as exc:  # noqa: BLE001 - report, then carry on with the proofs
        print(f"PostgreSQL skipped: {exc}")
    return rows


def build_log(path: Path, entries: int, batch: int = 65536) -> float:
    """Write ``entries`` leaves in large transactions through the store; seconds taken."""
    began = time.perf_counter()
    store = SqliteStore(str(path), writer=True)
    frontier = Frontier()
    for first in range(0, entries, batch):
        leaves = [b"entry %d" % i for i in range(first, min(first + batch, entries))]
        nodes: list[NodeRow] = []
        for leaf in leaves:
            nodes.extend(frontier.append(leaf_hash(leaf)))
        store.write_batch(first, leaves, nodes, None)
    store.close()
    return time.perf_counter() - began


def _time(fn: Callable[[], object], repeat: int) -> float:
    """Median microseconds per call."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples) * 1e6


def bench_proofs(path: Path, repeat: int) -> list[tuple[str, float]]:
    """Proof generation and verification times on the big log."""
    reader = LogReader(SqliteStore(str(path), writer=False))
    size = reader.size()
    root = reader.root()
    rng = random.Random(7)
    idx = [rng.randrange(size) for _ in range(repeat)]
    olds = [rng.randrange(1, size) for _ in range(repeat)]
    it_i, it_o = iter(idx), iter(olds)
    rows = [
        ("root(size) for the whole log", _time(lambda: reader.root(size), repeat)),
        (
            "inclusion proof: generate",
            _time(lambda: reader.inclusion_proof(next(it_i), size), repeat),
        ),
        (
            "consistency proof: generate",
            _time(lambda: reader.consistency_proof(next(it_o), size), repeat),
        ),
    ]
    i = idx[0]
    proof, leaf = reader.inclusion_proof(i, size), reader.leaf_hash(i)
    assert verify_inclusion(leaf, i, size, proof, root)
    rows.append(
        (
            "inclusion proof: verify",
            _time(lambda: verify_inclusion(leaf, i, size, proof, root), repeat),
        )
    )
    old = olds[0]
    cproof, old_root = reader.consistency_proof(old, size), reader.root(old)
    assert verify_consistency(old, size, cproof, old_root, root)
    rows.append(
        (
            "consistency proof: verify",
            _time(lambda: verify_consistency(old, size, cproof, old_root, root), repeat),
        )
    )
    began = time.perf_counter()
    report = reader.verify_integrity([(size, root)])
    assert report.ok, str(report)
    rows.append(("verify_integrity, whole log, 1 run", (time.perf_counter() - began) * 1e6))
    reader.close()
    return rows


def main() -> None:
    """Run everything and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per append measurement")
    parser.add_argument("--entries", type=int, default=1_000_000, help="size of the proof log")
    parser.add_argument("--repeat", type=int, default=2000, help="proofs timed")
    parser.add_argument("--dir", default=".", help="where the scratch logs go (a real disk)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-log-") as tmp:
        workdir = Path(tmp).resolve()
        print(f"Durable appends ({args.seconds:g} s each, leaf {len(LEAF)} bytes)")
        print(f"{'backend':<12}{'callers':>8}{'appends/s':>12}{'mean batch':>12}")
        for backend, callers, rate, batch in bench_appends(args.seconds, workdir):
            print(f"{backend:<12}{callers:>8}{rate:>12,.0f}{batch:>12.1f}")
        path = workdir / "big.db"
        built = build_log(path, args.entries)
        print(f"\nProofs on a SQLite log of {args.entries:,} entries (built in {built:.1f} s)")
        print(f"{'operation':<38}{'median µs':>14}")
        for what, micros in bench_proofs(path, args.repeat):
            print(f"{what:<38}{micros:>14,.1f}")


if __name__ == "__main__":
    main()
