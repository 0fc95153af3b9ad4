"""A small PostgreSQL connection pool with bounded waits everywhere.

psycopg_pool is not a dependency, and the stores need only this: at most
``max_size`` autocommit connections, each created lazily, checked out for one
operation, dropped when broken. The schema is created on the first
connection, so a store opened while its server is down starts working as
soon as the server is up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow

from writ._errors import StoreUnavailable
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


class Pool:
    """Up to ``max_size`` connections to one database, for one namespace."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "writ",
        schema: Callable[[str], list[str]],
        max_size: int = 8,
        timeout: float = 1.0,
        io_timeout: float = 2.0,
        lock_timeout: float = 1.0,
    ) -> None:
        self.namespace = check_sql_namespace(namespace)
        self._url = url
        self._schema = schema
        self._timeout = timeout
        self._io_timeout = io_timeout
        self._options = f"-c lock_timeout={int(lock_timeout * 1000)}"
        self._idle: list[_BoundedConnection] = []
        self._slots = threading.BoundedSemaphore(max_size)
        self._lock = threading.Lock()
        self._ready = False
        self._closed = False

    def _connect(self) -> _BoundedConnection:
        conn = _BoundedConnection.connect(
            self._url,
            autocommit=True,
            # libpq (and psycopg) enforce a 2 s minimum here; refusals are immediate.
            connect_timeout=max(2, round(self._timeout)),
            options=self._options,
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
        if not self._slots.acquire(timeout=self._timeout):
            raise StoreUnavailable("postgres: no free connection in the pool")
        conn: _BoundedConnection | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            yield conn
        except psycopg.Error as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
        finally:
            self._release(conn)
            self._slots.release()

    def _release(self, conn: _BoundedConnection | None) -> None:
        if conn is None:
            return
        healthy = not conn.closed and not conn.broken
        if healthy and conn.info.transaction_status == pq.TransactionStatus.IDLE and not self._closed:
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
