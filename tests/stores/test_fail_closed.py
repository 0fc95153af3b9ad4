"""Fail-closed (issue 4 part 3): a store that cannot be reached raises StoreUnavailable, fast.

Each test runs its own server on a free loopback port, stops or freezes it in
the middle of a run, checks that every call raises ``StoreUnavailable`` within
a bounded time (never a driver exception, never a hang), then brings the
server back and checks that the *same* store objects work again.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from writ._errors import StoreUnavailable
from writ.stores import Charge, Revocation, Stores, open_stores

from ._servers import OwnPostgres, OwnRedis

pytestmark = pytest.mark.slow

T0 = 1_790_000_000.0
BOUND_S = 3.0  # generous over the 1 s socket / 2 s libpq connect timeouts
REV = Revocation(jti="j", signer="urn:s", statement="s", issued_at=T0)


def _calls(stores: Stores, tag: str) -> list[Callable[[], object]]:
    charge = [Charge(key="budget", calls_max=1000, spend_max=Decimal(10), amount=Decimal("0.01"))]
    return [
        lambda: stores.replay.add_once(f"n-{tag}", expires_at=T0 + 60, now=T0),
        lambda: stores.counters.charge(charge, now=T0),
        lambda: stores.revocations.add(REV),
        lambda: stores.revocations.find(["j"]),
        lambda: stores.revocations.all_since(0),
    ]


def _all_fail_closed(stores: Stores, tag: str) -> None:
    for call in _calls(stores, tag):
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            call()
        assert time.monotonic() - start < BOUND_S


def _all_work(stores: Stores, tag: str) -> None:
    for call in _calls(stores, tag):
        call()
    assert not stores.replay.add_once(f"n-{tag}", expires_at=T0 + 60, now=T0)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.signal(signal.SIGCONT)
        server.stop()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def test_redis_stopped_then_restarted(own_redis: OwnRedis) -> None:
    stores = open_stores(own_redis.url, namespace="fc")
    _all_work(stores, "before")
    own_redis.stop()
    _all_fail_closed(stores, "down")
    _all_fail_closed(stores, "still-down")
    own_redis.start()
    _all_work(stores, "after")  # the first call after the restart already succeeds
    stores.close()


def test_redis_frozen_then_thawed(own_redis: OwnRedis) -> None:
    stores = open_stores(own_redis.url, namespace="fz")
    _all_work(stores, "before")
    own_redis.signal(signal.SIGSTOP)
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            stores.counters.charge([Charge(key="k", calls_max=5)], now=T0)
        assert time.monotonic() - start < BOUND_S
    finally:
        own_redis.signal(signal.SIGCONT)
    _all_work(stores, "after")
    stores.close()


def test_redis_refuses_before_starting(own_redis: OwnRedis) -> None:
    own_redis.stop()
    stores = open_stores(own_redis.url, namespace="late")  # opening does not need the server
    _all_fail_closed(stores, "never-up")
    own_redis.start()
    _all_work(stores, "up")
    stores.close()


def test_postgres_stopped_then_restarted(own_postgres: OwnPostgres) -> None:
    stores = open_stores(own_postgres.url, namespace="fc")
    _all_work(stores, "before")
    own_postgres.stop()
    try:
        _all_fail_closed(stores, "down")
        _all_fail_closed(stores, "still-down")
    finally:
        own_postgres.start()
    _all_work(stores, "after")
    # PostgreSQL is durable: the nonce recorded before the outage is still refused.
    assert not stores.replay.add_once("n-before", expires_at=T0 + 60, now=T0)
    stores.close()


def test_postgres_idle_connections_survive_a_restart(own_postgres: OwnPostgres) -> None:
    stores = open_stores(own_postgres.url, namespace="idle")
    start = threading.Barrier(4)

    def busy(index: int) -> None:
        start.wait()  # four calls at once: four pooled connections, then idle
        stores.replay.add_once(f"warm-{index}", expires_at=T0 + 60, now=T0)

    threads = [threading.Thread(target=busy, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    own_postgres.stop()
    own_postgres.start()
    # Every idle connection is dead; none of them may surface as an error.
    for index in range(6):
        assert stores.replay.add_once(f"after-{index}", expires_at=T0 + 60, now=T0)
    stores.close()


def test_postgres_frozen_then_thawed(own_postgres: OwnPostgres) -> None:
    stores = open_stores(own_postgres.url, namespace="fz")
    _all_work(stores, "before")
    pids = own_postgres.pids()
    own_postgres.signal(signal.SIGSTOP, pids)
    try:
        start = time.monotonic()
        with pytest.raises(StoreUnavailable):
            stores.counters.charge([Charge(key="k", calls_max=5)], now=T0)
        assert time.monotonic() - start < BOUND_S
    finally:
        own_postgres.signal(signal.SIGCONT, pids)
    _all_work(stores, "after")
    stores.close()


def test_postgres_opened_while_down(own_postgres: OwnPostgres) -> None:
    own_postgres.stop()
    try:
        stores = open_stores(own_postgres.url, namespace="late")
        _all_fail_closed(stores, "never-up")
    finally:
        own_postgres.start()
    _all_work(stores, "up")  # the schema is created on the first connection
    stores.close()


def test_sqlite_locked_by_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    stores = open_stores(f"sqlite://{path}?busy_timeout=0.5")
    _all_work(stores, "before")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        for call in _calls(stores, "locked")[:3]:  # the writers; WAL readers are not blocked
            start = time.monotonic()
            with pytest.raises(StoreUnavailable):
                call()
            assert time.monotonic() - start < BOUND_S
    finally:
        other.execute("ROLLBACK")
        other.close()
    _all_work(stores, "after")
    stores.close()
