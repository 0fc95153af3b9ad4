"""Minting: grant and delegate refuse widening, naming the axis; verify agrees with mint."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factory import ISS, NOW, Cast, receiver, verifier
from writ import (
    ApprovalGate,
    ApprovalPolicy,
    Budget,
    MintError,
    PrivateKey,
    Rate,
    Spend,
    Writ,
    delegate,
)
from writ._jose import sign_compact
from writ._token import AAT_TYP

FILES = {"read_file": {"path": {"constraint_type": "one_of", "values": ["/a", "/b", "/c"]}},
         "search": {}}


def leaf(chain: list[str]) -> Writ:
    return Writ.parse_unverified(chain[-1], root=len(chain) == 1)


def test_grant_carries_the_claims() -> None:
    cast = Cast()
    budget = Budget(calls=10, rate=Rate(count=2, per_s=1))
    root = leaf(cast.root(FILES, ttl=600, max_depth=2, budget=budget, purpose="ENG-1",
                          aud=["https://api.target.example"]))
    assert root.iss == ISS and root.exp - root.iat == 600 and root.del_max_depth == 2
    assert root.holder == cast.agents[0].public_key and root.budget == budget
    assert root.purpose == "ENG-1" and root.aud == ("https://api.target.example",)
    assert set(root.tools or {}) == {"read_file", "search"}


@pytest.mark.parametrize("tools, axis", [
    ({"delete_file": {}}, "tool"),
    ({"read_file": {"path": {"constraint_type": "one_of", "values": ["/a", "/z"]}}}, "argument"),
    ({"read_file": {"path": {"constraint_type": "wildcard"}}}, "argument"),
    ({"read_file": {}}, "argument"),  # dropping a constrained key widens (closed world)
])
def test_delegate_refuses_wider_capabilities(tools: dict[str, Any], axis: str) -> None:
    cast = Cast()
    with pytest.raises(MintError) as info:
        cast.extend(cast.root(FILES), tools)
    assert info.value.axis == axis


def test_delegate_refuses_other_widening_axes() -> None:
    cast = Cast()
    chain = cast.root(FILES, ttl=600, max_depth=2, budget=Budget(calls=5))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ttl": 601}, "expiry"),
        ({"max_depth": 3}, "depth"),
        ({"budget": Budget(calls=6)}, "budget"),
        ({"budget": Budget(rate=Rate(count=1, per_s=1))}, "budget"),  # drops calls
    ]
    for options, axis in cases:
        with pytest.raises(MintError) as info:
            cast.extend(chain, {"search": {}}, **options)
        assert info.value.axis == axis, options
    with pytest.raises(MintError) as info:
        delegate(leaf(chain), key=PrivateKey.generate(), holder=cast.agents[1].public_key,
                 tools={"search": {}}, now=NOW)
    assert info.value.axis == "holder"


def test_terminal_token_cannot_delegate() -> None:
    cast = Cast()
    chain = cast.extend(cast.root(FILES, max_depth=1), {"search": {}})
    with pytest.raises(MintError) as info:
        cast.extend(chain, {"search": {}})
    assert info.value.axis == "depth"


def test_child_inherits_budget_purpose_and_gates() -> None:
    cast = Cast()
    gate = ApprovalGate(tools=frozenset({"read_file"}), approvers=(PrivateKey.generate().public_key,),
                        threshold=1)
    chain = cast.extend(cast.root(FILES, budget=Budget(calls=5), purpose="ENG-7",
                                  approval=ApprovalPolicy(gates=(gate,))), {"search": {}})
    child = leaf(chain)
    assert child.budget == Budget(calls=5) and child.purpose == "ENG-7"
    assert child.approval is not None and child.approval.gates == (gate,)


def test_approval_gate_cannot_be_dropped_at_mint() -> None:
    cast = Cast()
    approver = PrivateKey.generate().public_key
    gate = ApprovalGate(tools=frozenset({"read_file"}), approvers=(approver,), threshold=1)
    chain = cast.root(FILES, approval=ApprovalPolicy(gates=(gate,)))
    with pytest.raises(MintError) as info:
        cast.extend(chain, {"search": {}}, approval=ApprovalPolicy.none())
    assert info.value.axis == "approval"
    looser = ApprovalGate(tools=frozenset({"read_file"}),
                          approvers=(approver, PrivateKey.generate().public_key), threshold=1)
    with pytest.raises(MintError):
        cast.extend(chain, {"search": {}}, approval=ApprovalPolicy(gates=(looser,)))


def _forge_child(cast: Cast, chain: list[str], **changes: Any) -> list[str]:
    """A correctly signed child whose claims were edited past what delegate allows."""
    parent = leaf(chain)
    good = Writ.parse_unverified(cast.extend(chain, {"search": {}})[-1], root=False)
    payload = dict(good.payload)
    for name, value in changes.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    assert payload["par_hash"] == parent.hash
    return [*chain, sign_compact(payload, typ=AAT_TYP, key=cast.agents[len(chain) - 1])]


@pytest.mark.parametrize("changes, step", [
    ({"writ_budget": {"calls": 50}}, "writ-budget"),
    ({"writ_budget": None}, "writ-budget"),
    ({"writ_purpose": "something else"}, "writ-purpose"),
    ({"writ_approval": None}, "writ-approval"),
])
def test_verifier_refuses_extension_widening_that_mint_would_refuse(
        changes: dict[str, Any], step: str) -> None:
    cast = Cast()
    gate = ApprovalGate(tools=frozenset({"read_file"}),
                        approvers=(PrivateKey.generate().public_key,), threshold=1)
    chain = cast.root(FILES, budget=Budget(calls=5), purpose="ENG-1",
                      approval=ApprovalPolicy(gates=(gate,)))
    forged = _forge_child(cast, chain, **changes)
    v = verifier(receiver(cast.principal))
    decision = v.check(chain=forged, pop=cast.pop(forged, "search", {}), tool="search", args={},
                       now=NOW)
    assert decision.code == "chain_invalid" and decision.step == step


values = st.lists(st.sampled_from(["/a", "/b", "/c", "/d"]), min_size=1, max_size=4, unique=True)


@settings(max_examples=60, deadline=None)
@given(child_values=values, arg=st.sampled_from(["/a", "/b", "/c", "/d"]))
def test_mint_and_verify_agree_on_one_of_narrowing(child_values: list[str], arg: str) -> None:
    cast = Cast()
    root = cast.root(FILES)
    tools = {"read_file": {"path": {"constraint_type": "one_of", "values": child_values}}}
    narrower = set(child_values) <= {"/a", "/b", "/c"}
    try:
        chain = cast.extend(root, tools)
    except MintError as exc:
        assert not narrower and exc.axis == "argument"
        return
    assert narrower
    decision = verifier(receiver(cast.principal)).check(
        chain=chain, pop=cast.pop(chain, "read_file", {"path": arg}), tool="read_file",
        args={"path": arg}, now=NOW)
    assert decision.allowed == (arg in child_values)


@settings(max_examples=60, deadline=None)
@given(parent=st.integers(1, 100), child=st.integers(1, 120),
       count=st.integers(1, 20), per_s=st.integers(1, 20))
def test_budget_attenuation_is_monotone(parent: int, child: int, count: int, per_s: int) -> None:
    p = Budget(calls=parent, rate=Rate(count=10, per_s=10),
               spend=Spend(arg="amount", currency="USD", max=Decimal(parent)))
    c = Budget(calls=child, rate=Rate(count=count, per_s=per_s),
               spend=Spend(arg="amount", currency="USD", max=Decimal(child)))
    within = child <= parent and count <= 10 and count / per_s <= 1
    assert (c.widening(p) is None) == within
    assert Budget.parse(c.to_json()) == c
