"""The receiver's state: replay, counters and revocations on memory, SQLite, Redis or PostgreSQL.

Pick a backend by URL with ``open_stores``; see docs/stores.md for the
semantics every backend shares and how each one fails (closed).
"""

from __future__ import annotations

from writ.stores._memory import MemoryCounterStore, MemoryReplayStore, MemoryRevocationStore
from writ.stores._protocols import (
    Charge,
    ChargeResult,
    CounterStore,
    ReplayStore,
    Revocation,
    RevocationStore,
    Stores,
)
from writ.stores._url import open_stores

__all__ = [
    "Charge",
    "ChargeResult",
    "CounterStore",
    "MemoryCounterStore",
    "MemoryReplayStore",
    "MemoryRevocationStore",
    "ReplayStore",
    "Revocation",
    "RevocationStore",
    "Stores",
    "open_stores",
]
