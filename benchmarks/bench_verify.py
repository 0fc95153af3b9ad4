"""Writ's verifier against the Ed25519 floor and its peers, in one process run.

    .venv/bin/python benchmarks/bench_verify.py [--quick] [--json PATH|-] [--profile]

Rows: raw libsodium verify (the floor); Writ decisions at depth 0..3, cold (chain
cache dropped before every call) and warm (chain cached); a bad holder proof
against a warm chain; tenuo and biscuit on the same depth-3 workload (peers.py).
Every Writ call carries its own pre-signed PoP, since a PoP ``jti`` is single-use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import nacl.signing
import peers
from _timing import Case, Plan, Timing, format_table, measure_all, paired_ratio

from writ import PrivateKey, ReceiverConfig, Verifier, Writ, delegate, grant, sign_pop
from writ.stores import open_stores

AUDIENCE = "https://bench.example"
ISSUER = "https://issuer.example"
FLOOR = "raw Ed25519 verify (libsodium)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ratio:
    """A ratio of two rows' costs and the target it should meet."""

    name: str
    value: float | None  # paired wall-clock ratio: the one the target is judged on
    cpu_value: float | None  # the same from thread CPU time, for a busy machine
    target: str
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"name": self.name, "value": None if self.value is None else round(self.value, 3),
                "cpu_value": None if self.cpu_value is None else round(self.cpu_value, 3),
                "target": self.target, "met": self.met}


def _tools(limit: int, currencies: tuple[str, ...]) -> dict[str, Any]:
    return {peers.TOOL: {"amount": {"constraint_type": "range", "min": 0, "max": limit},
                         "currency": {"constraint_type": "one_of", "values": list(currencies)}}}


class WritWorkload:
    """The shared workload as Writs: grant + three delegations, keys for every holder."""

    def __init__(self, now: int) -> None:
        self.now = now
        root = PrivateKey.generate()
        self.holders = [PrivateKey.generate() for _ in range(4)]
        self.chain = [grant(key=root, iss=ISSUER, holder=self.holders[0].public_key,
                            tools=_tools(*peers.ROOT_SCOPE), now=now, ttl=peers.TTL)]
        for i, scope in enumerate(peers.NARROWING):
            parent = Writ.parse_unverified(self.chain[-1], root=i == 0)
            self.chain.append(delegate(parent, key=self.holders[i],
                                       holder=self.holders[i + 1].public_key,
                                       tools=_tools(*scope), now=now))
        self.config = ReceiverConfig.from_json(
            {"audience": AUDIENCE, "trust_anchors": [{"iss": ISSUER, "jwk": root.public_key.jwk}]})

    def verifier(self) -> Verifier:
        """A fresh verifier with fresh in-memory stores and no decision log."""
        return Verifier(self.config, stores=open_stores("memory:"))

    def pops(self, depth: int, count: int, *, key: PrivateKey | None = None,
             args: dict[str, Any] = peers.ARGS) -> list[str]:
        """``count`` distinct PoPs for the leaf at ``depth`` (signed by its holder by default)."""
        signer = key or self.holders[depth]
        leaf = self.chain[depth]
        return [sign_pop(key=signer, leaf=leaf, tool=peers.TOOL, args=args, now=self.now,
                         aud=AUDIENCE) for _ in range(count)]

    def refuses_out_of_scope(self) -> None:
        """Raise unless a call inside the root's scope but outside the leaf's is denied."""
        pop = self.pops(3, 1, args=peers.BAD_ARGS)[0]
        decision = self.verifier().check(chain=self.chain, pop=pop, tool=peers.TOOL,
                                         args=peers.BAD_ARGS, now=self.now)
        if decision.allowed or decision.code != "argument_violation":
            raise AssertionError(f"Writ did not refuse: {decision.to_json()}")

    def op(self, verifier: Verifier, depth: int, pops: Sequence[str], *, allow: bool = True,
           cold: bool = False) -> Callable[[int], object]:
        """One decision per call; raises if the verdict is not the expected one."""
        chain, config, now, args, tool = self.chain[: depth + 1], self.config, self.now, \
            peers.ARGS, peers.TOOL

        def run(i: int) -> object:
            if cold:
                verifier.reload(config)  # public API; drops every cached chain
            decision = verifier.check(chain=chain, pop=pops[i % len(pops)], tool=tool,
                                      args=args, now=now)
            if decision.allowed is not allow:
                raise AssertionError(f"unexpected decision: {decision.to_json()}")
            return decision

        return run


