"""One conformance suite, run on memory, SQLite, Redis and PostgreSQL alike."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writ.stores import Charge, ChargeResult, Revocation, Stores
from writ.stores._ledger import COUNTER_GRACE_S
from writ.stores._protocols import MAX_EXACT

# A realistic epoch time: microseconds near 1.8e15 exercise Lua's doubles.
T0 = 1_790_000_000.0
OK = ChargeResult(ok=True)


def _spend(key: str, max_: str, amount: str) -> Charge:
    return Charge(key=key, spend_max=Decimal(max_), amount=Decimal(amount))


# --- replay -------------------------------------------------------------------------------


def test_replay_accepts_a_key_once(stores: Stores) -> None:
    assert stores.replay.add_once("n1", expires_at=T0 + 60, now=T0) is True
    assert stores.replay.add_once("n1", expires_at=T0 + 60, now=T0 + 1) is False
    assert stores.replay.add_once("n1", expires_at=T0 + 120, now=T0 + 59.999) is False
    assert stores.replay.add_once("n2", expires_at=T0 + 60, now=T0) is True


def test_replay_forgets_a_key_only_after_it_expires(stores: Stores) -> None:
    assert stores.replay.add_once("n", expires_at=T0 + 10, now=T0)
    assert not stores.replay.add_once("n", expires_at=T0 + 20, now=T0 + 9.999999)
    assert stores.replay.add_once("n", expires_at=T0 + 20, now=T0 + 10)
    # The re-added key carries its new deadline.
    assert not stores.replay.add_once("n", expires_at=T0 + 30, now=T0 + 19)
    assert stores.replay.add_once("n", expires_at=T0 + 30, now=T0 + 20)


@pytest.mark.parametrize("expires_at", [T0, T0 - 1, float("inf"), float("nan"), 10.0**10])
def test_replay_refuses_a_deadline_it_cannot_keep(stores: Stores, expires_at: float) -> None:
    with pytest.raises(ValueError):
        stores.replay.add_once("n", expires_at=expires_at, now=T0)
    assert stores.replay.add_once("n", expires_at=T0 + 1, now=T0)


def test_replay_keys_are_opaque_strings(stores: Stores) -> None:
    for key in ["", "a:b", "ключ", "x" * 300, "%s'; DROP TABLE x; --"]:
        assert stores.replay.add_once(key, expires_at=T0 + 5, now=T0)
        assert not stores.replay.add_once(key, expires_at=T0 + 5, now=T0)


# --- counters: calls and spend ------------------------------------------------------------


def test_calls_are_exhausted_exactly(stores: Stores) -> None:
    charge = [Charge(key="w", calls_max=3)]
    assert [stores.counters.charge(charge, now=T0).ok for _ in range(3)] == [True] * 3
    refused = stores.counters.charge(charge, now=T0)
    assert refused == ChargeResult(ok=False, code="budget_exhausted", key="w", limit="calls")
    assert stores.counters.charge(charge, now=T0 + 10**6) == refused


def test_zero_calls_refuses_the_first(stores: Stores) -> None:
    result = stores.counters.charge([Charge(key="w", calls_max=0)], now=T0)
    assert (result.ok, result.code, result.limit) == (False, "budget_exhausted", "calls")


def test_spend_is_exact_to_the_micro_unit(stores: Stores) -> None:
    c = stores.counters
    assert all(c.charge([_spend("w", "1.00", "0.30")], now=T0).ok for _ in range(3))
    refused = c.charge([_spend("w", "1.00", "0.30")], now=T0)
    assert refused == ChargeResult(ok=False, code="budget_exhausted", key="w", limit="spend")
    # The refusal consumed nothing: exactly the remaining 0.10 still fits, then nothing.
    assert c.charge([_spend("w", "1.00", "0.099999")], now=T0).ok
    assert c.charge([_spend("w", "1.00", "0.000001")], now=T0).ok
    assert not c.charge([_spend("w", "1.00", "0.000001")], now=T0).ok
    assert c.charge([_spend("w", "1.00", "0")], now=T0).ok


def test_spend_is_exact_at_the_largest_amount(stores: Stores) -> None:
    top = str(Decimal(MAX_EXACT) / 1_000_000)
    assert stores.counters.charge([_spend("w", top, top)], now=T0).ok
    assert not stores.counters.charge([_spend("w", top, "0.000001")], now=T0).ok
    half = str(Decimal(MAX_EXACT - 1) / 2_000_000)
    assert stores.counters.charge([_spend("v", top, half)], now=T0).ok
    assert stores.counters.charge([_spend("v", top, half)], now=T0).ok
    assert stores.counters.charge([_spend("v", top, "0.000001")], now=T0).ok
    assert not stores.counters.charge([_spend("v", top, "0.000001")], now=T0).ok


def test_calls_and_spend_together(stores: Stores) -> None:
    charge = [Charge(key="w", calls_max=2, spend_max=Decimal(10), amount=Decimal(4))]
    assert stores.counters.charge(charge, now=T0).ok
    assert stores.counters.charge(charge, now=T0).ok
    assert stores.counters.charge(charge, now=T0).limit == "calls"


def test_unlimited_charges_always_pass(stores: Stores) -> None:
    assert stores.counters.charge([], now=T0) == OK
    assert stores.counters.charge([Charge(key="w", amount=Decimal(10**6))], now=T0) == OK


def test_counters_outlive_the_token_by_the_grace_period(stores: Stores) -> None:
    charge = [
        Charge(key="w", calls_max=2, spend_max=Decimal(1), amount=Decimal(1), expires_at=T0 + 60)
    ]
    assert stores.counters.charge(charge, now=T0).ok
    # Past exp but inside the grace period the spent budget is still remembered.
    late = T0 + 60 + COUNTER_GRACE_S - 1
    assert stores.counters.charge(charge, now=late).limit == "spend"
    with pytest.raises(ValueError):
        stores.counters.charge(charge, now=T0 + 60 + COUNTER_GRACE_S)


def test_a_key_given_twice_is_refused(stores: Stores) -> None:
    with pytest.raises(ValueError):
        stores.counters.charge([Charge(key="w", calls_max=1)] * 2, now=T0)


# --- counters: GCRA -----------------------------------------------------------------------


def _rate(key: str, count: int, per_s: float) -> list[Charge]:
    return [Charge(key=key, rate_count=count, rate_per_s=per_s)]


def test_rate_allows_a_burst_of_count_then_refuses(stores: Stores) -> None:
    c = stores.counters
    assert all(c.charge(_rate("w", 4, 2), now=T0).ok for _ in range(4))
    refused = c.charge(_rate("w", 4, 2), now=T0)
    assert refused == ChargeResult(
        ok=False, code="rate_limited", key="w", limit="rate", retry_after=0.5
    )


def test_rate_recovers_one_call_per_interval(stores: Stores) -> None:
    c = stores.counters
    for _ in range(4):
        c.charge(_rate("w", 4, 2), now=T0)
    # Refusals must not consume: many at T0 leave the schedule unchanged.
    for _ in range(5):
        assert not c.charge(_rate("w", 4, 2), now=T0).ok
    assert not c.charge(_rate("w", 4, 2), now=T0 + 0.499999).ok
    assert c.charge(_rate("w", 4, 2), now=T0 + 0.5).ok
    assert not c.charge(_rate("w", 4, 2), now=T0 + 0.5).ok
    assert c.charge(_rate("w", 4, 2), now=T0 + 1.0).ok
    # After a full period at rest the whole burst is back, and no more.
    later = T0 + 10
    assert all(c.charge(_rate("w", 4, 2), now=later).ok for _ in range(4))
    assert not c.charge(_rate("w", 4, 2), now=later).ok


def test_rate_burst_is_exact_when_the_period_does_not_divide(stores: Stores) -> None:
    c = stores.counters
    assert all(c.charge(_rate("w", 3, 1), now=T0).ok for _ in range(3))
    refused = c.charge(_rate("w", 3, 1), now=T0)
    assert refused.code == "rate_limited"
    assert refused.retry_after == pytest.approx(1 / 3, abs=2e-6)


def test_rate_never_exceeds_the_gcra_envelope(stores: Stores) -> None:
    # GCRA is a bucket of ``count`` refilled at count/per_s: n calls fit in a window
    # of w seconds only if (n - 1) * T <= w + tau, i.e. n <= count + w / T.
    c = stores.counters
    accepted = [t for t in range(0, 3000, 7) if c.charge(_rate("w", 5, 1), now=T0 + t / 1000).ok]
    for start in accepted:
        for width in (200, 1000, 2000):
            window = [t for t in accepted if start <= t < start + width]
            assert len(window) <= 5 + width // 200
    assert 5 + 14 <= len(accepted) <= 5 + 15


# --- counters: all-or-nothing and the order of evaluation ---------------------------------


def test_charge_is_all_or_nothing_across_keys(stores: Stores) -> None:
    c = stores.counters
    parent, child = Charge(key="parent", calls_max=3), Charge(key="child", calls_max=1)
    assert c.charge([parent, child], now=T0).ok
    refused = c.charge([parent, child], now=T0)
    assert (refused.code, refused.key) == ("budget_exhausted", "child")
    # The parent was not debited by the refused charge: two calls remain for it.
    assert c.charge([parent], now=T0).ok
    assert c.charge([parent], now=T0).ok
    assert c.charge([parent], now=T0).key == "parent"


def test_child_can_never_spend_more_than_its_ancestor(stores: Stores) -> None:
    c = stores.counters
    root = Charge(key="root", spend_max=Decimal(100), amount=Decimal(30))
    a = Charge(key="a", spend_max=Decimal(100), amount=Decimal(30))
    b = Charge(key="b", spend_max=Decimal(100), amount=Decimal(30))
    results = [c.charge([root, x], now=T0).ok for x in (a, b, a, b)]
    assert results == [True, True, True, False]
    assert c.charge([root, b], now=T0).key == "root"


def test_rate_is_checked_before_budgets(stores: Stores) -> None:
    c = stores.counters
    spent = Charge(key="spent", calls_max=0)
    fast = Charge(key="fast", rate_count=1, rate_per_s=60)
    assert c.charge([fast], now=T0).ok
    refused = c.charge([spent, fast], now=T0)
    assert (refused.code, refused.key) == ("rate_limited", "fast")


def test_the_first_refusing_key_in_order_is_reported(stores: Stores) -> None:
    c = stores.counters
    x, y = Charge(key="x", calls_max=0), Charge(key="y", calls_max=0)
    assert c.charge([x, y], now=T0).key == "x"
    assert c.charge([y, x], now=T0).key == "y"


def test_a_refused_rate_does_not_debit_other_keys(stores: Stores) -> None:
    c = stores.counters
    budget = Charge(key="budget", calls_max=1)
    fast = Charge(key="fast", rate_count=1, rate_per_s=60)
    assert c.charge([fast], now=T0).ok
    assert c.charge([budget, fast], now=T0).code == "rate_limited"
    assert c.charge([budget], now=T0).ok


# --- revocations --------------------------------------------------------------------------


def _rev(jti: str, signer: str = "urn:signer:a", at: float = T0) -> Revocation:
    return Revocation(jti=jti, signer=signer, statement=f"eyJ.{jti}.sig—ü", issued_at=at)


def test_revocations_are_found_by_jti(stores: Stores) -> None:
    r = stores.revocations
    assert r.find(["j1"]) == []
    r.add(_rev("j1"))
    r.add(_rev("j2", at=T0 + 1))
    assert r.find(["j1"]) == [_rev("j1")]
    assert r.find(["x", "j2", "j1"]) == [_rev("j1"), _rev("j2", at=T0 + 1)]
    assert r.find([]) == []


def test_adding_a_revocation_twice_changes_nothing(stores: Stores) -> None:
    r = stores.revocations
    r.add(_rev("j1"))
    r.add(_rev("j1"))
    assert r.find(["j1", "j1"]) == [_rev("j1")]
    assert r.all_since(0) == ([_rev("j1")], r.all_since(0)[1])


def test_two_signers_may_revoke_the_same_jti(stores: Stores) -> None:
    r = stores.revocations
    r.add(_rev("j1", "urn:signer:a"))
    r.add(_rev("j1", "urn:signer:b"))
    assert r.find(["j1"]) == [_rev("j1", "urn:signer:a"), _rev("j1", "urn:signer:b")]


def test_the_change_feed_returns_only_what_is_new(stores: Stores) -> None:
    r = stores.revocations
    assert r.all_since(0) == ([], 0)
    r.add(_rev("j1"))
    r.add(_rev("j2"))
    first, cursor = r.all_since(0)
    assert first == [_rev("j1"), _rev("j2")]
    assert r.all_since(cursor) == ([], cursor)
    r.add(_rev("j1"))  # a duplicate does not reappear
    r.add(_rev("j3"))
    new, later = r.all_since(cursor)
    assert new == [_rev("j3")] and later > cursor


# --- keys every backend can store ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "\ud800", "x\udfffy"])
def test_unstorable_text_is_refused_alike_everywhere(stores: Stores, bad: str) -> None:
    with pytest.raises(ValueError):
        stores.replay.add_once(bad, expires_at=T0 + 1, now=T0)
    with pytest.raises(ValueError):
        stores.counters.charge([Charge(key=bad, calls_max=1)], now=T0)
    with pytest.raises(ValueError):
        stores.revocations.find(["ok", bad])
    with pytest.raises(ValueError):
        Revocation(jti=bad, signer="s", statement="x", issued_at=T0)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # characters() already leaves out lone surrogates.
    text=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=60),
    issued_at=st.one_of(st.integers(0, 2**40), st.floats(0, 2e9, allow_nan=False)),
)
def test_revocations_round_trip_exactly(stores: Stores, text: str, issued_at: float) -> None:
    jti = uuid.uuid4().hex + text
    rev = Revocation(jti=jti, signer=text, statement=text * 3, issued_at=issued_at)
    stores.revocations.add(rev)
    assert stores.revocations.find([jti]) == [rev]
    assert stores.replay.add_once(jti, expires_at=T0 + 1, now=T0)
    assert not stores.replay.add_once(jti, expires_at=T0 + 1, now=T0)
