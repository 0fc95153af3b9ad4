"""Real processes on loopback for gateway tests: start, poll until ready, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
WRIT = [sys.executable, "-m", "writ.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers (any status); fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode}: "
                f"{process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.02)  # the server is not listening yet; poll again
    raise TimeoutError(f"{url} did not come up")


@contextmanager
def running(
    argv: Sequence[str],
    ready_url: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stderr_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a process until the block ends; stop it with SIGTERM (then SIGKILL).

    stderr is a pipe the caller may read after the process ends, or, with ``stderr_path``,
    a file: a busy gateway logs a line per decision and would stall on a pipe nobody reads.
    """
    sink = stderr_path.open("wb") if stderr_path is not None else None
    process = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=sink if sink is not None else subprocess.PIPE,
    )
    try:
        wait_http(ready_url, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if sink is not None:
            sink.close()
