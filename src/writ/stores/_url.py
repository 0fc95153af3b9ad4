"""Open a receiver's three stores from one URL: ``memory:``, ``sqlite:``, ``redis:``, ``postgresql:``."""

from __future__ import annotations

from urllib.parse import urlsplit

from writ._errors import ConfigurationError
from writ.stores._memory import MemoryCounterStore, MemoryReplayStore, MemoryRevocationStore
from writ.stores._protocols import Stores

__all__ = ["open_stores"]


def open_stores(url: str, *, namespace: str = "writ") -> Stores:
    """Open replay, counter and revocation stores on the backend named by ``url``.

    ``memory:`` (one process, lost on exit); ``sqlite:///abs/path.db`` or
    ``sqlite:relative.db``; ``redis://host:port/db`` (or ``rediss://``,
    ``unix://``); ``postgresql://user@host:port/db`` (or ``postgres://``).
    ``namespace`` prefixes every table or key, so several receivers can share
    one server; SQL backends accept ``[a-z_][a-z0-9_]*`` only.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return Stores(
            replay=MemoryReplayStore(), counters=MemoryCounterStore(),
            revocations=MemoryRevocationStore(), closer=lambda: None,
        )
    if scheme == "sqlite":
        return _sqlite(url, namespace)
    if scheme in ("redis", "rediss", "unix"):
        return _redis(url, namespace)
    if scheme in ("postgresql", "postgres"):
        return _postgres(url, namespace)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r}: use memory:, sqlite:, redis:// or postgresql://"
    )


def _sqlite(url: str, namespace: str) -> Stores:
    from writ.stores._sqlite import (
        SqliteCounterStore,
        SqliteDatabase,
        SqliteReplayStore,
        SqliteRevocationStore,
    )

    path = urlsplit(url).path
    if not path:
        raise ConfigurationError("sqlite URL needs a path: sqlite:///abs/path.db")
    db = SqliteDatabase(path, namespace=namespace)
    return Stores(
        replay=SqliteReplayStore(db), counters=SqliteCounterStore(db),
        revocations=SqliteRevocationStore(db), closer=db.close,
    )


def _redis(url: str, namespace: str) -> Stores:
    try:
        from writ.stores._redis import (
            RedisCounterStore,
            RedisReplayStore,
            RedisRevocationStore,
            connect,
        )
    except ImportError as exc:  # the optional extra is not installed
        raise ConfigurationError("redis stores need the 'writ[redis]' extra") from exc
    client = connect(url)
    return Stores(
        replay=RedisReplayStore(client, namespace=namespace),
        counters=RedisCounterStore(client, namespace=namespace),
        revocations=RedisRevocationStore(client, namespace=namespace),
        closer=client.close,
    )


def _postgres(url: str, namespace: str) -> Stores:
    try:
        from writ.stores._pgpool import Pool
        from writ.stores._postgres import (
            PostgresCounterStore,
            PostgresReplayStore,
            PostgresRevocationStore,
            schema,
        )
    except ImportError as exc:  # the optional extra is not installed
        raise ConfigurationError("postgres stores need the 'writ[postgres]' extra") from exc
    pool = Pool(url, namespace=namespace, schema=schema)
    return Stores(
        replay=PostgresReplayStore(pool), counters=PostgresCounterStore(pool),
        revocations=PostgresRevocationStore(pool), closer=pool.close,
    )
