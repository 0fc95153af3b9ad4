"""The one place that reads and writes Writ's MCP wire members: round trips and mappings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ import CODES, Decision, MalformedError
from writ.mcp import _wire
from writ.mcp._wire import (
    ARGUMENT_KEY,
    DENIED,
    PROOF_KEY,
    RESOURCE_TOOL,
    WireDenial,
    WireProof,
    invocation_for,
)

tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=40)
proofs = st.builds(
    WireProof,
    chain=st.lists(tokens, min_size=1, max_size=8).map(tuple),
    pop=st.none() | tokens,
    approvals=st.lists(tokens, max_size=3).map(tuple),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
arguments = st.dictionaries(
    st.text(max_size=12).filter(lambda k: k != ARGUMENT_KEY), json_values, max_size=5
)


@given(proofs)
def test_the_proof_object_round_trips(proof: WireProof) -> None:
    assert WireProof.from_json(proof.to_json()) == proof
    as_text = _wire.with_proof(None, proof, in_arguments=True, as_text=True)[ARGUMENT_KEY]
    assert WireProof.from_json(as_text) == proof


@given(proofs, arguments, st.booleans())
def test_the_handler_gets_the_arguments_without_the_proof(
    proof: WireProof, args: dict[str, Any], in_arguments: bool
) -> None:
    if in_arguments:
        params = {"name": "t", "arguments": _wire.with_proof(args, proof, in_arguments=True)}
    else:
        params = {
            "name": "t",
            "arguments": dict(args),
            "_meta": {**_wire.with_proof(None, proof), "progressToken": 3},
        }
    call = invocation_for("tools/call", params)
    assert call.tool == "t" and call.proof == proof
    assert call.args == args and call.params["arguments"] == args
    assert PROOF_KEY not in call.params.get("_meta", {})
    if not in_arguments:
        assert call.params["_meta"] == {"progressToken": 3}


def test_resources_and_prompts_map_to_tools() -> None:
    read = invocation_for("resources/read", {"uri": "file:///a"})
    assert (read.tool, read.args, read.proof) == (RESOURCE_TOOL, {"uri": "file:///a"}, None)
    prompt = invocation_for("prompts/get", {"name": "summary", "arguments": {"topic": "q3"}})
    assert (prompt.tool, prompt.args) == ("prompts/get:summary", {"topic": "q3"})
    assert invocation_for("tools/call", {"name": "t"}).args == {}


@pytest.mark.parametrize(
    "method, params",
    [
        ("resources/read", {}),
        ("tools/call", {"arguments": {}}),
        ("tools/call", {"name": "t", "arguments": [1]}),
        ("prompts/get", {"name": ""}),
        ("tools/call", {"name": "t", "arguments": {"_writ": "{not json"}}),
        ("tools/call", {"name": "t", "arguments": {"_writ": '{"chain":["a"],"chain":["b"]}'}}),
    ],
)
def test_requests_that_cannot_carry_a_proof(method: str, params: dict[str, Any]) -> None:
    with pytest.raises(MalformedError):
        invocation_for(method, params)


@pytest.mark.parametrize("name", ["resources/read", "prompts/get:summary", "prompts/x"])
def test_the_reserved_namespace(name: str) -> None:
    with pytest.raises(_wire.ReservedName):
        invocation_for("tools/call", {"name": name})


def test_denial_data_is_exact_and_never_carries_the_detail() -> None:
    decision = Decision(
        allowed=False,
        code="proof_invalid",
        reason=CODES["proof_invalid"][1],
        detail="the PoP signs other arguments",
        decision_id="d-1",
        challenge={"nonce": "n", "aud": "https://a.example"},
    )
    data = _wire.denial_data(decision)
    assert data == {
        "code": "proof_invalid",
        "reason": CODES["proof_invalid"][1],
        "challenge": {"nonce": "n", "aud": "https://a.example"},
        "decision_id": "d-1",
    }
    denial = WireDenial.from_error(DENIED, data)
    assert denial is not None and denial.nonce == "n" and denial.approval_request is None


@pytest.mark.parametrize(
    "code, data",
    [
        (-32603, {"code": "proof_invalid", "reason": "r"}),
        (DENIED, "text"),
        (DENIED, {"code": 1, "reason": "r"}),
        (DENIED, {"code": "x"}),
    ],
)
def test_other_errors_are_not_denials(code: int, data: Any) -> None:
    assert WireDenial.from_error(code, data) is None


def test_an_approval_request_counts_only_on_approval_required() -> None:
    data = {"code": "approval_required", "reason": "r", "challenge": {"approval_request": {}}}
    denial = WireDenial.from_error(DENIED, data)
    assert denial is not None and denial.approval_request == {}
    other = WireDenial.from_error(DENIED, {**data, "code": "proof_invalid"})
    assert other is not None and other.approval_request is None and other.nonce is None


@dataclass(frozen=True)
class _Appended:
    index: int
    leaf_hash: bytes
    checkpoint: bytes | None


def test_receipts_become_json() -> None:
    out = _wire.receipt_json(_Appended(index=3, leaf_hash=b"\xff\x00", checkpoint=None))
    assert out == {"index": 3, "leaf_hash": "_wA", "checkpoint": None}

    class WithJson:
        def to_json(self) -> dict[str, Any]:
            return {"v": "writ-receipt/1"}

    assert _wire.receipt_json(WithJson()) == {"v": "writ-receipt/1"}
    assert _wire.listing_chain({"_meta": {PROOF_KEY: {"chain": ["a"]}}}) == ("a",)
    assert _wire.listing_chain({"_meta": {PROOF_KEY: {"chain": 1}}}) is None


def test_the_public_api_is_sorted_and_resolves() -> None:
    import writ.mcp

    def isort_key(name: str) -> tuple[int, str]:  # constants, classes, functions (ruff RUF022)
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert writ.mcp.__all__ == sorted(writ.mcp.__all__, key=isort_key)
    for name in writ.mcp.__all__:
        assert getattr(writ.mcp, name) is not None
