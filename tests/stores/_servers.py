"""Throwaway Redis and PostgreSQL servers that a test may stop, freeze and restart.

They listen on free loopback ports; the machine's shared servers (6379, 5432)
are never touched. Every process started here is ended here, by its own pid.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``ready`` until it is true, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not become ready")
        time.sleep(0.02)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def missing(tool: str) -> NoReturn:
    """Skip (or fail, when CI requires services) because ``tool`` is not installed."""
    if os.environ.get("WRIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{tool} is not installed, and WRIT_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(f"{tool} is not installed")


class OwnRedis:
    """A private ``redis-server`` without persistence."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or missing("redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _accepts(self.port), "redis-server")

    def stop(self) -> None:
        """Stop the server and wait until it has exited."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` (SIGSTOP / SIGCONT) to the server."""
        assert self.proc is not None
        os.kill(self.proc.pid, sig)


class OwnPostgres:
    """A private PostgreSQL cluster in a temporary directory, run as the ``postgres`` user."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins or shutil.which("runuser") is None:
            missing("PostgreSQL server binaries (initdb, pg_ctl) or runuser")
        self.bin = Path(bins[-1]).parent
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="writ-pg-"))
        user = pwd.getpwnam("postgres")
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = self.dir / "data"
        # initdb refuses to run as root, hence runuser.
        self._as_postgres(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        )

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def _pg_ctl(self, *args: str) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args])

    def start(self) -> None:
        """Start the cluster; ``pg_ctl -w`` returns once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=40"
        )
        self._pg_ctl("-l", str(self.dir / "log"), "-o", options, "start")

    def stop(self) -> None:
        """Fast shutdown: backends are terminated, clients see their sockets close."""
        self._pg_ctl("-m", "fast", "stop")

    def pids(self) -> list[int]:
        """The postmaster and every one of its children."""
        master = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                children.append(int(stat.split("/")[2]))
        return [master, *children]

    def signal(self, sig: signal.Signals, pids: list[int]) -> None:
        """Send ``sig`` to the given processes of this cluster."""
        for pid in pids:
            os.kill(pid, sig)

    def destroy(self) -> None:
        """Stop (if running) and delete the cluster."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
