"""``writ gateway`` in front of an unmodified upstream: throughput and added latency.

Run: ``.venv/bin/python benchmarks/bench_gateway.py [--quick] [--json PATH|-] [--rate 500]
[--seconds 10] [--state redis://127.0.0.1:6379/0]``

The upstream is the bare app of ``bench_http.py`` (Starlette on uvicorn, one worker). The
gateway runs as ``writ gateway --config gateway.toml --port P --workers N``; its state is
Redis, shared by the workers, so replay protection and the writ's budget (every writ here
carries ``calls`` and ``rate`` limits, debited on every request) hold across workers.
Rows:

* ``direct``: the generator calls the upstream itself (unsigned): the baseline;
* ``gateway 1w`` and ``gateway 2w``: Redis state, no decision log;
* ``gateway 1w +log`` and ``gateway 2w +log``: also a SQLite decision log. The log's
  writers open it shared (a shared ``flock`` on ``<file>-writer``, and an exclusive
  ``<file>-append`` lock per batch), so both workers append to one log; if a log refused
  the second writer, the row says so instead of failing the run.

Each row gets a closed-loop maximum throughput under three CPU placements, and an
open-loop latency at ``--rate`` (placement ``free``):

* ``free``: the kernel places every process;
* ``gen pinned``: the load generator alone is pinned to CPU 1;
* ``split``: the gateway's processes on CPU 0, the generator and the upstream on CPU 1
  (this shows what one core of gateway can do, however many workers share it).

``gw us/req`` is the CPU time of all gateway processes per request (from /proc): the
cost that decides how many requests a core can carry, whatever else runs on the machine.

Targets (issue 4): 2 workers >= 1.7 x 1 worker; the gateway adds <= 2 ms at p50.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import (
    ISS,
    ROUTES,
    LoadJob,
    Signing,
    cpu_seconds,
    free_port,
    run_load,
    server,
    set_affinity,
    stop_on_signals,
    summary,
    worker_pids,
)

ORIGIN, HOST = "https://gw.bench.example", "gw.bench.example"
BUDGET = {"calls": 1_000_000_000, "rate": {"count": 1_000_000, "per_s": 1}}
HERE = Path(__file__).resolve().parent
TARGET_SCALE, TARGET_P50_MS = 1.7, 2.0


def gateway_toml(*, principal_jwk: dict[str, str], upstream: int, state: str,
                 log: bool) -> str:
    """The gateway configuration: one anchor, one route, Redis state, maybe a SQLite log."""
    jwk = ", ".join(f'{k} = "{v}"' for k, v in principal_jwk.items())
    lines = ["[receiver]", f'audience = "{ORIGIN}"', f'state = "{state}"']
    if log:
        lines += ['log = "sqlite:log.db"', 'log_key = "log.key"']
    lines += ["[[receiver.trust_anchors]]", f'iss = "{ISS}"', f"jwk = {{ {jwk} }}",
              "[http]", f'upstream = "http://127.0.0.1:{upstream}"', "[http.routes]"]
    lines += [f'"{spec}" = "{tool}"' for spec, tool in ROUTES.items()]
    return "\n".join(lines) + "\n"


@contextmanager
def gateway(folder: Path, toml: str, *, workers: int) -> Iterator[tuple[int, int]]:
    """Run ``writ gateway`` until the block ends; yield (port, pid) once every worker started."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gateway.toml").write_text(toml)
    port = free_port()
    argv = [sys.executable, "-m", "writ.cli", "gateway", "--config", str(folder / "gateway.toml"),
            "--port", str(port), "--workers", str(workers)]
    log = folder / "gateway.log"  # the JSON decision log lines go here, not to a pipe
    with server(argv, ready=f"http://127.0.0.1:{port}/healthz", log_path=str(log)) as process:
        _wait_started(log, workers, process.pid)
        yield port, process.pid


