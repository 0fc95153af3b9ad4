"""The agent's sans-I/O flow: fresh PoPs, one nonce answer, one approval answer."""

from __future__ import annotations

from typing import Any

from writ import PrivateKey, grant
from writ._jose import Jws
from writ.mcp import Ask, Send, Signer, WireDenial, proof_flow

AUD = "https://mcp.target.example"


def signer() -> Signer:
    principal, agent = PrivateKey.generate(), PrivateKey.generate()
    chain = grant(
        key=principal,
        iss="https://p.example",
        holder=agent.public_key,
        tools={"t": {}},
        now=1_000,
        ttl=60,
    )
    return Signer(chain=(chain,), key=agent, audience=AUD, clock=lambda: 1_010.7)


def claims(step: Any) -> dict[str, Any]:
    assert isinstance(step, Send) and step.proof.pop is not None
    return dict(Jws.parse(step.proof.pop, typ="aat-pop+jwt", max_size=1 << 16).payload())


def denial(code: str, challenge: dict[str, Any] | None) -> WireDenial:
    return WireDenial(code=code, reason="r", challenge=challenge, decision_id=None)


def test_each_call_is_signed_fresh_for_the_configured_audience() -> None:
    first = claims(next(proof_flow(signer(), "t", {"a": 1}, can_approve=False)))
    second = claims(next(proof_flow(signer(), "t", {"a": 1}, can_approve=False)))
    assert first["jti"] != second["jti"]
    assert (first["aat_tool"], first["hta"], first["aat_aud"], first["iat"]) == (
        "t",
        {"a": 1},
        AUD,
        1_010,
    )
    assert "nonce" not in first


def test_a_nonce_challenge_is_answered_once_and_never_moves_the_audience() -> None:
    flow = proof_flow(signer(), "t", {}, can_approve=False)
    next(flow)
    retry = claims(
        flow.send(denial("proof_missing", {"nonce": "n-1", "aud": "https://evil.example"}))
    )
    assert retry["nonce"] == "n-1" and retry["aat_aud"] == AUD
    try:
        flow.send(denial("proof_invalid", {"nonce": "n-2", "aud": AUD}))
    except StopIteration:
        pass
    else:
        raise AssertionError("a second nonce challenge must not be answered")


def test_a_denial_without_a_challenge_ends_the_flow() -> None:
    flow = proof_flow(signer(), "t", {}, can_approve=True)
    next(flow)
    for code in ("argument_violation", "approval_required"):
        flow = proof_flow(signer(), "t", {}, can_approve=True)
        next(flow)
        try:
            flow.send(denial(code, None))
        except StopIteration:
            continue
        raise AssertionError(f"{code} without a challenge must end the flow")


def request_for(s: Signer, tool: str = "t", args: dict[str, Any] | None = None,
                **binding: Any) -> dict[str, Any]:
    """An approval request bound to this signer's own call (or altered by ``binding``)."""
    from writ._approval_request import args_hash

    bound = {"tool": tool, "args_hash": args_hash(args or {}), "aud": AUD,
             "agent": s.key.public_key.thumbprint_uri, "request": "r-1", **binding}
    return {"binding": bound}


def test_an_approval_request_is_asked_once() -> None:
    s = signer()
    flow = proof_flow(s, "t", {}, can_approve=True)
    next(flow)
    request = request_for(s)
    ask = flow.send(denial("approval_required", {"approval_request": request}))
    assert ask == Ask(request)
    step = flow.send(["jws-1", "jws-2"])
    assert isinstance(step, Send) and step.proof.approvals == ("jws-1", "jws-2")
    # The nonce spent before the approval may be answered afresh, once.
    again = claims(flow.send(denial("proof_invalid", {"nonce": "n-3"})))
    assert again["nonce"] == "n-3"
    try:
        flow.send(denial("approval_required", {"approval_request": request}))
    except StopIteration:
        return
    raise AssertionError("a second approval request must not be asked")


def test_a_request_for_another_call_agent_or_receiver_is_never_asked() -> None:
    s = signer()
    stranger = PrivateKey.generate().public_key.thumbprint_uri
    for request in (request_for(s, agent=stranger), request_for(s, aud="https://evil.example"),
                    request_for(s, tool="other"), request_for(s, args={"a": 1}),
                    {"binding": "nope"}, {}):
        flow = proof_flow(s, "t", {}, can_approve=True)
        next(flow)
        try:
            flow.send(denial("approval_required", {"approval_request": request}))
        except StopIteration:
            continue
        raise AssertionError(f"asked about a request that is not this call: {request}")


def test_no_callback_or_no_approvals_means_no_retry() -> None:
    flow = proof_flow(signer(), "t", {}, can_approve=False)
    next(flow)
    try:
        flow.send(denial("approval_required", {"approval_request": {}}))
    except StopIteration:
        pass
    else:
        raise AssertionError("without a callback the flow ends")
    s = signer()
    flow = proof_flow(s, "t", {}, can_approve=True)
    next(flow)
    flow.send(denial("approval_required", {"approval_request": request_for(s)}))
    try:
        flow.send([])
    except StopIteration:
        return
    raise AssertionError("no approvals: no retry")
