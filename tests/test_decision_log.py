"""Every decision, allow and deny, is durable in the log before the verifier returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from factory import NOW, Cast, receiver, verifier
from writ import PrivateKey
from writ._json import loads_strict
from writ.log._decisions import open_decision_log
from writ.log._receipt import verify_receipt

TOOLS = {"refund": {"order": {"constraint_type": "wildcard"},
                    "card": {"constraint_type": "wildcard"}}}


@pytest.fixture
def logged(tmp_path: Path) -> Any:
    cast = Cast()
    config = receiver(cast.principal, log=f"sqlite://{tmp_path}/log.db",
                      log_key=str(tmp_path / "log.key"), sensitive_args={"refund": ["card"]})
    log = open_decision_log(config)
    yield cast, verifier(config, log=log), log
    log.close()


def test_allow_and_deny_each_get_a_verifiable_receipt(logged: Any) -> None:
    cast, v, log = logged
    chain = cast.root(TOOLS)
    args = {"order": "A-1", "card": "4111111111111111"}
    allowed = v.check(chain=chain, pop=cast.pop(chain, "refund", args), tool="refund",
                      args=args, now=NOW)
    denied = v.check(chain=chain, pop=cast.pop(chain, "export", {}), tool="export", args={},
                     now=NOW)
    assert allowed.allowed and not denied.allowed
    for decision, index in ((allowed, 0), (denied, 1)):
        receipt = decision.receipt
        assert receipt.index == index
        leaf = log.writer.entry(index)
        result = verify_receipt(receipt, log.key.public_key, leaf)
        assert result.ok, result.reason
        record = loads_strict(leaf)
        assert record["id"] == decision.decision_id
        assert record["decision"] == ("allow" if decision.allowed else "deny")
    assert log.writer.size() == 2


def test_sensitive_arguments_are_committed_not_logged(logged: Any) -> None:
    cast, v, log = logged
    chain = cast.root(TOOLS)
    args = {"order": "A-1", "card": "4111111111111111"}
    v.check(chain=chain, pop=cast.pop(chain, "refund", args), tool="refund", args=args, now=NOW)
    leaf = log.writer.entry(0)
    assert b"4111111111111111" not in leaf
    record = json.loads(leaf)
    assert set(record["commitments"]) == {"card"}
    assert record["proof"]["redacted"]


def test_the_agents_own_proof_is_kept_for_the_auditor(logged: Any) -> None:
    cast, v, log = logged
    chain = cast.root({"ping": {}})
    pop = cast.pop(chain, "ping", {"x": 1})
    v.check(chain=chain, pop=pop, tool="ping", args={"x": 1}, now=NOW)
    record = json.loads(log.writer.entry(0))
    assert record["proof"] == {"type": "aat-pop+jwt", "pop": pop}
    assert record["chain"]["agent"] == cast.agents[0].public_key.thumbprint_uri


def test_receipt_fails_for_another_record_or_key(logged: Any) -> None:
    cast, v, log = logged
    chain = cast.root({"ping": {}})
    decision = v.check(chain=chain, pop=cast.pop(chain, "ping", {}), tool="ping", args={},
                       now=NOW)
    assert not verify_receipt(decision.receipt, log.key.public_key, b"{}").ok
    assert not verify_receipt(decision.receipt, PrivateKey.generate().public_key).ok


def test_a_refused_self_issued_root_is_logged_with_its_story_marked_unverified(
    logged: Any,
) -> None:
    _, v, log = logged
    rogue = Cast()
    chain = rogue.root({"ping": {}}, iss="https://legit-security-firm.example",
                       purpose="defensive testing for the target")
    decision = v.check(chain=chain, pop=rogue.pop(chain, "ping", {}), tool="ping", args={},
                       now=NOW)
    assert decision.code == "untrusted_root"
    record = json.loads(log.writer.entry(0))
    assert record["chain"] is None
    assert record["claimed_unverified"] == {"iss": "https://legit-security-firm.example",
                                            "writ_purpose": "defensive testing for the target"}
