"""The README's first command: every phase of the scenario has the expected outcome."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from writ.cli import app


def test_demo_in_process(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--json", "--burst", "100", "--in-process",
                                      "--workdir", str(tmp_path / "demo")])
    out = json.loads(result.stdout)
    assert result.exit_code == 0, out
    assert all(r["as_expected"] for r in out["rows"])


def test_demo_outcomes(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--json", "--burst", "200",
                                      "--workdir", str(tmp_path / "demo")])
    out = json.loads(result.stdout)
    assert result.exit_code == 0, out
    codes = {(r["phase"], r["agent"]): r["code"] for r in out["rows"]}
    assert codes[("2 rogue", "rogue-agent")] == "untrusted_root"
    assert codes[("4 credentials", "vendor-agent")] == "tool_not_granted"
    assert codes[("5 lateral", "vendor-agent")] == "argument_violation"
    assert codes[("7 burst", "sub-agent")] == "rate_limited"
    assert codes[("8 revoked", "sub-agent")] == "revoked"
    assert all(r["as_expected"] for r in out["rows"])
    assert codes[("2 rogue", "rogue-agent")] == "untrusted_root"
    assert [a["log"] for a in out["audit"]] == ["decisions"]
    assert all(a["ok"] and a["complete"] and a["witness"]["cosigned"] for a in out["audit"])
    key = tmp_path / "demo" / "keys" / "lead.key"
    assert key.stat().st_mode & 0o777 == 0o600
