"""Log backends for the storage and fault tests: a real SQLite file or PostgreSQL database."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest


class Backend:
    """A log URL and raw SQL access that bypasses Writ, as a tamperer would have."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind, self.url = kind, url

    def table(self, name: str) -> str:
        return name if self.kind == "sqlite" else f"writ_log.{name}"

    def blob(self, data: bytes) -> str:
        """A SQL literal for ``data``."""
        return f"x'{data.hex()}'" if self.kind == "sqlite" else f"'\\x{data.hex()}'::bytea"

    def raw(self, statements: Sequence[str]) -> None:
        """Run statements in autocommit mode; the first error propagates."""
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"), isolation_level=None)
            try:
                for statement in statements:
                    conn.execute(statement)
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as pg:
                for statement in statements:
                    pg.execute(statement)  # type: ignore[arg-type]

    def drop_triggers(self, table: str) -> None:
        """What an attacker with the database's keys does first."""
        if self.kind == "sqlite":
            names = [f"{table}_no_UPDATE", f"{table}_no_DELETE", f"{table}_insert"]
            self.raw([f"DROP TRIGGER IF EXISTS {n}" for n in names])
        else:
            self.raw([f"ALTER TABLE writ_log.{table} DISABLE TRIGGER USER"])


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The same log contract on each backend."""
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite://{tmp_path / 'log.db'}")
    return Backend("postgresql", request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    """A SQLite log only, for what only a file can show."""
    return Backend("sqlite", f"sqlite://{tmp_path / 'log.db'}")
