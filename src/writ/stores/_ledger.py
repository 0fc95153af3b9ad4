"""The charging rule, in exact integers: GCRA rate, total calls and spend.

Shared by the memory, SQLite and PostgreSQL counter stores; the Redis store
runs the same rule in Lua (``_redis.py``) and the conformance suite checks the
two agree. Time is in integer microseconds and money in integer micro-units
(10^-6), so every backend computes bit-for-bit the same answer.

GCRA (the Generic Cell Rate Algorithm, ITU-T I.371) with ``count`` calls per
``per_s`` seconds: emission interval ``T = ceil(per_s / count)``, burst
tolerance ``tau = (count - 1) * T``; one stored theoretical arrival time
``tat`` per key. A call at ``now`` conforms iff ``max(tat, now) - now <= tau``,
and then ``tat := max(tat, now) + T``. A burst of exactly ``count`` calls
passes from rest; rounding ``T`` up keeps the long-run rate at or below
``count / per_s``. A refused call changes nothing.

Order of evaluation (documented in docs/stores.md): every key's rate first
(``rate_limited``), then every key's calls and spend (``budget_exhausted``),
each in the order the charges were given; the first refusing key is reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from writ.stores._protocols import MAX_EXACT, Charge, ChargeResult, check_text

__all__ = [
    "COUNTER_GRACE_S", "REPLAY_GRACE_S", "Counter", "Limits",
    "check_replay", "evaluate", "micros", "prepare",
]

OK = ChargeResult(ok=True)
# A key's counters are kept this long after its token's ``exp`` before a store
# may forget them: longer than any verifier's clock leeway, so no replica with
# a lagging clock can charge a token whose budget was already forgotten.
COUNTER_GRACE_S = 3600.0
# A shared store deletes an expired nonce only this long after its deadline by
# the deleting replica's clock, so a replica whose clock lags by less than this
# still finds the nonce (and compares the stored deadline with its own clock).
REPLAY_GRACE_S = 120.0


@dataclass(frozen=True, slots=True)
class Limits:
    """One charge in integers: the form every backend evaluates."""

    key: str
    calls_max: int | None
    interval_us: int | None
    tolerance_us: int | None
    spend_max: int | None
    amount: int
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class Counter:
    """A key's stored state: calls made, micro-units spent, theoretical arrival time (µs)."""

    calls: int = 0
    spent: int = 0
    tat: int = 0


EMPTY = Counter()


def micros(seconds: float) -> int:
    """Seconds as integer microseconds (rounded to nearest, not truncated)."""
    return round(seconds * 1_000_000)


def check_replay(key: str, expires_at: float, now: float) -> None:
    """A storable key, and a deadline after ``now`` within exact microsecond range."""
    check_text("key", key)
    if not (math.isfinite(expires_at) and math.isfinite(now)):
        raise ValueError("expires_at and now must be finite")
    if not expires_at > now:
        raise ValueError("expires_at must be after now")
    if micros(expires_at) > MAX_EXACT:
        raise ValueError("expires_at is too far in the future")


def _limits(charge: Charge) -> Limits:
    interval = tolerance = None
    if charge.rate_count is not None and charge.rate_per_s is not None:
        period = max(1, micros(charge.rate_per_s))
        interval = max(1, -(-period // charge.rate_count))
        tolerance = (charge.rate_count - 1) * interval
    spend_max = None if charge.spend_max is None else int(charge.spend_max * 1_000_000)
    return Limits(
        key=charge.key,
        calls_max=charge.calls_max,
        interval_us=interval,
        tolerance_us=tolerance,
        spend_max=spend_max,
        amount=int(charge.amount * 1_000_000),
        expires_at=charge.expires_at,
    )


def prepare(charges: Sequence[Charge], now: float) -> list[Limits]:
    """The limited charges as integers.

    Caller errors (``ValueError``): a key given twice, or a key past its
    retention (``expires_at + COUNTER_GRACE_S``), whose counters a store may
    already have forgotten: charging it could start from a fresh budget.
    """
    keys = [c.key for c in charges]
    if len(set(keys)) != len(keys):
        raise ValueError("each key may be charged once per call")
    for c in charges:
        if c.limited and c.expires_at is not None and now >= c.expires_at + COUNTER_GRACE_S:
            raise ValueError(f"charge for {c.key!r} is past its token's retention")
    return [_limits(c) for c in charges if c.limited]


def _rate_refusal(lim: Limits, state: Counter, now_us: int) -> ChargeResult | None:
    if lim.interval_us is None or lim.tolerance_us is None:
        return None
    late = max(state.tat, now_us) - now_us - lim.tolerance_us
    if late <= 0:
        return None
    return ChargeResult(
        ok=False, code="rate_limited", key=lim.key, limit="rate", retry_after=late / 1_000_000
    )


def _budget_refusal(lim: Limits, state: Counter) -> ChargeResult | None:
    if lim.calls_max is not None and state.calls + 1 > lim.calls_max:
        return ChargeResult(ok=False, code="budget_exhausted", key=lim.key, limit="calls")
    if lim.spend_max is not None and state.spent + lim.amount > lim.spend_max:
        return ChargeResult(ok=False, code="budget_exhausted", key=lim.key, limit="spend")
    return None


def _debited(lim: Limits, state: Counter, now_us: int) -> Counter:
    tat = state.tat
    if lim.interval_us is not None:
        tat = max(tat, now_us) + lim.interval_us
    spent = state.spent + (lim.amount if lim.spend_max is not None else 0)
    return Counter(calls=state.calls + 1, spent=spent, tat=tat)


def evaluate(
    limits: Sequence[Limits], states: Mapping[str, Counter], now_us: int
) -> tuple[ChargeResult, dict[str, Counter]]:
    """Decide a charge: the result, and on success every key's new state."""
    for lim in limits:
        refusal = _rate_refusal(lim, states.get(lim.key, EMPTY), now_us)
        if refusal is not None:
            return refusal, {}
    for lim in limits:
        refusal = _budget_refusal(lim, states.get(lim.key, EMPTY))
        if refusal is not None:
            return refusal, {}
    return OK, {lim.key: _debited(lim, states.get(lim.key, EMPTY), now_us) for lim in limits}
