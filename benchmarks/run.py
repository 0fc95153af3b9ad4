"""Run every benchmark script in this folder, each in its own process: one command.

    .venv/bin/python benchmarks/run.py [--quick] [--json PATH] [--only verify,log,...]

``bench_verify.py`` always runs; ``bench_log.py``, ``bench_http.py`` and
``bench_gateway.py`` run when they exist, then any other ``bench_*.py`` here. Each script is called as
``python SCRIPT [--quick] [--json FILE]``, each flag passed only when the
script's ``--help`` lists it (under ``--quick`` a script without that option is
skipped, to keep the smoke run short); with ``--json`` the per-script JSON files
are merged into one object keyed by script name. Exit status: 0 when every script
that ran exited 0, else 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_verify.py", "bench_log.py", "bench_http.py", "bench_gateway.py")


def _scripts() -> list[Path]:
    """The known scripts that exist, in the order above, then any other ``bench_*.py``."""
    known = [HERE / name for name in SCRIPTS if (HERE / name).exists()]
    return known + sorted(p for p in HERE.glob("bench_*.py") if p.name not in SCRIPTS)


def _select(present: list[Path], only: str) -> tuple[list[Path], list[str]]:
    """(the scripts ``--only`` names, the names it gives that match no script)."""
    wanted = {f"bench_{name.strip().removeprefix('bench_').removesuffix('.py')}.py"
              for name in only.split(",")}
    unknown = sorted(wanted - {p.name for p in present})
    return [p for p in present if p.name in wanted], unknown


def _options(script: Path) -> str:
    """The script's ``--help`` text, to pass only the flags it understands."""
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                          text=True, cwd=HERE.parent, timeout=60, check=False)
    return done.stdout


def _run_one(script: Path, *, quick: bool, json_path: Path | None) -> tuple[int, float]:
    argv = [sys.executable, str(script)]
    if quick:
        argv.append("--quick")
    if json_path is not None:
        argv += ["--json", str(json_path)]
    started = time.perf_counter()
    # Each script in a fresh interpreter: one benchmark's heap and caches never colour another.
    code = subprocess.call(argv, cwd=HERE.parent)
    return code, time.perf_counter() - started


def _run_all(present: list[Path], *, quick: bool,
             want_json: bool) -> tuple[dict[str, Any], list[str]]:
    """Run each script in turn: (merged JSON by script stem, names of scripts that failed)."""
    merged: dict[str, Any] = {}
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="writ-bench-") as tmp:
        for script in present:
            options = _options(script)
            if quick and "--quick" not in options:
                # A full run of a script without a smoke mode would break --quick's time budget.
                print(f"== {script.name}: no --quick option, skipped", file=sys.stderr)
                continue
            print(f"== {script.name}", file=sys.stderr, flush=True)
            out = Path(tmp) / f"{script.stem}.json" if want_json and "--json" in options else None
            code, seconds = _run_one(script, quick=quick, json_path=out)
            print(f"== {script.name}: exit {code} in {seconds:.1f} s\n", file=sys.stderr,
                  flush=True)
            if code != 0:
                failed.append(script.name)
            if out is not None and out.exists():
                merged[script.stem] = json.loads(out.read_text())
    return merged, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scripts that exist; print a one-line summary per script to stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run of every script")
    parser.add_argument("--json", metavar="PATH", help="write every script's JSON, merged, here")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated subset, e.g. 'verify,log' for bench_verify.py and "
                             "bench_log.py")
    args = parser.parse_args(argv)
    present = _scripts()
    if args.only:
        present, unknown = _select(present, args.only)
        if unknown:
            parser.error(f"no such benchmark here: {', '.join(unknown)}")
    merged, failed = _run_all(present, quick=args.quick, want_json=bool(args.json))
    if args.json:
        Path(args.json).write_text(json.dumps(merged, indent=2) + "\n")
    skipped = [name for name in SCRIPTS if not (HERE / name).exists() and not args.only]
    if skipped:
        print(f"not present, skipped: {', '.join(skipped)}", file=sys.stderr)
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
