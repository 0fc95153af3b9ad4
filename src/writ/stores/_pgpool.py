"""A small PostgreSQL connection pool with bounded waits everywhere.

psycopg_pool is not a dependency, and the stores need only this: at most
``max_size`` autocommit connections, each created lazily, checked out for one
operation, dropped when broken. The schema is created on the first
connection, so a store opened while its server is down starts working as
soon as the server is up.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from writ._errors import ConfigurationError, StoreUnavailable
from writ.stores._namespace import check_sql_namespace

__all__ = ["Pool"]

RV = TypeVar("RV")


class _BoundedConnection(psycopg.Connection[TupleRow]):
    """A connection whose every socket wait gives up after ``io_timeout`` seconds.

    libpq has no client-side read timeout, and TCP keepalives do not fire while
    a stopped (SIGSTOP) server's kernel still acknowledges packets; psycopg's
    ``wait`` takes a timeout, which this applies by default.
    """

    io_timeout: float = 2.0

    def wait(
        self, gen: Generator[Any, Any, RV], interval: float = 0.1, timeout: float | None = None
    ) -> RV:
        """Consume ``gen`` on the socket, for at most ``io_timeout`` seconds by default."""
        return super().wait(gen, interval, self.io_timeout if timeout is None else timeout)


def _stale(conn: _BoundedConnection) -> bool:
    """An idle connection with something to read was closed by the server (e.g. a restart)."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


class Pool:
    """Up to ``max_size`` connections to one database, for one namespace."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "writ",
        schema: Callable[[str], list[str]],
        max_size: int = 8,
        connect_timeout: int = 2,
        io_timeout: float = 2.0,
        lock_timeout: float = 1.0,
        wait_timeout: float = 5.0,
    ) -> None:
        self.namespace = check_sql_namespace(namespace)
        # Keep the URL's own ``options`` (e.g. ``-c synchronous_commit=off``), add ours.
        ours = f"-c lock_timeout={int(lock_timeout * 1000)}"
        try:
            theirs = conninfo_to_dict(url).get("options") or ""
            self._conninfo = make_conninfo(url, options=f"{theirs} {ours}".strip())
        except psycopg.Error as exc:
            raise ConfigurationError(f"postgres URL: {exc}") from None
        self._schema = schema
        # libpq (and psycopg) treat anything below 2 s as 2 s; a refusal is immediate.
        self._connect_timeout = max(2, connect_timeout)
        self._io_timeout = io_timeout
        self._idle: list[_BoundedConnection] = []
        self._slots = threading.BoundedSemaphore(max_size)
        self._wait_timeout = wait_timeout
        self._lock = threading.Lock()
        self._ready = False
        self._closed = False

    def _connect(self) -> _BoundedConnection:
        conn = _BoundedConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            # Keepalives and tcp_user_timeout (ms) bound a dead peer or network.
            keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=2,
            tcp_user_timeout=int(self._io_timeout * 1000),
        )
        conn.io_timeout = self._io_timeout
        if not self._ready:
            with conn.transaction():
                # Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('writ-stores-schema'))")
                for ddl in self._schema(self.namespace):
                    conn.execute(ddl)
            self._ready = True
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[TupleRow]]:
        """Check out a connection for one operation; errors become ``StoreUnavailable``."""
        if self._closed:
            raise StoreUnavailable("postgres: store is closed")
        if not self._slots.acquire(timeout=self._wait_timeout):
            raise StoreUnavailable("postgres: no free connection in the pool")
        conn: _BoundedConnection | None = None
        try:
            conn = self._checkout()
            yield conn
        except psycopg.Error as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
        finally:
            self._release(conn)
            self._slots.release()

    def _checkout(self) -> _BoundedConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if not _stale(conn):
                return conn
            conn.close()

    def _release(self, conn: _BoundedConnection | None) -> None:
        if conn is None:
            return
        unusable = conn.closed or conn.broken or self._closed
        if not unusable and conn.info.transaction_status == pq.TransactionStatus.IDLE:
            with self._lock:
                self._idle.append(conn)
            return
        try:
            conn.close()
        except psycopg.Error:
            pass  # already gone

    def close(self) -> None:
        """Close every idle connection; checked-out ones close when returned."""
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
