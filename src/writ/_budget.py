"""The ``writ_budget`` claim: per-token call, rate and spend limits (Writ extension).

A budget attenuates like everything else: a child's limits are equal or smaller on
every axis it inherits. The receiver enforces each token's own budget keyed by its
``jti``, so a chain of children can never spend more than an ancestor allows in total.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from writ._errors import MalformedError

__all__ = ["Budget", "Rate", "Spend", "parse_amount"]

_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,6})?")
# Stores keep money as integer micro-units below 2^53 so every backend is exact (stores docs).
_MAX_AMOUNT = Decimal("9007199254.740991")
_MAX_PERIOD = 10**9
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_COUNT = 10**12


def parse_amount(value: object) -> Decimal:
    """A money amount: a non-negative decimal string with at most 6 decimals, never a float."""
    if not isinstance(value, str) or _AMOUNT.fullmatch(value) is None:
        raise MalformedError("an amount is a decimal string such as \"12.50\"; floats are refused")
    amount = Decimal(value)
    if amount > _MAX_AMOUNT:
        raise MalformedError(f"an amount is at most {_MAX_AMOUNT}")
    return amount


def _count(value: object, name: str, limit: int = _MAX_COUNT) -> int:
    if type(value) is not int or not 0 < value <= limit:
        raise MalformedError(f"{name} must be a positive integer up to {limit}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """At most ``count`` calls per ``per_s`` seconds (GCRA, burst of ``count``)."""

    count: int
    per_s: int

    def within(self, parent: Rate) -> bool:
        """True when this rate is no faster and no burstier than ``parent``."""
        mine, theirs = Fraction(self.count, self.per_s), Fraction(parent.count, parent.per_s)
        return self.count <= parent.count and mine <= theirs


@dataclass(frozen=True, slots=True, kw_only=True)
class Spend:
    """At most ``max`` of ``currency`` summed over the ``arg`` argument of every call."""

    arg: str
    currency: str
    max: Decimal

    def within(self, parent: Spend) -> bool:
        """True when this spend limit is on the same argument and currency, and no larger."""
        return (self.arg, self.currency) == (parent.arg, parent.currency) and self.max <= parent.max


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A token's own limits; ``None`` on an axis means that axis is unlimited."""

    calls: int | None = None
    rate: Rate | None = None
    spend: Spend | None = None

    @classmethod
    def parse(cls, claim: object) -> Budget:
        """Parse the claim strictly: unknown members are refused so no limit is ignored."""
        if not isinstance(claim, dict) or not set(claim) <= {"calls", "rate", "spend"}:
            raise MalformedError("writ_budget has only calls, rate and spend")
        rate = spend = None
        if "rate" in claim:
            r = claim["rate"]
            if not isinstance(r, dict) or set(r) != {"count", "per_s"}:
                raise MalformedError("writ_budget.rate is {count, per_s}")
            rate = Rate(count=_count(r["count"], "rate.count"), per_s=_count(r["per_s"], "rate.per_s", _MAX_PERIOD))
        if "spend" in claim:
            s = claim["spend"]
            if not isinstance(s, dict) or set(s) != {"arg", "currency", "max"}:
                raise MalformedError("writ_budget.spend is {arg, currency, max}")
            if not isinstance(s["arg"], str) or not s["arg"]:
                raise MalformedError("writ_budget.spend.arg names an argument")
            if not isinstance(s["currency"], str) or not _CURRENCY.fullmatch(s["currency"]):
                raise MalformedError("writ_budget.spend.currency is an ISO 4217 code")
            spend = Spend(arg=s["arg"], currency=s["currency"], max=parse_amount(s["max"]))
        calls = _count(claim["calls"], "calls") if "calls" in claim else None
        return cls(calls=calls, rate=rate, spend=spend)

    def to_json(self) -> dict[str, Any]:
        """The wire form of the claim."""
        out: dict[str, Any] = {}
        if self.calls is not None:
            out["calls"] = self.calls
        if self.rate is not None:
            out["rate"] = {"count": self.rate.count, "per_s": self.rate.per_s}
        if self.spend is not None:
            out["spend"] = {"arg": self.spend.arg, "currency": self.spend.currency,
                            "max": format(self.spend.max, "f")}
        return out

    def widening(self, parent: Budget | None) -> str | None:
        """Why this budget is wider than ``parent``, or None when it is within it."""
        if parent is None:
            return None
        if parent.calls is not None and (self.calls is None or self.calls > parent.calls):
            return "calls exceeds the parent's"
        if parent.rate is not None and (self.rate is None or not self.rate.within(parent.rate)):
            return "rate exceeds the parent's"
        if parent.spend is not None and (self.spend is None or not self.spend.within(parent.spend)):
            return "spend exceeds the parent's or changes its argument or currency"
        return None

    @property
    def empty(self) -> bool:
        """True when no axis is limited."""
        return self.calls is None and self.rate is None and self.spend is None
