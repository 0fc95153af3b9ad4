"""Soak ``writ gateway``: steady load for minutes; the gateway's memory must stay flat.

Run: ``.venv/bin/python benchmarks/soak_gateway.py [--seconds 300] [--rate 100]
[--workers 2] [--interval 5] [--chain-every N] [--reuse 100] [--quick] [--json PATH|-]``

The gateway (Redis state, no log, ``--workers``) fronts the bare upstream app of
``bench_http.py``. The generator sends signed requests open-loop at ``--rate`` for
``--seconds`` (``--quick``: 20 s), in phases of 20 s each signed just before it runs.
Every ``--chain-every`` requests it mints a fresh root writ (a new chain), so over the run
the gateway sees more distinct chains than its chain cache holds (``Verifier`` keeps
4096): the cache has to evict, and a leak there would show. Every ``--interval`` seconds
the RSS of each gateway process (VmRSS from /proc/PID/status) is sampled.

Until the chain cache is full, memory grows by design (about 10 KiB per cached chain, per
worker). The verdict is taken once every worker's cache is full (``settle``: each has seen
a quarter more chains than it holds, and not before 40 % of the run): from there to the
end, the least-squares slope of the gateway's total RSS must stay under 1 MiB per minute
and the growth under 5 %. A run too short to fill the caches is not judged (the smoke
run). Every request must be answered 200. Connections are reopened every ``--reuse``
requests, which spreads them over the workers and exercises per-connection cleanup.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import (
    LoadJob,
    Signing,
    free_port,
    rss_kib,
    run_load,
    server,
    stop_on_signals,
    summary,
    worker_pids,
)
from bench_gateway import BUDGET, HOST, ORIGIN, gateway, gateway_toml

HERE = Path(__file__).resolve().parent
CHAIN_CACHE = 4096  # Verifier(cache_size=...) default
MAX_SLOPE_KIB_PER_MIN, MAX_GROWTH = 1024.0, 0.05


def slope_per_minute(series: Sequence[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) points, in KiB per minute."""
    if len(series) < 2:
        return 0.0
    ts, ys = [t for t, _ in series], [y for _, y in series]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return float(60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var) if var else 0.0