def _floor() -> Case:
    key = nacl.signing.SigningKey.generate()
    message = os.urandom(300)
    signature = key.sign(message).signature
    verify_key = key.verify_key
    return Case(name=FLOOR, op=lambda i: verify_key.verify(message, signature),
                note="nacl VerifyKey.verify, 300-byte message")


def _writ_cases(plan: Plan, log: Callable[[str], None]) -> list[Case]:
    work = WritWorkload(int(time.time()))
    work.refuses_out_of_scope()
    cases: list[Case] = []
    for depth in range(4):
        log(f"  signing {plan.total} PoPs for depth {depth}")
        pops = work.pops(depth, plan.total)  # shared: warm and cold use separate replay stores
        for cold in (True, False):
            label = "cold" if cold else "warm"
            op = work.op(work.verifier(), depth, pops, cold=cold)
            note = "chain cache dropped every call" if cold else "chain cached"
            cases.append(Case(name=f"Writ {label} d{depth}", op=op, note=note))
    # A bad proof: well formed, signed by a key that does not hold the leaf; the same bad
    # PoP is reusable because it never reaches the replay store.
    verifier = work.verifier()
    good = work.pops(3, 1)
    verifier.check(chain=work.chain, pop=good[0], tool=peers.TOOL, args=peers.ARGS, now=work.now)
    bad = work.pops(3, 1, key=PrivateKey.generate())
    cases.append(Case(name="Writ bad proof, warm d3", op=work.op(verifier, 3, bad, allow=False),
                      note="PoP signed by the wrong key: denied"))
    return cases


def _peer_cases() -> tuple[list[Case], list[tuple[str, str]]]:
    cases: list[Case] = []
    missing: list[tuple[str, str]] = []
    for name, build in (("tenuo", peers.tenuo_cases), ("biscuit-python", peers.biscuit_cases)):
        found = build()
        if isinstance(found, str):
            missing.append((name, found))
        else:
            cases += found
    return cases, missing


def _ratio(rows: dict[str, Timing], name: str, top: str, bottom: str, target: str,
           ok: Callable[[float], bool]) -> Ratio:
    if top not in rows or bottom not in rows:
        return Ratio(name=name, value=None, cpu_value=None, target=target, met=None)
    value = paired_ratio(rows[top], rows[bottom])
    return Ratio(name=name, value=value, cpu_value=paired_ratio(rows[top], rows[bottom], cpu=True),
                 target=target, met=ok(value))


def ratios(rows: dict[str, Timing]) -> list[Ratio]:
    """The ratios the design sets targets for (DESIGN §8), plus two informative ones."""
    tenuo, tenuo_pre = "tenuo decode + check_chain (d3)", "tenuo check_chain, pre-decoded (d3)"
    return [
        _ratio(rows, "Writ warm d3 / raw verify", "Writ warm d3", FLOOR, "<= 1.3",
               lambda v: v <= 1.3),
        _ratio(rows, "tenuo decode+check / Writ warm d3", tenuo, "Writ warm d3", ">= 5",
               lambda v: v >= 5),
        _ratio(rows, "tenuo decode+check / Writ cold d3", tenuo, "Writ cold d3", ">= 1.3",
               lambda v: v >= 1.3),
        _ratio(rows, "bad proof / good proof (warm d3)", "Writ bad proof, warm d3",
               "Writ warm d3", "<= 1.0", lambda v: v <= 1.0),
        _ratio(rows, "tenuo pre-decoded / Writ warm d3", tenuo_pre, "Writ warm d3", "info",
               lambda v: True),
        _ratio(rows, "biscuit decode+authorize / Writ warm d3", "biscuit decode + authorize (d3)",
               "Writ warm d3", "info", lambda v: True),
    ]


