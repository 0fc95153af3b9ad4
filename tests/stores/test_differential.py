"""Every backend answers every random sequence of operations exactly as the memory store does.

The Redis store runs its own Lua transcription of the charging rule, and the
SQL stores round-trip state through their tables; this catches any drift.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writ.stores import Charge, MemoryCounterStore, MemoryReplayStore, Stores

T0 = 1_790_000_000.0
KEYS = ["a", "b", "c"]

limits = st.fixed_dictionaries(
    {
        "calls_max": st.one_of(st.none(), st.integers(0, 8)),
        "rate": st.one_of(st.none(), st.tuples(st.integers(1, 5), st.integers(1, 4))),
        # Small sets of round values make exact boundaries (spent == max) common.
        "spend_max": st.one_of(st.none(), st.sampled_from([0, 1, 500_000, 999_999, 1_000_000])),
    }
)
steps = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 199_999, 200_000, 250_000, 333_333, 333_334, 1_000_000]),
        st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True),
        st.sampled_from([0, 1, 250_000, 333_333, 500_000]),  # amount in micro-units
    ),
    max_size=25,
)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _charge(run: str, key: str, spec: dict[str, Any], amount: int) -> Charge:
    rate, spend_max = spec["rate"], spec["spend_max"]
    return Charge(
        key=f"{run}-{key}",
        calls_max=spec["calls_max"],
        rate_count=None if rate is None else rate[0],
        rate_per_s=None if rate is None else rate[1],
        spend_max=None if spend_max is None else Decimal(spend_max) / 10**6,
        amount=Decimal(amount) / 10**6,
    )


@SETTINGS
@given(specs=st.fixed_dictionaries({k: limits for k in KEYS}), plan=steps)
def test_charges_agree_with_the_memory_store(
    stores: Stores, specs: dict[str, dict[str, Any]], plan: list[tuple[int, list[str], int]]
) -> None:
    run, model, now = uuid.uuid4().hex[:8], MemoryCounterStore(), T0
    for gap, keys, amount in plan:
        now += gap / 10**6
        charges = [_charge(run, k, specs[k], amount) for k in keys]
        assert stores.counters.charge(charges, now=now) == model.charge(charges, now=now)


@SETTINGS
@given(
    plan=st.lists(
        st.tuples(st.integers(0, 3_000_000), st.sampled_from(KEYS), st.integers(1, 2_000_000)),
        max_size=30,
    )
)
def test_replay_agrees_with_the_memory_store(
    stores: Stores, plan: list[tuple[int, str, int]]
) -> None:
    run, model, now = uuid.uuid4().hex[:8], MemoryReplayStore(), T0
    for gap, key, ttl in plan:
        now += gap / 10**6
        expires = now + ttl / 10**6
        got = stores.replay.add_once(f"{run}-{key}", expires_at=expires, now=now)
        assert got == model.add_once(f"{run}-{key}", expires_at=expires, now=now)