def _wait_started(log: Path, workers: int, pid: int, timeout: float = 60.0) -> None:
    """Every worker logs a "started" event after its lifespan startup: wait for all of them,
    so no keep-alive connection of the warm-up lands on the only worker up yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text(errors="replace").count('"event":"started"') >= workers:
            return
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)  # workers still importing: poll again
    raise RuntimeError(f"gateway workers did not all start:\n{log.read_text()[-3000:]}")


PLACEMENTS = ("free", "gen pinned", "split")
ROWS = (("gateway 1w", 1, False), ("gateway 2w", 2, False), ("gateway 1w +log", 1, True),
        ("gateway 2w +log", 2, True))


def _place(placement: str, gw_pids: Sequence[int], up_pid: int) -> tuple[int, ...]:
    """Apply a CPU placement to the servers; return the generator's CPUs."""
    every = sorted(os.sched_getaffinity(0))
    if placement == "split":
        set_affinity(gw_pids, (0,))
        set_affinity(worker_pids(up_pid), (1,))
        return (1,)
    set_affinity(gw_pids, every)
    set_affinity(worker_pids(up_pid), every)
    return (1,) if placement == "gen pinned" else ()


def _row(port: int, pids: list[int], up_pid: int, signing: Signing | None,
         args: argparse.Namespace) -> dict[str, Any]:
    """Closed loop under each placement, then the open loop (placement free)."""
    out: dict[str, Any] = {}
    for placement in args.placements:
        cpus = _place(placement, pids, up_pid)
        before = cpu_seconds(pids)
        closed = run_load(LoadJob(port=port, host_header=HOST, mode="closed",
                                  seconds=args.closed_seconds, connections=32, signing=signing,
                                  cpus=cpus, phase_seconds=5.0))
        out[placement] = {**summary(closed), "server_us_per_req": round(
            (cpu_seconds(pids) - before) / max(1, len(closed.latencies_ns)) * 1e6, 1)}
    _place("free", pids, up_pid)
    before = cpu_seconds(pids)
    opened = run_load(LoadJob(port=port, host_header=HOST, mode="open", seconds=args.seconds,
                              rate=args.rate, connections=32, signing=signing, warmup=100))
    out["open"] = {**summary(opened), "server_us_per_req": round(
        (cpu_seconds(pids) - before) / max(1, len(opened.latencies_ns)) * 1e6, 1)}
    return out


