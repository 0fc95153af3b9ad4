"""open_stores picks the backend by URL; namespaces keep receivers apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from writ._errors import ConfigurationError
from writ.stores import open_stores
from writ.stores._memory import MemoryReplayStore
from writ.stores._namespace import check_sql_namespace, redis_prefix
from writ.stores._sqlite import SqliteReplayStore

from .conftest import backend_url

T0 = 1_790_000_000.0


def test_memory_and_sqlite_urls(tmp_path: Path) -> None:
    assert isinstance(open_stores("memory:").replay, MemoryReplayStore)
    stores = open_stores(f"sqlite://{tmp_path}/a.db")
    assert isinstance(stores.replay, SqliteReplayStore)
    stores.close()
    assert (tmp_path / "a.db").exists()


@pytest.mark.parametrize("url", ["mysql://x/y", "file:///tmp/x", "", "sqlite:"])
def test_unknown_or_incomplete_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_stores(url)


@pytest.mark.parametrize("namespace", ["", "Writ", "a-b", "a;drop", "1abc", "x" * 41, "a b"])
def test_sql_namespaces_are_plain_identifiers(namespace: str) -> None:
    with pytest.raises(ConfigurationError):
        check_sql_namespace(namespace)


def test_redis_prefixes() -> None:
    assert redis_prefix("writ") == "writ:"
    assert redis_prefix("t:abc:") == "t:abc:"
    for bad in ["", "a b", "é"]:
        with pytest.raises(ConfigurationError):
            redis_prefix(bad)


@pytest.mark.parametrize("backend", ["sqlite", "redis", "postgres"])
def test_namespaces_do_not_share_state(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    url, namespace = backend_url(request, backend, tmp_path)
    other = namespace + "two" if backend != "redis" else namespace + "two:"
    a, b = open_stores(url, namespace=namespace), open_stores(url, namespace=other)
    try:
        assert a.replay.add_once("n", expires_at=T0 + 60, now=T0)
        assert b.replay.add_once("n", expires_at=T0 + 60, now=T0)
        # The same namespace opened twice does share state.
        again = open_stores(url, namespace=namespace)
        assert not again.replay.add_once("n", expires_at=T0 + 60, now=T0)
        again.close()
    finally:
        a.close()
        b.close()


def test_sqlite_durability_option(tmp_path: Path) -> None:
    from writ.stores._sqlite import SqliteDatabase

    for query, level in [("", 2), ("?synchronous=normal", 1), ("?synchronous=FULL", 2)]:
        db = SqliteDatabase(str(tmp_path / "x.db"), synchronous=(query.split("=")[-1] or "full"))
        with db.read() as conn:
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == level
        db.close()
        open_stores(f"sqlite://{tmp_path}/y.db{query}").close()
    for bad in ["?synchronous=off", "?journal=delete", "?busy_timeout=x", "?busy_timeout=0"]:
        with pytest.raises(ConfigurationError):
            open_stores(f"sqlite://{tmp_path}/y.db{bad}")


def test_postgres_url_options_are_kept(pg_url: str) -> None:
    from writ.stores._pgpool import Pool
    from writ.stores._postgres import schema

    pool = Pool(pg_url + "?options=-c%20synchronous_commit%3Doff", schema=schema)
    with pool.connection() as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("1s",)
    pool.close()
