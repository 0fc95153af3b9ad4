"""Fixtures: the same stores API opened on every backend, on real engines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from writ.stores import Stores, open_stores

BACKENDS = ["memory", "sqlite", "redis", "postgres"]
SHARED = ["sqlite", "redis", "postgres"]


def backend_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> tuple[str, str]:
    """(url, namespace) for ``backend``; services come from the top-level conftest."""
    if backend == "memory":
        return "memory:", "writ"
    if backend == "sqlite":
        return f"sqlite://{tmp_path / 'stores.db'}", "writ"
    if backend == "redis":
        return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    return request.getfixturevalue("pg_url"), "writ"


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Fresh stores on each backend in turn."""
    url, namespace = backend_url(request, request.param, tmp_path)
    opened = open_stores(url, namespace=namespace)
    yield opened
    opened.close()


@pytest.fixture(params=SHARED)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(backend, url, namespace) of a store that several processes can share."""
    url, namespace = backend_url(request, request.param, tmp_path)
    return request.param, url, namespace


@pytest.fixture
def run_id() -> str:
    """A unique key prefix, so repeated examples never see each other's state."""
    return uuid.uuid4().hex[:10]