def _measure(tmp: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from writ import PrivateKey

    principal, agent = PrivateKey.generate(), PrivateKey.generate()
    signing = Signing(principal_jwk=principal.private_jwk(), agent_jwk=agent.private_jwk(),
                      origin=ORIGIN, budget=BUDGET)
    results: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        up_port = free_port()
        upstream = stack.enter_context(server(
            [sys.executable, str(HERE / "bench_http.py"), "--serve", str(up_port)],
            ready=f"http://127.0.0.1:{up_port}/health", log_path=str(tmp / "upstream.log")))
        print("  direct", file=sys.stderr, flush=True)
        results["direct"] = _row(up_port, [upstream.pid], upstream.pid, None, args)
        for name, workers, log in ROWS[:2] if args.quick else ROWS:
            print(f"  {name}", file=sys.stderr, flush=True)
            toml = gateway_toml(principal_jwk=principal.public_key.jwk, upstream=up_port,
                                state=args.state, log=log)
            try:
                with gateway(tmp / name.replace(" ", "_").replace("+", ""), toml,
                             workers=workers) as (port, pid):
                    pids = worker_pids(pid)
                    results[name] = _row(port, pids, upstream.pid, signing, args)
                    results[name]["processes"] = len(pids)
            except RuntimeError as exc:
                if not log:
                    raise
                # A log refusing a second writer is a finding to report, not a crash.
                results[name] = {"failed": str(exc).splitlines()[-1][:200]}
    return results


def _table(results: dict[str, dict[str, Any]], args: argparse.Namespace,
           ) -> tuple[str, dict[str, Any]]:
    from _timing import format_table

    direct = results["direct"]["open"]
    rows, failed = [], []
    for name, res in results.items():
        if "failed" in res:
            failed.append(f"{name}: did not start: {res['failed']}")
            continue
        o = res["open"]
        added = "-" if name == "direct" else f"{o['p50_ms'] - direct['p50_ms']:+.2f}"
        added99 = "-" if name == "direct" else f"{o['p99_ms'] - direct['p99_ms']:+.2f}"
        rows.append([name, *(f"{res[p]['throughput']:.0f}" for p in args.placements),
                     f"{o['p50_ms']:.2f}", f"{o['p99_ms']:.2f}", added, added99,
                     f"{res[args.placements[0]]['server_us_per_req']:.0f}"])
    headers = ["row", *(f"req/s {p}" for p in args.placements), f"p50 ms@{args.rate:.0f}",
               "p99 ms", "added p50", "added p99", "gw us/req"]
    one, two = results["gateway 1w"], results["gateway 2w"]
    scale = {p: round(two[p]["throughput"] / one[p]["throughput"], 2) for p in args.placements}
    added50 = round(one["open"]["p50_ms"] - direct["p50_ms"], 3)
    verdicts = {"scale_2w_over_1w": scale, "scale_met": {p: s >= TARGET_SCALE
                                                         for p, s in scale.items()},
                "added_p50_ms_1w": added50, "p50_met": added50 <= TARGET_P50_MS}
    lines = [format_table(headers, rows), "", *failed]
    lines += [f"target 2 workers / 1 worker >= {TARGET_SCALE} ({p}): {s:.2f} "
              f"{'met' if s >= TARGET_SCALE else 'MISSED'}" for p, s in scale.items()]
    lines.append(f"target added p50 <= {TARGET_P50_MS} ms (1 worker): {added50:+.2f} ms "
                 f"{'met' if added50 <= TARGET_P50_MS else 'MISSED'}")
    return "\n".join(lines), verdicts


def _check(results: dict[str, dict[str, Any]], placements: Sequence[str]) -> list[str]:
    """Every request must have been answered 200: otherwise a row timed a refusal."""
    bad = []
    for name, res in results.items():
        if "failed" in res:
            continue
        for kind in (*placements, "open"):
            s = res[kind]
            if s["errors"] or set(s["statuses"]) != {"200"}:
                bad.append(f"{name} {kind}: statuses {s['statuses']}, errors {s['errors']}")
    return bad


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (about 20 s; no decision-log rows)")
    parser.add_argument("--json", metavar="PATH", help="also write JSON ('-': stdout)")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop requests/s")
    parser.add_argument("--seconds", type=float, help="open-loop seconds per row (10)")
    parser.add_argument("--state", default="redis://127.0.0.1:6379/0", help="state URL")
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (1.5 if args.quick else 10.0)
    args.closed_seconds = 1.0 if args.quick else 5.0
    two_cpus = len(os.sched_getaffinity(0)) >= 2
    args.placements = ("free",) if args.quick or not two_cpus else PLACEMENTS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a request was refused or failed."""
    args = _parse(argv)
    stop_on_signals()
    out = sys.stderr if args.json == "-" else sys.stdout
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="writ-bench-gw-") as tmp:
        results = _measure(Path(tmp), args)
    text, verdicts = _table(results, args)
    print(f"writ gateway: uvicorn (h11) on loopback, {os.cpu_count()} CPUs, state {args.state}, "
          f"closed loop {args.closed_seconds:.0f} s x 32 connections, open loop "
          f"{args.seconds:.0f} s at {args.rate:.0f} req/s; load average {load_before[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f}\n\n{text}", file=out)
    report = {"rate": args.rate, "seconds": args.seconds, "state": args.state,
              "cpus": os.cpu_count(), "loadavg": [load_before[0], os.getloadavg()[0]],
              "rows": results, "targets": verdicts}
    if args.json == "-":
        print(json.dumps(report, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    problems = _check(results, args.placements)
    for line in problems:
        print(f"ERROR {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every server was stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
