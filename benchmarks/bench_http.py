"""The latency WritMiddleware adds: one tiny Starlette app, bare and guarded, on uvicorn.

Run: ``.venv/bin/python benchmarks/bench_http.py [--quick] [--json PATH|-] [--rate 500]
[--seconds 10] [--rounds 2] [--no-pin]``

Three servers run side by side, each a separate uvicorn process with one worker, serving
``POST /orders/{id}/refund`` (a JSON body of two arguments) on loopback:

* ``bare``: the app alone;
* ``guarded memory``: the same app wrapped by ``WritMiddleware``, memory stores, no log;
* ``guarded sqlite+log``: SQLite stores (``synchronous=full``) and a SQLite decision log
  (group commit, a receipt per decision): the price of durability.

The load generator (``_loadgen.py``) runs in its own process, signs every request
(RFC 9421, fresh nonce) before the timed phase, then measures, per round and server,
the closed-loop maximum throughput and the open-loop latency at ``--rate`` requests per
second (latency from each request's due time). Rounds interleave the servers so
background load hits all of them alike; latencies are pooled over rounds. With two or
more CPUs, servers are pinned to CPU 0 and the generator to CPU 1 (``--no-pin`` lets the
kernel place them). ``server us/req`` is the server process's CPU time per request in
the open-loop phase (from /proc), which does not depend on the generator.

Targets (issue 7): at 500 req/s the middleware adds at most 1 ms at p50 and 3 ms at p99.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loadgen import (
    ISS,
    ROUTES,
    LoadJob,
    LoadResult,
    Signing,
    cpu_seconds,
    free_port,
    run_load,
    server,
    stop_on_signals,
    summary,
)

ORIGIN, HOST = "https://api.bench.example", "api.bench.example"
# (row name, state URL, log URL); None state: no middleware at all.
SERVERS: tuple[tuple[str, str | None, str | None], ...] = (
    ("bare", None, None),
    ("guarded memory", "memory:", None),
    ("guarded sqlite+log", "sqlite:state.db", "sqlite:log.db"),
)
TARGET_P50_MS, TARGET_P99_MS = 1.0, 3.0


def build_app(config_path: str | None) -> Any:
    """The tiny app; wrapped by WritMiddleware when a receiver config file is given."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def refund(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"refunded": request.path_params["id"], "amount": body["amount"]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/orders/{id}/refund", refund, methods=["POST"]),
                            Route("/health", health)])
    if config_path is None:
        return app
    from writ import ReceiverConfig, Verifier
    from writ.http import WritMiddleware
    from writ.log._decisions import open_decision_log
    from writ.stores import open_stores

    path = Path(config_path)
    config = ReceiverConfig.from_json(json.loads(path.read_text()), base=path.parent)
    log = open_decision_log(config) if config.log else None
    verifier = Verifier(config, stores=open_stores(config.state), log=log)
    return WritMiddleware(app, verifier=verifier, routes=ROUTES, public_paths=["/health"])


