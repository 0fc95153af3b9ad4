"""The receiver's state interfaces: replay, counters, revocations (DESIGN §4).

Every method that touches the outside world raises ``StoreUnavailable`` on
failure and never a driver exception; the verifier turns that into the
``state_unavailable`` denial (fail-closed). Time is always passed in as
``now`` (float seconds since the epoch): no store reads the clock to decide.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

__all__ = [
    "MAX_EXACT",
    "MAX_RATE_COUNT",
    "MAX_RATE_PERIOD_S",
    "Charge",
    "ChargeResult",
    "CounterStore",
    "ReplayStore",
    "Revocation",
    "RevocationStore",
    "Stores",
    "check_text",
]

# Every stored integer (calls, micro-units, microseconds) stays below 2**53 so
# that Redis's Lua, whose numbers are IEEE doubles, computes exactly what the
# SQL backends compute: one bound for every backend keeps them interchangeable.
MAX_EXACT = 2**53 - 1
# With these two bounds a theoretical arrival time (microseconds since the
# epoch, at most now + per_s + count µs) stays far below MAX_EXACT.
MAX_RATE_PERIOD_S = 10**9
MAX_RATE_COUNT = 10**12
_MICRO = Decimal("0.000001")

LimitName = Literal["calls", "rate", "spend"]
RefusalCode = Literal["budget_exhausted", "rate_limited"]


def check_text(name: str, value: object) -> str:
    """A key or field every backend can store as-is: a ``str`` of UTF-8 text without NUL.

    PostgreSQL text cannot hold NUL, and no driver can encode a lone surrogate;
    refusing both here keeps the four backends identical (the verifier refuses
    such token ids as malformed before they reach a store).
    """
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError(f"{name} must be a string without NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} must be valid Unicode text") from None
    return value


def _int_in(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _check_money(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite decimal.Decimal")
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    if value * 1_000_000 > MAX_EXACT:
        raise ValueError(f"{name} exceeds {Decimal(MAX_EXACT) * _MICRO}")
    if value != value.quantize(_MICRO, rounding="ROUND_DOWN"):
        raise ValueError(f"{name} has finer precision than 10^-6")


@dataclass(frozen=True, slots=True, kw_only=True)
class Charge:
    """One token's limits and this call's cost; ``None`` means unlimited on that axis.

    ``key`` is the token's ``jti``. ``expires_at`` (the token's ``exp``) lets a
    store forget the key's counters once no call can use them any more.
    """

    key: str
    calls_max: int | None = None
    rate_count: int | None = None
    rate_per_s: float | None = None
    spend_max: Decimal | None = None
    amount: Decimal = Decimal(0)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        if not check_text("key", self.key):
            raise ValueError("a charge key is a non-empty string")
        if self.calls_max is not None and not _int_in(self.calls_max, 0, MAX_EXACT):
            raise ValueError("calls_max must be an integer between 0 and 2**53 - 1")
        if (self.rate_count is None) != (self.rate_per_s is None):
            raise ValueError("rate_count and rate_per_s come together")
        if self.rate_count is not None and self.rate_per_s is not None:
            if not _int_in(self.rate_count, 1, MAX_RATE_COUNT):
                raise ValueError(f"rate_count must be an integer in [1, {MAX_RATE_COUNT}]")
            per_s = self.rate_per_s
            if isinstance(per_s, bool) or not isinstance(per_s, (int, float)) or not (
                math.isfinite(per_s) and 0 < per_s <= MAX_RATE_PERIOD_S
            ):
                raise ValueError(f"rate_per_s must be a number in (0, {MAX_RATE_PERIOD_S}]")
        if self.spend_max is not None:
            _check_money("spend_max", self.spend_max)
        _check_money("amount", self.amount)
        if self.expires_at is not None and not math.isfinite(self.expires_at):
            raise ValueError("expires_at must be finite")

    @property
    def limited(self) -> bool:
        """True when at least one axis is limited, so the store must keep state."""
        return not (self.calls_max is None and self.rate_count is None and self.spend_max is None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeResult:
    """The outcome of ``charge``: debited, or refused with the first refusing key.

    ``retry_after`` (seconds) is set for ``rate_limited``: the earliest time, by
    the same clock, at which the same charge could pass its rate limit.
    """

    ok: bool
    code: RefusalCode | None = None
    key: str | None = None
    limit: LimitName | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Revocation:
    """A stored revocation statement: ``signer`` revoked token ``jti`` (and its subtree)."""

    jti: str
    signer: str
    statement: str
    issued_at: float

    def __post_init__(self) -> None:
        for name in ("jti", "signer", "statement"):
            check_text(name, getattr(self, name))
        at = self.issued_at
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
            raise ValueError("issued_at is a finite number of seconds since the epoch")


class ReplayStore(Protocol):
    """Set-if-absent with expiry: each nonce is accepted once while it could be replayed."""

    def add_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record key until expires_at. True if it was new, False if seen and unexpired."""
        ...


class CounterStore(Protocol):
    """Atomic check-and-debit of calls, rate and spend over several keys at once."""

    def charge(self, charges: Sequence[Charge], *, now: float) -> ChargeResult:
        """All-or-nothing: debit every charge, or none and say which limit refused."""
        ...


class RevocationStore(Protocol):
    """Revocation statements, looked up by revoked token id."""

    def add(self, revocation: Revocation) -> None:
        """Store a revocation; adding the same (jti, signer) again changes nothing."""
        ...

    def find(self, jtis: Sequence[str]) -> list[Revocation]:
        """The stored revocations naming any of these token ids."""
        ...

    def all_since(self, cursor: int) -> tuple[list[Revocation], int]:
        """Revocations stored after ``cursor`` (0 = all), in order, and the new cursor."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Stores:
    """The three stores of one receiver, opened together by ``open_stores``."""

    replay: ReplayStore
    counters: CounterStore
    revocations: RevocationStore
    closer: Callable[[], None]

    def close(self) -> None:
        """Release connections and files; the stores must not be used afterwards."""
        self.closer()
