"""Open a receiver's three stores from one URL (memory, SQLite, Redis or PostgreSQL)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from writ._errors import ConfigurationError
from writ.stores._memory import MemoryCounterStore, MemoryReplayStore, MemoryRevocationStore
from writ.stores._protocols import Stores

__all__ = ["open_stores"]


def open_stores(url: str, *, namespace: str = "writ") -> Stores:
    """Open replay, counter and revocation stores on the backend named by ``url``.

    ``memory:`` (one process, lost on exit); ``sqlite:///abs/path.db`` or
    ``sqlite:relative.db`` (``?synchronous=normal`` trades power-loss durability
    for speed; ``?busy_timeout=5`` bounds a wait for the file lock, in seconds);
    ``redis://host:port/db`` (or ``rediss://``,
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

    parts = urlsplit(url)
    if not parts.path:
        raise ConfigurationError("sqlite URL needs a path: sqlite:///abs/path.db")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if set(query) - {"synchronous", "busy_timeout"}:
        raise ConfigurationError("sqlite URL accepts only synchronous= and busy_timeout=")
    try:
        busy = float(query.get("busy_timeout", "5"))
    except ValueError:
        raise ConfigurationError("sqlite busy_timeout is a number of seconds") from None
    if not 0 < busy <= 60:
        raise ConfigurationError("sqlite busy_timeout must be in (0, 60] seconds")
    db = SqliteDatabase(
        parts.path, namespace=namespace, busy_timeout=busy,
        synchronous=query.get("synchronous", "full"),
    )
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
