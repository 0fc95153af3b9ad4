"""The memory stores are bounded and fail closed rather than forget live state."""

from __future__ import annotations

import pytest

from writ._errors import StoreUnavailable
from writ.stores import Charge, MemoryCounterStore, MemoryReplayStore
from writ.stores._ledger import COUNTER_GRACE_S

T0 = 1_790_000_000.0


def test_a_full_replay_store_refuses_instead_of_forgetting() -> None:
    store = MemoryReplayStore(max_entries=3)
    for key in "abc":
        assert store.add_once(key, expires_at=T0 + 60, now=T0)
    with pytest.raises(StoreUnavailable):
        store.add_once("d", expires_at=T0 + 60, now=T0)
    # Nothing was forgotten to make room.
    assert not any(store.add_once(key, expires_at=T0 + 60, now=T0 + 1) for key in "abc")


def test_a_full_replay_store_evicts_expired_entries_first() -> None:
    store = MemoryReplayStore(max_entries=3)
    store.add_once("old", expires_at=T0 + 1, now=T0)
    store.add_once("b", expires_at=T0 + 60, now=T0)
    store.add_once("c", expires_at=T0 + 60, now=T0)
    assert store.add_once("d", expires_at=T0 + 60, now=T0 + 2)
    assert not store.add_once("b", expires_at=T0 + 60, now=T0 + 2)
    assert not store.add_once("d", expires_at=T0 + 60, now=T0 + 2)


def test_a_re_added_key_keeps_its_new_deadline_through_eviction() -> None:
    store = MemoryReplayStore(max_entries=2)
    store.add_once("k", expires_at=T0 + 1, now=T0)
    store.add_once("k", expires_at=T0 + 100, now=T0 + 1)  # expired, so re-added
    store.add_once("x", expires_at=T0 + 3, now=T0 + 1)
    assert store.add_once("y", expires_at=T0 + 100, now=T0 + 4)  # evicts x, not k
    assert not store.add_once("k", expires_at=T0 + 100, now=T0 + 5)


def test_a_full_counter_store_refuses_new_keys_but_serves_known_ones() -> None:
    store = MemoryCounterStore(max_entries=2)
    assert store.charge([Charge(key="a", calls_max=5)], now=T0).ok
    assert store.charge([Charge(key="b", calls_max=5)], now=T0).ok
    with pytest.raises(StoreUnavailable):
        store.charge([Charge(key="c", calls_max=5)], now=T0)
    assert store.charge([Charge(key="a", calls_max=5)], now=T0).ok


def test_counters_are_forgotten_only_after_expiry_plus_grace() -> None:
    store = MemoryCounterStore(max_entries=1)
    spent = Charge(key="a", calls_max=1, expires_at=T0 + 10)
    assert store.charge([spent], now=T0).ok
    with pytest.raises(StoreUnavailable):
        store.charge([Charge(key="b", calls_max=1)], now=T0 + 10 + COUNTER_GRACE_S - 1)
    assert store.charge([Charge(key="b", calls_max=1)], now=T0 + 10 + COUNTER_GRACE_S).ok
