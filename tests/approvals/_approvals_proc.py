"""``writ approvals serve`` as a real subprocess on a free loopback port; no sleeps."""

from __future__ import annotations

import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LAUNCHER = str(Path(__file__).with_name("_writ_cli.py"))


@contextmanager
def approvals_server(key: Path, *extra: str) -> Iterator[str]:
    """Start the server with ``--port 0``; yield its URL once it prints it (it listens by then)."""
    proc = subprocess.Popen([sys.executable, LAUNCHER, "approvals", "serve", "--key", str(key),
                             "--port", "0", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=30):
                raise RuntimeError("writ approvals serve did not start")
        line = proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            proc.kill()
            raise RuntimeError(f"writ approvals serve failed: {line!r} {proc.stderr.read()!r}")
        yield line.rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