def serve(port: int, config_path: str | None) -> None:
    """Server mode (a child process): the app on uvicorn, one worker, quiet."""
    import uvicorn

    uvicorn.run(build_app(config_path), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


def _config(folder: Path, principal: Any, state: str, log: str | None) -> Path:
    table: dict[str, Any] = {"audience": ORIGIN, "state": state, "trust_anchors": [
        {"iss": ISS, "jwk": principal.public_key.jwk}]}
    if log is not None:
        table.update(log=log, log_key="log.key")
    path = folder / "receiver.json"
    path.write_text(json.dumps(table))
    return path


def _start(stack: ExitStack, tmp: Path, principal: Any, pin: bool) -> dict[str, tuple[int, int]]:
    """Start every server; return name -> (port, pid)."""
    started: dict[str, tuple[int, int]] = {}
    for k, (name, state, log) in enumerate(SERVERS):
        folder = tmp / f"server{k}"
        folder.mkdir()
        argv = [sys.executable, __file__, "--serve", str(port := free_port())]
        if state is not None:
            argv += ["--config", str(_config(folder, principal, state, log))]
        process = stack.enter_context(server(
            argv, ready=f"http://127.0.0.1:{port}/health", log_path=str(folder / "server.log"),
            cpus=(0,) if pin else ()))
        started[name] = (port, process.pid)
    return started


@dataclass
class _Pool:
    """One server's results, pooled over rounds."""

    closed: LoadResult = field(default_factory=LoadResult)
    opened: LoadResult = field(default_factory=LoadResult)
    cpu_s: float = 0.0


def _measure(servers: dict[str, tuple[int, int]], signing: Signing, args: argparse.Namespace,
             ) -> dict[str, dict[str, Any]]:
    """Rounds of (closed loop, open loop) per server, interleaved; pooled per server."""
    pooled = {name: _Pool() for name in servers}
    cpus = (1,) if args.pin else ()
    for r in range(args.rounds):
        for name, (port, pid) in servers.items():
            sign = None if name == "bare" else signing
            print(f"  round {r + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
            _merge(pooled[name].closed, run_load(LoadJob(
                port=port, host_header=HOST, mode="closed", seconds=args.closed_seconds,
                connections=8, signing=sign, cpus=cpus, phase_seconds=5.0)))
            before = cpu_seconds([pid])
            _merge(pooled[name].opened, run_load(LoadJob(
                port=port, host_header=HOST, mode="open", seconds=args.seconds, rate=args.rate,
                connections=16, signing=sign, cpus=cpus, warmup=50)))
            pooled[name].cpu_s += cpu_seconds([pid]) - before
    return {name: {"closed": summary(p.closed), "open": summary(p.opened),
                   "server_us_per_req": round(p.cpu_s / max(1, len(p.opened.latencies_ns))
                                              * 1e6, 1)} for name, p in pooled.items()}


def _merge(into: LoadResult, got: LoadResult) -> None:
    into.latencies_ns += got.latencies_ns
    into.statuses.update(got.statuses)
    into.errors += got.errors
    into.elapsed_s += got.elapsed_s
    into.cpu_s += got.cpu_s


def _table(results: dict[str, dict[str, Any]], rate: float) -> tuple[str, dict[str, Any]]:
    from _timing import format_table

    bare = results["bare"]["open"]
    rows, verdicts = [], {}
    for name, res in results.items():
        o = res["open"]
        add50, add99 = o["p50_ms"] - bare["p50_ms"], o["p99_ms"] - bare["p99_ms"]
        rows.append([name, f"{res['closed']['throughput']:.0f}", f"{o['p50_ms']:.2f}",
                     f"{o['p99_ms']:.2f}", f"{o['p999_ms']:.2f}",
                     "-" if name == "bare" else f"{add50:+.2f}",
                     "-" if name == "bare" else f"{add99:+.2f}",
                     f"{res['server_us_per_req']:.0f}"])
        if name != "bare":
            verdicts[name] = {"added_p50_ms": round(add50, 3), "added_p99_ms": round(add99, 3),
                              "p50_met": add50 <= TARGET_P50_MS, "p99_met": add99 <= TARGET_P99_MS}
    headers = ["server", "max req/s", f"p50 ms@{rate:.0f}", "p99 ms", "p99.9 ms",
               "added p50", "added p99", "server us/req"]
    lines = [format_table(headers, rows), ""]
    for name, v in verdicts.items():
        lines.append(f"target {name}: added p50 {v['added_p50_ms']:+.2f} ms (<= {TARGET_P50_MS}) "
                     f"{'met' if v['p50_met'] else 'MISSED'}; added p99 {v['added_p99_ms']:+.2f} ms"
                     f" (<= {TARGET_P99_MS}) {'met' if v['p99_met'] else 'MISSED'}")
    return "\n".join(lines), verdicts


def _check(results: dict[str, dict[str, Any]]) -> list[str]:
    """Every request must have been answered 200: otherwise a row timed a refusal."""
    bad = []
    for name, res in results.items():
        for kind in ("closed", "open"):
            s = res[kind]
            if s["errors"] or set(s["statuses"]) != {"200"}:
                bad.append(f"{name} {kind}: statuses {s['statuses']}, errors {s['errors']}")
    return bad


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (about 20 s)")
    parser.add_argument("--json", metavar="PATH", help="also write JSON ('-': stdout)")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop requests/s")
    parser.add_argument("--seconds", type=float, help="open-loop seconds per round (10)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (2)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin servers to CPU 0 and the generator to CPU 1")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (2.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.closed_seconds = 1.5 if args.quick else 5.0
    args.pin = args.pin and len(os.sched_getaffinity(0)) >= 2
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a request was refused or failed."""
    args = _parse(argv)
    if args.serve is not None:
        serve(args.serve, args.config)
        return 0
    from writ import PrivateKey

    stop_on_signals()
    out = sys.stderr if args.json == "-" else sys.stdout
    principal, agent = PrivateKey.generate(), PrivateKey.generate()
    signing = Signing(principal_jwk=principal.private_jwk(), agent_jwk=agent.private_jwk(),
                      origin=ORIGIN)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="writ-bench-http-") as tmp, ExitStack() as stack:
        servers = _start(stack, Path(tmp), principal, args.pin)
        results = _measure(servers, signing, args)
    text, verdicts = _table(results, args.rate)
    load = f"load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}"
    print(f"WritMiddleware overhead: uvicorn (1 worker, h11) on loopback, {os.cpu_count()} CPUs, "
          f"{'pinned' if args.pin else 'not pinned'}, {args.rounds} x {args.seconds:.0f} s at "
          f"{args.rate:.0f} req/s; {load}\n\n{text}", file=out)
    report = {"rate": args.rate, "seconds": args.seconds, "rounds": args.rounds, "pinned": args.pin,
              "cpus": os.cpu_count(), "loadavg": [load_before[0], os.getloadavg()[0]],
              "rows": results, "targets": verdicts}
    if args.json == "-":
        print(json.dumps(report, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    problems = _check(results)
    for line in problems:
        print(f"ERROR {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every server was stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
