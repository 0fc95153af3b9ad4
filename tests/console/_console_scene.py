"""A real receiver scene for console tests: decisions in a SQLite log, chains in an archive.

Nothing is faked: a ``Verifier`` with the decision log and the archive hook decides
real calls from a principal, two agents and a sub-agent; a witness cosigns the
log's checkpoint and refuses a forged one (kept as evidence).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from factory import Cast, receiver
from writ import PrivateKey, Verifier
from writ._approval import ApprovalPolicy
from writ._budget import Budget
from writ.console import ChainArchive
from writ.log._checkpoint import log_verifier, sign_checkpoint
from writ.log._decisions import DecisionLog, open_decision_log
from writ.log._witness import Witness, WitnessRefusal
from writ.stores import open_stores

WILD = {"constraint_type": "wildcard"}
PURPOSE = "Refunds for order disputes"


@dataclass
class Scene:
    """Paths, the live verifier and the casts that make decisions."""

    root: Path
    log_url: str
    key_path: Path
    archive_path: Path
    witness_path: Path
    log: DecisionLog
    archive: ChainArchive
    verifier: Verifier
    chains: dict[str, list[str]] = field(default_factory=dict)
    casts: dict[str, Cast] = field(default_factory=dict)

    def call(self, who: str, tool: str, args: dict[str, Any], *, pop: bool = True) -> Any:
        """One real decision by ``who`` (a chain name)."""
        cast, chain = self.casts[who], self.chains[who]
        proof = cast.pop(chain, tool, args) if pop else None
        return self.verifier.check(chain=chain, pop=proof, tool=tool, args=args, now=cast.now)

    def close(self) -> None:
        """Flush and close the log and the archive."""
        self.log.close()
        self.archive.close()


def _approval(approver: PrivateKey) -> ApprovalPolicy:
    return ApprovalPolicy.parse(
        {
            "gates": [
                {
                    "tools": ["refund"],
                    "approvers": [approver.public_key.jwk],
                    "threshold": 1,
                    "max_age": 300,
                    "unless": {"amount": {"constraint_type": "range", "max": 100}},
                }
            ]
        }
    )


def build_scene(root: Path) -> Scene:
    """Make the receiver, its log and archive, and a first batch of decisions."""
    now = int(time.time())
    principal = PrivateKey.generate()
    support, search = Cast(principal=principal, now=now), Cast(principal=principal, now=now)
    config = receiver(principal, log=f"sqlite://{root}/log.db", log_key=str(root / "log.key"))
    log = open_decision_log(config)
    archive = ChainArchive(root / "archive.db")
    verifier = Verifier(config, stores=open_stores("memory:"), log=log, on_new_chain=archive.record)
    scene = Scene(
        root=root,
        log_url=config.log or "",
        key_path=root / "log.key",
        archive_path=root / "archive.db",
        witness_path=root / "witness.db",
        log=log,
        archive=archive,
        verifier=verifier,
    )
    approval = _approval(PrivateKey.generate())
    top = support.root(
        {
            "refund": {"order": WILD, "amount": {"constraint_type": "range", "max": 500}},
            "read_orders": {},
        },
        purpose=PURPOSE,
        budget=Budget.parse({"calls": 100}),
        approval=approval,
    )
    sub = support.extend(
        top,
        {"refund": {"order": WILD, "amount": {"constraint_type": "range", "max": 50}}},
        budget=Budget.parse({"calls": 10}),
        approval=approval,
    )
    scene.casts.update(support=support, sub=support, search=search)
    scene.chains.update(support=top, sub=sub, search=search.root({"search": {"q": WILD}}))
    _first_decisions(scene)
    return scene


def _first_decisions(scene: Scene) -> None:
    calls: Sequence[tuple[str, str, dict[str, Any], bool]] = [
        ("support", "read_orders", {}, True),
        ("support", "refund", {"order": "A-1", "amount": 80}, True),
        ("sub", "refund", {"order": "A-2", "amount": 20}, True),
        ("sub", "refund", {"order": "A-3", "amount": 200}, True),  # argument_violation
        ("sub", "export", {}, True),  # tool_not_granted
        ("support", "refund", {"order": "A-4", "amount": 300}, True),  # approval_required
        ("search", "search", {"q": "refund policy"}, True),
        ("search", "search", {"q": "no proof"}, False),  # proof_missing
    ]
    for who, tool, args, pop in calls:
        scene.call(who, tool, args, pop=pop)


def witness_scene(scene: Scene) -> None:
    """A witness cosigns the log's latest checkpoint, then refuses a forged one (a fork)."""
    origin = scene.log.origin
    logs = {origin: [log_verifier(origin, scene.log.key.public_key)]}
    witness = Witness(
        scene.witness_path, name="witness.example/w1", key=PrivateKey.generate(), logs=logs
    )
    try:
        signed = [c for c in scene.log.writer.checkpoints() if c.note]
        latest = signed[-1]
        assert latest.note is not None
        witness.add_checkpoint(latest.note, [], 0, now=time.time())
        forged = sign_checkpoint(origin, latest.size, b"\x07" * 32, scene.log.key)
        try:
            witness.add_checkpoint(forged, [], latest.size, now=time.time())
        except WitnessRefusal:
            pass  # expected: the refusal is kept as evidence
    finally:
        witness.close()


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The real ``writ`` entry point; registers the command itself if cli/__init__ does not yet.
_LAUNCH = """
from writ.cli import app, main
from writ.cli import _console
if not any(c.name == "console" for c in app.registered_commands):
    _console.register(app)
main()
"""


def console_argv(scene: Scene, port: int, *, key: bool = True, witness: bool = True) -> list[str]:
    """``writ console`` for this scene."""
    argv = [
        sys.executable,
        "-c",
        _LAUNCH,
        "console",
        "--log",
        scene.log_url,
        "--archive",
        str(scene.archive_path),
        "--port",
        str(port),
    ]
    if key:
        argv += ["--log-key", str(scene.key_path)]
    if witness:
        argv += ["--witness", str(scene.witness_path)]
    return argv


@contextmanager
def running_console(argv: Sequence[str], url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``writ console`` until the block ends, polling ``url`` until it answers."""
    process = subprocess.Popen(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ}
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"writ console exited with {process.returncode}: {err}")
            try:
                httpx.get(url, timeout=0.5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not come up") from None
                time.sleep(0.02)  # not listening yet: poll again
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
