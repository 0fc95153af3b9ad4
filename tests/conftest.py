"""Shared fixtures: the machine's PostgreSQL and Redis, used for real.

Tests that need a service skip with a clear reason when it is not reachable,
unless WRIT_REQUIRE_SERVICES=1 is set (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_HOST = os.environ.get("WRIT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("WRIT_TEST_PG_PORT", "5432"))
PG_BASE = f"postgresql://postgres@{PG_HOST}:{PG_PORT}"
REDIS_URL = os.environ.get("WRIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _unavailable(what: str) -> None:
    reason = f"{what} is not reachable on this machine"
    if os.environ.get("WRIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and WRIT_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test; dropped afterwards."""
    if not _reachable(PG_HOST, PG_PORT):
        _unavailable(f"PostgreSQL at {PG_HOST}:{PG_PORT}")
    psycopg = pytest.importorskip("psycopg")
    name = "writ_t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"{PG_BASE}/test", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        with psycopg.connect(f"{PG_BASE}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis; pair it with ``redis_prefix`` so tests never collide."""
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    if not _reachable(host, int(port)):
        _unavailable(f"Redis at {host}:{port}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; its keys are deleted afterwards."""
    redis = pytest.importorskip("redis")
    prefix = "writ-test:" + uuid.uuid4().hex[:12] + ":"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()
