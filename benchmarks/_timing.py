"""Shared timing helpers for the benchmark scripts: warm up, repeat, take the median.

Every measurement runs an operation ``n`` times per repetition with
``time.perf_counter_ns`` around the whole batch (so the clock's own cost is
spread over ``n`` calls), after ``warmup`` untimed calls, and reports the median
repetition. Cases measured together are interleaved repetition by repetition, so
background load hits them alike. Beside the wall clock, each batch's thread CPU
time (``time.thread_time_ns``) is kept: on a shared machine it leaves out the time
the process waited for a core. The garbage collector stays enabled: a receiver
runs with it on.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "Plan", "Timing", "format_table", "measure", "measure_all", "paired_ratio"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """How long to measure: calls per repetition, repetitions, untimed warm-up calls."""

    n: int
    repeats: int
    warmup: int

    @property
    def total(self) -> int:
        """How many distinct operation indices ``measure`` uses (warm-up included)."""
        return self.warmup + self.n * self.repeats

    @classmethod
    def for_run(cls, *, quick: bool, n: int = 1000) -> Plan:
        """The full plan, or a short smoke plan for ``--quick`` (CI checks that it works)."""
        if quick:
            return cls(n=max(n // 10, 20), repeats=3, warmup=max(n // 100, 5))
        return cls(n=n, repeats=9, warmup=max(n // 10, 20))


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """The median cost of one operation over several repetitions."""

    name: str
    ns_per_op: float
    samples_ns: tuple[float, ...]
    cpu_samples_ns: tuple[float, ...]
    n: int
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_ns_per_op(self) -> float:
        """Median CPU time of this thread per operation: blind to time spent descheduled."""
        return statistics.median(self.cpu_samples_ns)

    @property
    def us_per_op(self) -> float:
        """Microseconds per operation (median repetition)."""
        return self.ns_per_op / 1_000

    @property
    def ops_per_s(self) -> float:
        """Operations per second on one core (median repetition)."""
        return 1e9 / self.ns_per_op

    @property
    def spread(self) -> float:
        """(max - min) / median of the per-repetition costs: a noise indicator."""
        return (max(self.samples_ns) - min(self.samples_ns)) / self.ns_per_op

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"name": self.name, "ops_per_s": round(self.ops_per_s, 1),
                "us_per_op": round(self.us_per_op, 3),
                "cpu_us_per_op": round(self.cpu_ns_per_op / 1_000, 3), "n": self.n,
                "repeats": len(self.samples_ns), "spread": round(self.spread, 4),
                "samples_us": [round(s / 1_000, 3) for s in self.samples_ns],
                "cpu_samples_us": [round(s / 1_000, 3) for s in self.cpu_samples_ns],
                "note": self.note, **self.extra}


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One operation to time: ``op(i)`` gets a fresh ``i`` per call; ``prepare`` runs untimed
    before every repetition (to refresh an input that ages, such as a time-windowed proof)."""

    name: str
    op: Callable[[int], object]
    note: str = ""
    prepare: Callable[[], None] | None = None


def measure_all(cases: Sequence[Case], plan: Plan,
                log: Callable[[str], None] | None = None) -> list[Timing]:
    """Time every case, interleaved: repetition r of every case runs before repetition r + 1.

    Interleaving spreads any background load over all cases alike, so per-repetition
    ratios between cases (``paired_ratio``) stay meaningful on a shared machine.
    """
    indices = [0] * len(cases)
    for k, case in enumerate(cases):
        if case.prepare is not None:
            case.prepare()
        for _ in range(plan.warmup):
            case.op(indices[k])
            indices[k] += 1
    samples: list[list[float]] = [[] for _ in cases]
    cpu_samples: list[list[float]] = [[] for _ in cases]
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for r in range(plan.repeats):
        if log is not None:
            log(f"  repetition {r + 1}/{plan.repeats}")
        for k, case in enumerate(cases):
            if case.prepare is not None:
                case.prepare()
            gc.collect()  # every repetition starts from a similar heap; gc stays enabled
            op, start = case.op, indices[k]
            cpu_started, started = cpu_clock(), clock()
            for i in range(start, start + plan.n):
                op(i)
            samples[k].append((clock() - started) / plan.n)
            cpu_samples[k].append((cpu_clock() - cpu_started) / plan.n)
            indices[k] = start + plan.n
    return [Timing(name=c.name, ns_per_op=statistics.median(s), samples_ns=tuple(s),
                   cpu_samples_ns=tuple(cpu), n=plan.n, note=c.note)
            for c, s, cpu in zip(cases, samples, cpu_samples)]


def measure(name: str, op: Callable[[int], object], plan: Plan, *, note: str = "") -> Timing:
    """Time ``op(i)`` for a fresh ``i`` per call (so pre-built one-use inputs stay unique)."""
    return measure_all([Case(name=name, op=op, note=note)], plan)[0]


def paired_ratio(top: Timing, bottom: Timing, *, cpu: bool = False) -> float:
    """The median over repetitions of top/bottom, pairing the same repetition of each."""
    a, b = (top.cpu_samples_ns, bottom.cpu_samples_ns) if cpu else (top.samples_ns,
                                                                      bottom.samples_ns)
    return statistics.median(x / y for x, y in zip(a, b))


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[c])) for r in [headers, *rows]) for c in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [str(cells[0]).ljust(widths[0])]
        parts += [str(cell).rjust(w) for cell, w in zip(cells[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
