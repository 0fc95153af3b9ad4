"""``writ demo``: the GTG-1002 campaign replayed against targets that verify before they act."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from writ._config import ReceiverConfig
from writ._verify import Verifier
from writ.demo._cast import CEILING, LEAD_ISS, Cast, build_cast
from writ.demo._channel import InProcessChannel
from writ.demo._scenario import Row, run_scenario
from writ.stores import open_stores

__all__ = ["DemoResult", "run_demo"]

AUDIENCE = "http://127.0.0.1:8787"


class DemoResult:
    """The rows of the demo and where its files are."""

    def __init__(self, rows: list[Row], workdir: Path, extra: dict[str, Any]) -> None:
        self.rows = rows
        self.workdir = workdir
        self.extra = extra

    @property
    def ok(self) -> bool:
        """True when every phase had the outcome the scenario expects."""
        return all(r.as_expected for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        """For ``writ demo --json``."""
        return {"ok": self.ok, "workdir": str(self.workdir),
                "rows": [r.to_json() for r in self.rows], **self.extra}


def receiver_config(cast: Cast, workdir: Path) -> ReceiverConfig:
    """The target's receiver: the lead's root enrolled with a ceiling, state on SQLite."""
    return ReceiverConfig.from_json({
        "audience": AUDIENCE,
        "trust_anchors": [{"iss": LEAD_ISS, "jwk": cast.lead.public_key.jwk,
                           "ceiling": CEILING}],
        "state": f"sqlite://{workdir / 'state.db'}",
    })


def run_demo(workdir: Path, *, say: Any = lambda _: None, burst: int = 2000) -> DemoResult:
    """Set everything up in ``workdir`` (recreated) and run every phase."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    cast = build_cast(workdir)
    config = receiver_config(cast, workdir)
    stores = open_stores(config.state)
    try:
        verifier = Verifier(config, stores=stores)
        rows = run_scenario(cast, InProcessChannel(verifier), say=say, burst=burst)
    finally:
        stores.close()
    return DemoResult(rows, workdir, {})
