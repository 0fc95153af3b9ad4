"""The charging rule on its own: Charge validation, exactness, and properties against a model."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ.stores import Charge, ChargeResult
from writ.stores._ledger import COUNTER_GRACE_S, EMPTY, Counter, evaluate, micros, prepare
from writ.stores._protocols import MAX_EXACT, MAX_RATE_COUNT, MAX_RATE_PERIOD_S

T0 = 1_790_000_000.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amount": Decimal("-0.01")},
        {"amount": Decimal("0.0000001")},
        {"amount": Decimal("1.0000001")},
        {"amount": Decimal("NaN")},
        {"amount": Decimal("Infinity")},
        {"amount": 1.5},
        {"spend_max": Decimal(-1)},
        {"spend_max": Decimal("0.1234567")},
        {"spend_max": Decimal(MAX_EXACT) / 1_000_000 + Decimal("0.000001")},
        {"amount": Decimal(10) ** 30},
        {"calls_max": -1},
        {"calls_max": MAX_EXACT + 1},
        {"rate_count": 5},
        {"rate_per_s": 1.0},
        {"rate_count": 0, "rate_per_s": 1.0},
        {"rate_count": 1, "rate_per_s": 0.0},
        {"rate_count": 1, "rate_per_s": float("inf")},
        {"rate_count": 1, "rate_per_s": MAX_RATE_PERIOD_S * 2.0},
        {"rate_count": MAX_RATE_COUNT + 1, "rate_per_s": 1.0},
        {"expires_at": float("nan")},
        {"calls_max": 3.0},
        {"calls_max": True},
        {"rate_count": 2.5, "rate_per_s": 1},
        {"rate_count": 2, "rate_per_s": "1"},
        {"rate_count": 2, "rate_per_s": True},
    ],
)
def test_invalid_charges_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Charge(key="k", **kwargs)  # type: ignore[arg-type]


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        Charge(key="")


def test_amounts_become_exact_micro_units() -> None:
    (lim,) = prepare([Charge(key="k", spend_max=Decimal("500.00"), amount=Decimal("0.000001"))], T0)
    assert (lim.spend_max, lim.amount) == (500_000_000, 1)
    (top,) = prepare([Charge(key="k", spend_max=Decimal(MAX_EXACT) / 10**6)], T0)
    assert top.spend_max == MAX_EXACT


def test_micros_rounds_instead_of_truncating() -> None:
    assert micros(0.333334) == 333_334
    assert micros(T0 + 0.5) == 1_790_000_000_500_000


def test_gcra_parameters() -> None:
    (lim,) = prepare([Charge(key="k", rate_count=3, rate_per_s=1)], T0)
    # T rounds up (never faster than count/per_s); tau = (count - 1) * T.
    assert (lim.interval_us, lim.tolerance_us) == (333_334, 666_668)


def test_a_key_past_its_retention_is_refused() -> None:
    charge = Charge(key="k", calls_max=1, expires_at=T0)
    assert prepare([charge], T0 + COUNTER_GRACE_S - 1)
    with pytest.raises(ValueError):
        prepare([charge], T0 + COUNTER_GRACE_S)
    assert prepare([Charge(key="k", expires_at=T0)], T0 + 10**6) == []  # unlimited: no state


def test_a_refusal_returns_no_new_state() -> None:
    limits = prepare([Charge(key="k", calls_max=0)], T0)
    result, updated = evaluate(limits, {}, micros(T0))
    assert not result.ok and updated == {}


# --- properties ---------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=5_000_000).map(lambda n: Decimal(n) / 10**6)


@settings(max_examples=200, deadline=None)
@given(
    spend_max=amounts,
    calls_max=st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
    costs=st.lists(amounts, max_size=40),
)
def test_calls_and_spend_match_a_decimal_model(
    spend_max: Decimal, calls_max: int | None, costs: list[Decimal]
) -> None:
    state: dict[str, Counter] = {}
    spent, calls = Decimal(0), 0
    for cost in costs:
        charge = Charge(key="k", calls_max=calls_max, spend_max=spend_max, amount=cost)
        result, updated = evaluate(prepare([charge], T0), state, micros(T0))
        fits_calls = calls_max is None or calls + 1 <= calls_max
        fits_spend = spent + cost <= spend_max
        assert result.ok == (fits_calls and fits_spend)
        if result.ok:
            spent, calls = spent + cost, calls + 1
            state = updated
        else:
            assert result.limit == ("calls" if not fits_calls else "spend")
        assert state.get("k", EMPTY).spent == spent * 10**6
    assert spent <= spend_max


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=50),
    per_s=st.integers(min_value=1, max_value=3600),
    gaps=st.lists(st.integers(min_value=0, max_value=5_000_000), max_size=60),
)
def test_gcra_stays_inside_its_envelope(count: int, per_s: int, gaps: list[int]) -> None:
    # n calls in any window of w seconds need (n - 1) * T <= w + tau with the
    # exact T = per_s / count, i.e. n <= count + w / T: never more, whatever the timing.
    limits = prepare([Charge(key="k", rate_count=count, rate_per_s=per_s)], T0)
    state: dict[str, Counter] = {}
    now_us, accepted = micros(T0), []
    for gap in gaps:
        now_us += gap
        result, updated = evaluate(limits, state, now_us)
        if result.ok:
            accepted.append(now_us)
            state = updated
        else:
            assert result.code == "rate_limited" and result.retry_after is not None
            assert result.retry_after > 0
    exact_t = Fraction(per_s * 10**6, count)
    for i, start in enumerate(accepted):
        for j in range(i, len(accepted)):
            n, width = j - i + 1, accepted[j] - start
            assert n <= count + Fraction(width) / exact_t


@given(count=st.integers(min_value=1, max_value=10_000), per_s=st.integers(1, 10**6))
def test_gcra_burst_from_rest_is_exactly_count(count: int, per_s: int) -> None:
    limits = prepare([Charge(key="k", rate_count=count, rate_per_s=per_s)], T0)
    state: dict[str, Counter] = {}
    for _ in range(count):
        result, state = evaluate(limits, state, micros(T0))
        assert result == ChargeResult(ok=True)
    assert evaluate(limits, state, micros(T0))[0].code == "rate_limited"
