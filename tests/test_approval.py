"""Approval gates at the verifier: bound to the exact call, m of n distinct approvers, used once."""

from __future__ import annotations

from typing import Any

from factory import AUD, NOW, Cast, receiver, verifier
from writ import ApprovalGate, ApprovalPolicy, PrivateKey
from writ._approval_request import sign_approval
from writ._constraints import parse_constraint_map

TOOLS = {"exploit_service": {"host": {"constraint_type": "cidr", "networks": ["10.20.0.0/16"]}},
         "refund": {"amount": {"constraint_type": "wildcard"}}}


def setup(threshold: int = 1, approvers: int = 1, **gate: Any) -> tuple[Cast, list[str], Any,
                                                                        list[PrivateKey]]:
    cast = Cast()
    keys = [PrivateKey.generate() for _ in range(approvers)]
    policy = ApprovalPolicy(gates=(ApprovalGate(
        tools=frozenset({"exploit_service"}), approvers=tuple(k.public_key for k in keys),
        threshold=threshold, **gate),))
    chain = cast.root(TOOLS, approval=policy)
    return cast, chain, verifier(receiver(cast.principal)), keys


def ask(v: Any, cast: Cast, chain: list[str], args: dict[str, Any], approvals: tuple[str, ...] = (),
        tool: str = "exploit_service", now: int = NOW) -> Any:
    return v.check(chain=chain, pop=cast.pop(chain, tool, args, now=now), tool=tool, args=args,
                   now=now, approvals=approvals)


def request_for(v: Any, cast: Cast, chain: list[str], args: dict[str, Any]) -> dict[str, Any]:
    denied = ask(v, cast, chain, args)
    assert denied.code == "approval_required"
    return denied.challenge["approval_request"]


def test_gated_call_needs_approval_and_the_request_says_what_to_sign() -> None:
    cast, chain, v, _ = setup()
    request = request_for(v, cast, chain, {"host": "10.20.0.5"})
    assert request["binding"]["tool"] == "exploit_service"
    assert request["binding"]["aud"] == AUD
    assert request["binding"]["agent"] == cast.agents[0].public_key.thumbprint_uri
    assert request["args"] == {"host": "10.20.0.5"}
    assert "exploit_service" in request["summary"] and request["expires"] > NOW


def test_approved_call_runs_once() -> None:
    cast, chain, v, keys = setup()
    args = {"host": "10.20.0.5"}
    approval = sign_approval(request_for(v, cast, chain, args), key=keys[0], now=NOW)
    assert ask(v, cast, chain, args, [approval]).allowed
    reused = ask(v, cast, chain, args, [approval])
    assert reused.code == "approval_invalid" and "already used" in (reused.detail or "")


def test_approval_for_other_arguments_is_rejected() -> None:
    cast, chain, v, keys = setup()
    approval = sign_approval(request_for(v, cast, chain, {"host": "10.20.0.5"}), key=keys[0],
                             now=NOW)
    assert ask(v, cast, chain, {"host": "10.20.0.6"}, [approval]).code == "approval_invalid"


def test_threshold_counts_distinct_approvers() -> None:
    cast, chain, v, keys = setup(threshold=2, approvers=3)
    args = {"host": "10.20.0.5"}
    request = request_for(v, cast, chain, args)
    one = sign_approval(request, key=keys[0], now=NOW)
    same_again = sign_approval(request, key=keys[0], now=NOW)
    assert ask(v, cast, chain, args, [one]).code == "approval_invalid"
    assert ask(v, cast, chain, args, [one, same_again]).code == "approval_invalid"
    two = sign_approval(request, key=keys[1], now=NOW)
    assert ask(v, cast, chain, args, [one, two]).allowed


def test_approver_outside_the_set_and_expired_approvals_are_rejected() -> None:
    cast, chain, v, keys = setup(max_age=60)
    args = {"host": "10.20.0.5"}
    request = request_for(v, cast, chain, args)
    stranger = sign_approval(request, key=PrivateKey.generate(), now=NOW)
    refused = ask(v, cast, chain, args, [stranger])
    assert refused.code == "approval_invalid" and "not in the gate" in (refused.detail or "")
    old = sign_approval(request, key=keys[0], now=NOW)
    later = ask(v, cast, chain, args, [old], now=NOW + 61)  # a fresh PoP, a stale approval
    assert later.code == "approval_invalid" and "expired" in (later.detail or "")
    assert ask(v, cast, chain, args, [old], now=NOW + 59).allowed  # the same one, in time


def test_waiver_applies_only_to_values_it_can_judge() -> None:
    cast = Cast()
    key = PrivateKey.generate()
    gate = ApprovalGate(tools=frozenset({"refund"}), approvers=(key.public_key,), threshold=1,
                        unless=parse_constraint_map({"amount": {"constraint_type": "range",
                                                                "max": 100}}))
    chain = cast.root(TOOLS, approval=ApprovalPolicy(gates=(gate,)))
    v = verifier(receiver(cast.principal))
    assert ask(v, cast, chain, {"amount": 50}, tool="refund").allowed
    assert ask(v, cast, chain, {"amount": 500}, tool="refund").code == "approval_required"
    # A value the waiver cannot judge keeps the gate closed (fail-closed).
    assert ask(v, cast, chain, {"amount": "50"}, tool="refund").code == "approval_required"


def test_ungated_tools_need_no_approval() -> None:
    cast, chain, v, _ = setup()
    assert ask(v, cast, chain, {"amount": "5"}, tool="refund").allowed
