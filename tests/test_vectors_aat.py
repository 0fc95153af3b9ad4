"""The AAT draft-02 JWS conformance suite: 79 vectors, each with its verdict and step.

Run twice: through the library (``Verifier.check``) and through the public CLI
contract (``writ check --receiver R.toml --chain C --pop P --tool T --args A --now N
[--nonce N] --json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from writ._config import ReceiverConfig
from writ._verify import Verifier
from writ.cli import app
from writ.stores import open_stores

SUITE = json.loads((Path(__file__).parent / "vectors/aat/aat-jws-vectors.json").read_text())
VECTORS = SUITE["vectors"]


def receiver_table(vector: dict[str, Any]) -> dict[str, Any]:
    params, policy = SUITE["params"], vector["policy"]
    return {
        "audience": params["audience"],
        "require_pop_audience": bool(policy.get("require_pop_aud", False)),
        "require_chain_audience": bool(policy.get("require_chain_aud", False)),
        "limits": {"max_iat_skew": params["max_iat_skew"],
                   "max_token_lifetime": params["max_token_lifetime"],
                   "max_delegation_depth": params["max_delegation_depth"],
                   "pop_window": params["pop_window"]},
        "trust_anchors": SUITE["trust_anchors"],
    }


def test_suite_is_whole() -> None:
    assert SUITE["spec"] == "draft-niyikiza-oauth-attenuating-agent-tokens-02"
    assert len(VECTORS) == 79
    verdicts = [v["expected"]["verdict"] for v in VECTORS]
    assert verdicts.count("PERMIT") == 19 and verdicts.count("DENY") == 60


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_through_library(vector: dict[str, Any]) -> None:
    config = ReceiverConfig.from_json(receiver_table(vector))
    verifier = Verifier(config, stores=open_stores("memory:"))
    decision = verifier.check(chain=vector["chain_compact"], pop=vector["pop"]["compact"],
                              tool=vector["tool"], args=vector["args"], now=vector["now"],
                              nonce=vector["policy"].get("nonce"))
    expected = vector["expected"]
    assert decision.allowed == (expected["verdict"] == "PERMIT"), decision.to_json()
    if expected["step"] is not None:
        assert decision.step in expected["step"].split("/"), decision.to_json()


def _toml(table: dict[str, Any]) -> str:
    lines = [f'audience = "{table["audience"]}"',
             f'require_pop_audience = {str(table["require_pop_audience"]).lower()}',
             f'require_chain_audience = {str(table["require_chain_audience"]).lower()}',
             "[limits]"]
    lines += [f"{k} = {v}" for k, v in table["limits"].items()]
    for anchor in table["trust_anchors"]:
        jwk = ", ".join(f'{k} = "{v}"' for k, v in anchor["jwk"].items())
        lines += ["[[trust_anchors]]", f'iss = "{anchor["iss"]}"', f"jwk = {{ {jwk} }}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_through_cli(vector: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "receiver.toml").write_text(_toml(receiver_table(vector)))
    (tmp_path / "chain").write_text("\n".join(vector["chain_compact"]) + "\n")
    (tmp_path / "pop").write_text(vector["pop"]["compact"] + "\n")
    argv = ["check", "--receiver", str(tmp_path / "receiver.toml"),
            "--chain", str(tmp_path / "chain"), "--pop", str(tmp_path / "pop"),
            "--tool", vector["tool"], "--args", json.dumps(vector["args"]),
            "--now", str(vector["now"]), "--json"]
    if "nonce" in vector["policy"]:
        argv += ["--nonce", vector["policy"]["nonce"]]
    result = CliRunner().invoke(app, argv)
    out = json.loads(result.stdout)
    permit = vector["expected"]["verdict"] == "PERMIT"
    assert result.exit_code == (0 if permit else 1), result.stdout
    assert out["allowed"] is permit
    if vector["expected"]["step"] is not None:
        assert out["step"] in vector["expected"]["step"].split("/")