def _soak(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from writ import PrivateKey

    principal, agent = PrivateKey.generate(), PrivateKey.generate()
    signing = Signing(principal_jwk=principal.private_jwk(), agent_jwk=agent.private_jwk(),
                      origin=ORIGIN, budget=BUDGET, chain_every=args.chain_every)
    up_port = free_port()
    with server([sys.executable, str(HERE / "bench_http.py"), "--serve", str(up_port)],
                ready=f"http://127.0.0.1:{up_port}/health", log_path=str(tmp / "upstream.log")):
        toml = gateway_toml(principal_jwk=principal.public_key.jwk, upstream=up_port,
                            state=args.state, log=False)
        with gateway(tmp / "gateway", toml, workers=args.workers) as (port, pid):
            pids = worker_pids(pid)
            samples: list[dict[str, Any]] = []
            began = time.monotonic()

            def sample() -> None:
                rss = {p: rss_kib(p) for p in pids}
                samples.append({"t": round(time.monotonic() - began, 1), "rss_kib": rss,
                                "total_kib": sum(rss.values())})
                print(f"  t={samples[-1]['t']:6.1f} s  total RSS {sum(rss.values()) / 1024:7.1f}"
                      f" MiB  {' '.join(f'{v / 1024:.1f}' for v in rss.values())}",
                      file=sys.stderr, flush=True)

            sample()
            job = LoadJob(port=port, host_header=HOST, mode="open", seconds=args.seconds,
                          rate=args.rate, connections=32, signing=signing, phase_seconds=20.0,
                          reuse=args.reuse)
            result = run_load(job, on_tick=sample, tick=args.interval)
            sample()
    return {"pids": pids, "samples": samples, "load": summary(result)}


def settle_time(args: argparse.Namespace) -> float:
    """When every worker's chain cache is full (each worker seeing its share of the chains,
    and a quarter more than it holds): before that, memory grows by design. The verdict
    also ignores the first 40 % of the run."""
    per_worker = args.rate / args.chain_every / args.workers
    return float(max(CHAIN_CACHE * 1.25 / per_worker, 0.4 * args.seconds))


def _verdict(samples: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    settle = settle_time(args)
    settled = [s for s in samples if s["t"] >= settle]
    if len(settled) < 3:
        # The run was too short for the cache to fill: nothing to judge flatness on.
        return {"judged": False, "settle_s": round(settle, 1), "flat": None,
                "first_kib": samples[0]["total_kib"], "last_kib": samples[-1]["total_kib"]}
    series = [(float(s["t"]), int(s["total_kib"])) for s in settled]
    slope = slope_per_minute(series)
    growth = (series[-1][1] - series[0][1]) / series[0][1]
    per_process = {pid: round(slope_per_minute([(float(s["t"]), int(s["rss_kib"][pid]))
                                                for s in settled]), 1)
                   for pid in settled[0]["rss_kib"]}
    return {"judged": True, "settle_s": round(settle, 1), "slope_kib_per_min_by_pid": per_process,
            "slope_kib_per_min": round(slope, 1), "growth_after_settle": round(growth, 4),
            "first_kib": samples[0]["total_kib"], "settled_kib": series[0][1],
            "last_kib": series[-1][1],
            "flat": slope <= MAX_SLOPE_KIB_PER_MIN and growth <= MAX_GROWTH}


def _report(out: Any, soak: dict[str, Any], verdict: dict[str, Any],
            args: argparse.Namespace) -> None:
    from _timing import format_table

    rows = [[f"{s['t']:.0f}", *(f"{v / 1024:.1f}" for v in s["rss_kib"].values()),
             f"{s['total_kib'] / 1024:.1f}"] for s in soak["samples"]]
    headers = ["t (s)", *(f"pid {p} MiB" for p in soak["pids"]), "total MiB"]
    load = soak["load"]
    print(f"writ gateway soak: {args.workers} worker(s), state {args.state}, {args.rate:.0f} req/s "
          f"open loop for {args.seconds:.0f} s, a fresh chain every {args.chain_every} requests "
          f"({load['chains']} chains; chain cache {CHAIN_CACHE})\n", file=out)
    print(format_table(headers, rows), file=out)
    print(f"\nrequests {load['requests']} ({load['throughput']:.0f}/s), statuses {load['statuses']}"
          f", errors {load['errors']}; latency p50 {load['p50_ms']:.2f} ms, p99 "
          f"{load['p99_ms']:.2f} ms, max {load['max_ms']:.1f} ms", file=out)
    if not verdict["judged"]:
        print(f"RSS: start {verdict['first_kib'] / 1024:.1f} MiB, end "
              f"{verdict['last_kib'] / 1024:.1f} MiB; not judged: the chain cache fills at about "
              f"{verdict['settle_s']:.0f} s (run longer, or lower --chain-every)", file=out)
        return
    print(f"RSS: start {verdict['first_kib'] / 1024:.1f} MiB, cache full (t >= "
          f"{verdict['settle_s']:.0f} s) {verdict['settled_kib'] / 1024:.1f} MiB, end "
          f"{verdict['last_kib'] / 1024:.1f} MiB; slope after that {verdict['slope_kib_per_min']:+.0f}"
          f" KiB/min (<= {MAX_SLOPE_KIB_PER_MIN:.0f}), growth "
          f"{verdict['growth_after_settle'] * 100:+.1f} % (<= {MAX_GROWTH * 100:.0f} %): "
          f"{'flat' if verdict['flat'] else 'NOT FLAT'}", file=out)
    print("slope by process (KiB/min): " + ", ".join(
        f"{pid}: {v:+.0f}" for pid, v in verdict["slope_kib_per_min_by_pid"].items()), file=out)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="soak length (300; --quick: 20)")
    parser.add_argument("--quick", action="store_true", help="a 20 s smoke soak")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    parser.add_argument("--interval", type=float, help="seconds between RSS samples (5)")
    parser.add_argument("--chain-every", type=int,
                        help="requests per chain (default: enough chains to exceed the cache)")
    parser.add_argument("--reuse", type=int, default=100,
                        help="requests per connection before reconnecting (0: keep)")
    parser.add_argument("--state", default="redis://127.0.0.1:6379/0", help="state URL")
    parser.add_argument("--json", metavar="PATH", help="also write JSON ('-': stdout)")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (20.0 if args.quick else 300.0)
    args.interval = args.interval or (2.0 if args.seconds <= 60 else 5.0)
    if args.chain_every is None:
        # Each worker should see at least three times as many chains as its cache holds.
        per_worker = args.rate * args.seconds / args.workers
        args.chain_every = max(1, int(per_worker) // (3 * CHAIN_CACHE))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 if a request failed or memory did not stay flat."""
    args = _parse(argv)
    stop_on_signals()
    out = sys.stderr if args.json == "-" else sys.stdout
    with tempfile.TemporaryDirectory(prefix="writ-soak-") as tmp:
        soak = _soak(Path(tmp), args)
    verdict = _verdict(soak["samples"], args)
    _report(out, soak, verdict, args)
    report = {"seconds": args.seconds, "rate": args.rate, "workers": args.workers,
              "chain_every": args.chain_every, "loadavg": os.getloadavg()[0], **soak,
              "verdict": verdict}
    if args.json == "-":
        print(json.dumps(report, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    load = soak["load"]
    ok = verdict["flat"] is not False and not load["errors"] and set(load["statuses"]) == {"200"}
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every server was stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
