"""The CLI contract: files in, JSON out, exit 0 ok/allow, 1 deny, 2 error, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from writ.cli import app

RUN = CliRunner()


def writ(*argv: str, code: int = 0) -> Any:
    result = RUN.invoke(app, [*argv])
    assert result.exit_code == code, (argv, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout) if "--json" in argv and result.stdout.strip() else None


@pytest.fixture
def world(tmp_path: Path) -> Path:
    for name in ("lead", "agent", "sub"):
        info = writ("key", "new", "-o", str(tmp_path / f"{name}.key"), "--json")
        assert info["thumbprint_uri"].startswith("urn:ietf:params:oauth:jwk-thumbprint:sha-256:")
        assert (tmp_path / f"{name}.key").stat().st_mode & 0o777 == 0o600
    lead = json.loads((tmp_path / "lead.key").read_text())
    (tmp_path / "caps.json").write_text(json.dumps({"port_scan": {"host": {
        "constraint_type": "cidr", "networks": ["10.20.0.0/16"]}}}))
    (tmp_path / "sub-caps.json").write_text(json.dumps({"port_scan": {"host": {
        "constraint_type": "cidr", "networks": ["10.20.1.0/24"]}}}))
    (tmp_path / "receiver.toml").write_text(
        'audience = "https://api.acme.example"\nstate = "sqlite:state.db"\n'
        'log = "sqlite:log.db"\nlog_key = "log.key"\n'
        f'[[trust_anchors]]\niss = "https://security.acme.example"\n'
        f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{lead["x"]}" }}\n')
    return tmp_path


def grant_and_delegate(w: Path) -> None:
    writ("grant", "--key", str(w / "lead.key"), "--iss", "https://security.acme.example",
         "--holder", str(w / "agent.key"), "--caps", str(w / "caps.json"), "--ttl", "1h",
         "--purpose", "ENG-1", "-o", str(w / "agent.chain"))
    writ("delegate", "--chain", str(w / "agent.chain"), "--key", str(w / "agent.key"),
         "--holder", str(w / "sub.key"), "--caps", str(w / "sub-caps.json"),
         "-o", str(w / "sub.chain"))


def check(w: Path, host: str, code: int, chain: str = "sub") -> Any:
    args = json.dumps({"host": host})
    writ("sign", "--chain", str(w / f"{chain}.chain"), "--key", str(w / f"{chain}.key"),
         "--tool", "port_scan", "--args", args, "--aud", "https://api.acme.example",
         "-o", str(w / "call.pop"))
    return writ("check", "--receiver", str(w / "receiver.toml"), "--chain",
                str(w / f"{chain}.chain"), "--pop", str(w / "call.pop"), "--tool", "port_scan",
                "--args", args, "--json", code=code)


def test_grant_delegate_sign_check_and_log(world: Path) -> None:
    grant_and_delegate(world)
    tree = writ("inspect", str(world / "sub.chain"), "--json")
    assert [t["del_depth"] for t in tree] == [0, 1] and tree[0]["purpose"] == "ENG-1"
    allowed = check(world, "10.20.1.9", 0)
    assert allowed["allowed"] and allowed["chain"]["purpose"] == "ENG-1"
    denied = check(world, "10.20.2.9", 1)
    assert denied["code"] == "argument_violation"
    tail = writ("log", "tail", "--receiver", str(world / "receiver.toml"), "--json")
    assert [r["decision"] for r in tail] == ["allow", "deny"]
    proof = writ("log", "prove", "0", "--receiver", str(world / "receiver.toml"), "--json")
    assert proof["tree_size"] == 2 and len(proof["proof"]) == 1
    writ("log", "consistency", "1", "2", "--receiver", str(world / "receiver.toml"), "--json")
    note = writ("log", "checkpoint", "--receiver", str(world / "receiver.toml"), "--json")
    assert note["checkpoint"].splitlines()[1] == "2"
    writ("log", "export", "--receiver", str(world / "receiver.toml"),
         "-o", str(world / "bundle.json"))
    report = writ("log", "verify", str(world / "bundle.json"), "--pubkey",
                  str(world / "log.key"), "--json")
    assert report["ok"] and report["complete"] and report["entries_verified"] == 2
    bundle = json.loads((world / "bundle.json").read_text())
    bundle["entries"][0] = bundle["entries"][1]
    (world / "bad.json").write_text(json.dumps(bundle))
    bad = writ("log", "verify", str(world / "bad.json"), "--pubkey", str(world / "log.key"),
               "--json", code=1)
    assert not bad["ok"] and bad["problems"]


def test_receipt_from_check_verifies(world: Path) -> None:
    grant_and_delegate(world)
    allowed = check(world, "10.20.1.9", 0)
    (world / "receipt.json").write_text(json.dumps(allowed["receipt"]))
    writ("log", "verify-receipt", str(world / "receipt.json"), "--pubkey",
         str(world / "log.key"), "--json")


def test_revocation_through_the_cli(world: Path) -> None:
    grant_and_delegate(world)
    assert check(world, "10.20.1.9", 0)["allowed"]
    root_jti = writ("inspect", str(world / "sub.chain"), "--json")[0]["jti"]
    writ("revoke", "--key", str(world / "lead.key"), "--jti", root_jti, "-o",
         str(world / "revoke.jws"))
    writ("revocations", "load", "--receiver", str(world / "receiver.toml"),
         str(world / "revoke.jws"))
    assert check(world, "10.20.1.10", 1)["code"] == "revoked"


def test_widening_delegation_names_the_axis(world: Path) -> None:
    grant_and_delegate(world)
    (world / "wide.json").write_text(json.dumps({"port_scan": {"host": {
        "constraint_type": "cidr", "networks": ["10.0.0.0/8"]}}}))
    result = RUN.invoke(app, ["delegate", "--chain", str(world / "agent.chain"), "--key",
                              str(world / "agent.key"), "--holder", str(world / "sub.key"),
                              "--caps", str(world / "wide.json"), "-o", str(world / "x")])
    assert result.exit_code == 2 and "argument" in result.stderr


def test_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    for argv in (["key", "show", str(tmp_path / "missing.key")],
                 ["check", "--receiver", str(tmp_path / "nope.toml"), "--chain", "c",
                  "--pop", "p", "--tool", "t", "--args", "{}"],
                 ["grant", "--key", "k"]):
        result = RUN.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr


def test_key_new_refuses_to_overwrite_and_never_prints_the_private_key(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "writ.cli", "key", "new", "-o",
                             str(tmp_path / "k.key")], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    private = json.loads((tmp_path / "k.key").read_text())["d"]
    assert private not in result.stdout + result.stderr
    again = subprocess.run([sys.executable, "-m", "writ.cli", "key", "new", "-o",
                            str(tmp_path / "k.key")], capture_output=True, text=True, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
