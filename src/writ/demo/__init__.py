"""``writ demo``: the GTG-1002 campaign replayed against targets that verify before they act.

Real processes on loopback: the guarded MCP tool server, the customer API behind
``writ gateway``, and a witness; state and decision logs in SQLite under the workdir.
Afterwards each decision log is witnessed, exported and verified offline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from writ._config import ReceiverConfig
from writ._verify import Verifier
from writ.demo._cast import CEILING, LEAD_ISS, Cast, build_cast
from writ.demo._channel import InProcessChannel
from writ.demo._scenario import Row, run_scenario
from writ.stores import open_stores

__all__ = ["DemoResult", "run_demo"]

Say = Callable[[str], None]


class DemoResult:
    """The rows of the demo, the audit of its logs, and where its files are."""

    def __init__(self, rows: list[Row], workdir: Path, audit: list[dict[str, Any]],
                 console: str | None) -> None:
        self.rows = rows
        self.workdir = workdir
        self.audit = audit
        self.console = console

    @property
    def ok(self) -> bool:
        """True when every phase had the expected outcome and every log verified."""
        return all(r.as_expected for r in self.rows) and all(a["ok"] for a in self.audit)

    def to_json(self) -> dict[str, Any]:
        """For ``writ demo --json``."""
        return {"ok": self.ok, "workdir": str(self.workdir),
                "rows": [r.to_json() for r in self.rows], "audit": self.audit,
                "console": self.console}


def _fresh(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)


def run_demo(workdir: Path, *, say: Say = lambda _: None, burst: int = 2000,
             in_process: bool = False) -> DemoResult:
    """Set everything up in ``workdir`` (recreated), run every phase, audit the logs."""
    workdir = workdir.resolve()
    _fresh(workdir)
    cast = build_cast(workdir)
    if in_process:
        return DemoResult(_in_process(cast, workdir, say, burst), workdir, [], None)
    from writ.demo._remote import RemoteChannel
    from writ.demo._stack import start_stack

    say("starting the MCP tool server, the customer API, the gateway and a witness…")
    with start_stack(cast, workdir) as stack:
        channel = RemoteChannel(stack)
        try:
            rows = run_scenario(cast, channel, say=say, burst=burst)
        finally:
            channel.close()
        say("witnessing the decision log…")
        witnessed = _witness(stack.witness, stack.log)
    say("exporting the decision log and verifying it offline…")
    audit = [_audit("decisions", stack.log, stack.log_key, workdir, witnessed)]
    console = (f"writ console --log {stack.log} --archive {stack.archive} "
               f"--witness {workdir / 'witness.db'} --log-key {stack.log_key}")
    return DemoResult(rows, workdir, audit, console)


def _in_process(cast: Cast, workdir: Path, say: Say, burst: int) -> list[Row]:
    config = ReceiverConfig.from_json({
        "audience": "http://127.0.0.1:8787",
        "trust_anchors": [{"iss": LEAD_ISS, "jwk": cast.lead.public_key.jwk, "ceiling": CEILING}],
        "state": f"sqlite://{workdir / 'state.db'}"})
    stores = open_stores(config.state)
    try:
        return run_scenario(cast, InProcessChannel(Verifier(config, stores=stores)), say=say,
                            burst=burst)
    finally:
        stores.close()


def _witness(witness_url: str, log_url: str) -> dict[str, Any]:
    from writ._errors import StoreUnavailable
    from writ.log._appender import open_log_reader
    from writ.log._witness_client import submit_checkpoint

    reader = open_log_reader(log_url)
    try:
        notes = [c.note for c in reader.checkpoints() if c.note]
        if not notes:
            return {"cosigned": False, "reason": "no checkpoint"}
        line, size = submit_checkpoint(witness_url, reader, notes[-1].decode(), old_size=0)
        return {"cosigned": True, "size": size, "cosignature": line.strip()}
    except StoreUnavailable as exc:
        return {"cosigned": False, "reason": str(exc)}
    finally:
        reader.close()


def _audit(name: str, log_url: str, key_path: Path, workdir: Path,
           witnessed: dict[str, Any]) -> dict[str, Any]:
    from writ._keys import PrivateKey
    from writ.log._appender import open_log_reader
    from writ.log._audit import verify_bundle
    from writ.log._bundle import export_bundle
    from writ.log._checkpoint import Checkpoint
    from writ.log._note import Ed25519Verifier, Note

    reader = open_log_reader(log_url)
    try:
        notes = [c.note for c in reader.checkpoints() if c.note is not None]
        note = notes[-1].decode()
        origin = Checkpoint.parse(Note.parse(note).text).origin
        public = PrivateKey.load(key_path).public_key
        bundle = export_bundle(reader, note, [Ed25519Verifier(origin, public).vkey])
    finally:
        reader.close()
    path = workdir / f"{name}-bundle.json"
    path.write_text(json.dumps(bundle))
    report = verify_bundle(path.read_bytes(), public)
    return {"log": name, "bundle": str(path), "ok": report.ok, "entries": report.entries_verified,
            "complete": report.complete, "witness": witnessed,
            "problems": [p.message for p in report.problems]}
