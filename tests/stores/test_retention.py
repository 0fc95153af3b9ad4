"""Expired state is reclaimed, but only after its grace period (checked behind the API)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from writ.stores import Charge, open_stores
from writ.stores._ledger import COUNTER_GRACE_S, REPLAY_GRACE_S

from .conftest import backend_url

T0 = 1_790_000_000.0


def _rows(backend: str, url: str, table: str) -> int:
    if backend == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite://")) as db:
            return int(db.execute(f"SELECT count(*) FROM writ_{table}").fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        found = conn.execute(f"SELECT count(*) FROM writ_{table}").fetchone()
        assert found is not None
        return int(found[0])


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sql_purges_nonces_only_after_the_grace(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url, _ = backend_url(request, backend, tmp_path)
    stores = open_stores(url)
    for i in range(10):
        assert stores.replay.add_once(f"n{i}", expires_at=T0 + 1, now=T0)
    stores.replay.add_once("a", expires_at=T0 + 10**4, now=T0 + REPLAY_GRACE_S)
    assert _rows(backend, url, "replay") == 11  # expired, but inside the grace
    stores.replay.add_once("b", expires_at=T0 + 10**4, now=T0 + 1 + REPLAY_GRACE_S + 20)
    assert _rows(backend, url, "replay") == 2
    stores.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sql_purges_counters_after_retention(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url, _ = backend_url(request, backend, tmp_path)
    stores = open_stores(url)
    assert stores.counters.charge([Charge(key="old", calls_max=5, expires_at=T0)], now=T0)
    assert stores.counters.charge([Charge(key="forever", calls_max=5)], now=T0)
    later = T0 + COUNTER_GRACE_S + 20
    assert stores.counters.charge([Charge(key="new", calls_max=5)], now=later).ok
    assert _rows(backend, url, "counters") == 2  # "forever" and "new"
    stores.close()


def test_redis_ttls_carry_the_grace(redis_url: str, redis_prefix: str) -> None:
    import redis

    stores = open_stores(redis_url, namespace=redis_prefix)
    stores.replay.add_once("n", expires_at=T0 + 30, now=T0)
    stores.counters.charge([Charge(key="k", calls_max=5, expires_at=T0 + 30)], now=T0)
    stores.counters.charge([Charge(key="f", calls_max=5)], now=T0)
    client = redis.Redis.from_url(redis_url)
    replay_ttl = client.pttl(redis_prefix + "r:n")
    counter_ttl = client.pttl(redis_prefix + "c:k")
    assert (30 + REPLAY_GRACE_S - 5) * 1000 < replay_ttl <= (30 + REPLAY_GRACE_S) * 1000
    assert (30 + COUNTER_GRACE_S - 5) * 1000 < counter_ttl <= (30 + COUNTER_GRACE_S) * 1000
    assert client.pttl(redis_prefix + "c:f") == -1  # no expiry: kept
    client.close()
    stores.close()
