"""Worker processes for the concurrency tests (importable by ``spawn`` children)."""

from __future__ import annotations

import random
import threading
import traceback
from decimal import Decimal
from typing import Any

from writ._errors import StoreUnavailable
from writ.stores import Charge, open_stores

T0 = 1_790_000_000.0


def _threads(count: int, body: Any) -> None:
    start = threading.Barrier(count)

    def run(index: int) -> None:
        start.wait()
        body(index)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def spend(job: dict[str, Any], barrier: Any, results: Any) -> None:
    """Charge [root, own child] ``per_thread`` times from each of ``threads`` threads."""
    try:
        stores = open_stores(job["url"], namespace=job["namespace"])
        amount = Decimal(job["amount"])
        tally: dict[str, int] = {"ok": 0, "root": 0, "child": 0, "unavailable": 0}
        lock = threading.Lock()

        def body(index: int) -> None:
            root = Charge(key="root", spend_max=Decimal(job["root_max"]), amount=amount)
            child = Charge(
                key=f"child-{job['worker']}-{index}",
                spend_max=Decimal(job["child_max"]),
                amount=amount,
            )
            for _ in range(job["per_thread"]):
                try:
                    result = stores.counters.charge([root, child], now=T0)
                    outcome = "ok" if result.ok else str(result.key).split("-")[0]
                except StoreUnavailable:
                    outcome = "unavailable"
                with lock:
                    tally[outcome] += 1

        barrier.wait()
        _threads(job["threads"], body)
        stores.close()
        results.put(tally)
    except BaseException:  # noqa: BLE001  # any failure in a child must reach the parent
        results.put({"error": traceback.format_exc()})


def nonces(job: dict[str, Any], barrier: Any, results: Any) -> None:
    """Every thread tries to add every nonce once, in its own random order."""
    try:
        stores = open_stores(job["url"], namespace=job["namespace"])
        won: list[str] = []
        lock = threading.Lock()

        def body(index: int) -> None:
            keys = [f"nonce-{i}" for i in range(job["keys"])]
            random.Random(f"{job['worker']}-{index}").shuffle(keys)
            for key in keys:
                if stores.replay.add_once(key, expires_at=T0 + 300, now=T0):
                    with lock:
                        won.append(key)

        barrier.wait()
        _threads(job["threads"], body)
        stores.close()
        results.put({"won": won})
    except BaseException:  # noqa: BLE001  # any failure in a child must reach the parent
        results.put({"error": traceback.format_exc()})