def render(rows: list[Timing], missing: list[tuple[str, str]], found: list[Ratio]) -> str:
    """The human-readable report: one table of rows, one of ratios."""
    floor = next((r.ns_per_op for r in rows if r.name == FLOOR), None)
    body = [[r.name, f"{r.ops_per_s:,.0f}", f"{r.us_per_op:.1f}",
             f"{r.ns_per_op / floor:.2f}x" if floor else "", f"{r.spread:.0%}",
             f"{r.cpu_ns_per_op / 1_000:.1f}", r.note] for r in rows]
    body += [[f"{name} (d3)", "-", "-", "", "", "", reason] for name, reason in missing]
    table = format_table(["case", "ops/s", "us/op", "x floor", "spread", "cpu us/op", "note"],
                         body)
    verdict = {True: "met", False: "MISSED", None: "n/a"}
    ratio_rows = [[r.name, "-" if r.value is None else f"{r.value:.2f}x",
                   "-" if r.cpu_value is None else f"{r.cpu_value:.2f}x", r.target,
                   verdict[r.met] if r.target != "info" else ""] for r in found]
    return table + "\n\n" + format_table(["ratio", "wall", "cpu", "target", ""], ratio_rows)


def profile(plan: Plan, out: Callable[[str], None]) -> None:
    """cProfile the warm depth-3 path and print the top functions by own time."""
    import cProfile
    import io
    import pstats

    work = WritWorkload(int(time.time()))
    op = work.op(work.verifier(), 3, work.pops(3, plan.total))
    for i in range(plan.warmup):
        op(i)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(plan.warmup, plan.total):
        op(i)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    out(text.getvalue())


def run(*, quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Measure everything once; return the JSON-ready report."""
    plan = Plan.for_run(quick=quick)
    load_before = os.getloadavg()[0]
    log(f"plan: {plan.n} calls x {plan.repeats} repetitions (median), {plan.warmup} warm-up; "
        f"{os.cpu_count()} CPUs, load average {load_before:.2f}")
    cases = [_floor(), *_writ_cases(plan, log)]
    peer_cases, missing = _peer_cases()
    rows = measure_all([*cases, *peer_cases], plan, log)
    found = ratios({r.name: r for r in rows})
    load_after = os.getloadavg()[0]
    header = (f"plan: {plan.n} calls x {plan.repeats} repetitions, interleaved; median shown. "
              f"{os.cpu_count()} CPUs; load average {load_before:.2f} -> {load_after:.2f}"
              + (" (machine busy: expect noise)" if max(load_before, load_after) > 1.5 else ""))
    return {"benchmark": "verify", "quick": quick, "python": sys.version.split()[0],
            "plan": {"n": plan.n, "repeats": plan.repeats, "warmup": plan.warmup},
            "cpus": os.cpu_count(), "load_average": [load_before, load_after],
            "rows": [r.to_json() for r in rows],
            "missing": [{"name": n, "reason": why} for n, why in missing],
            "ratios": [r.to_json() for r in found],
            "table": header + "\n\n" + render(rows, missing, found)}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; exit 0 when every measurement ran."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (a few seconds)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    parser.add_argument("--profile", action="store_true", help="cProfile the warm depth-3 path")
    args = parser.parse_args(argv)
    to_stdout_json = args.json == "-"
    human = sys.stderr if to_stdout_json else sys.stdout

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.profile:
        profile(Plan.for_run(quick=args.quick), lambda t: print(t, file=human))
        return 0
    report = run(quick=args.quick, log=log)
    print(report["table"], file=human)
    if args.json:
        data = json.dumps({k: v for k, v in report.items() if k != "table"}, indent=2)
        if to_stdout_json:
            print(data)
        else:
            Path(args.json).write_text(data + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
