"""Approval requests and approvals: a human's signature over one exact call (Writ extension).

When a call hits an approval gate, the receiver denies it with ``approval_required``
and an **approval request**: what an approver must sign. An **approval** is a JWS
(``typ: writ-approval+jwt``) by one approver over the request's binding — tool, the
SHA-256 of the JCS arguments, the receiver audience, the agent, and the request id
(the ``jti`` of the proof that first asked). The agent retries with the approvals
attached; the receiver checks signature, approver membership, distinct approvers
against the threshold, the exact binding and freshness, then uses the request id once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from writ._approval import ApprovalGate
from writ._decision import ChainSummary, Denial
from writ._errors import MalformedError
from writ._jose import Jws, sign_compact
from writ._json import canonical_hash
from writ._keys import PrivateKey
from writ._token import new_id

__all__ = ["APPROVAL_TYP", "Binding", "approval_request", "args_hash", "check_approvals",
           "sign_approval"]

APPROVAL_TYP = "writ-approval+jwt"
_MAX_APPROVALS = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """Exactly what an approval approves."""

    tool: str
    args_hash: str
    aud: str
    agent: str
    request: str

    def to_json(self) -> dict[str, str]:
        """The wire form."""
        return {"tool": self.tool, "args_hash": self.args_hash, "aud": self.aud,
                "agent": self.agent, "request": self.request}


def approval_request(*, binding: Binding, args: Mapping[str, Any], gates: Sequence[ApprovalGate],
                     summary: ChainSummary, now: float) -> dict[str, Any]:
    """The object an approver is shown and signs over (its ``binding``)."""
    max_age = min(g.max_age for g in gates)
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return {
        "type": "writ-approval-request",
        "binding": binding.to_json(),
        "args": dict(args),
        "expires": int(now) + max_age,
        "max_age": max_age,
        "chain": {"principal": summary.principal, "purpose": summary.purpose,
                  "agent": summary.agent},
        "gates": [{"approvers": [a.thumbprint_uri for a in g.approvers],
                   "threshold": g.threshold} for g in gates],
        "summary": f"Agent …{summary.agent[-12:]} asks to run {binding.tool}({shown}) at "
                   f"{binding.aud} under {summary.principal}"
                   + (f" for “{summary.purpose}”" if summary.purpose else ""),
    }


def sign_approval(request: Mapping[str, Any], *, key: PrivateKey, now: int) -> str:
    """An approver's signature over a request's binding, valid for the request's max age."""
    binding = request.get("binding")
    max_age = request.get("max_age")
    if not isinstance(binding, dict) or type(max_age) is not int or max_age <= 0:
        raise MalformedError("not an approval request")
    payload = {"jti": new_id(), "iss": key.public_key.thumbprint_uri, "iat": now,
               "exp": now + max_age, "binding": binding}
    return sign_compact(payload, typ=APPROVAL_TYP, key=key)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Approval:
    approver: str
    request: str


def _verify_one(compact: str, gate: ApprovalGate, binding: Binding, audiences: Sequence[str],
                now: float, skew: int) -> _Approval:
    try:
        jws = Jws.parse(compact, typ=APPROVAL_TYP, max_size=16_384)
        claims = _unverified(jws)
    except MalformedError as exc:
        raise Denial("approval_invalid", f"approval: {exc}", step="approval") from None
    approver = next((a for a in gate.approvers if a.thumbprint_uri == claims.get("iss")), None)
    if approver is None:
        raise Denial("approval_invalid", "the approver is not in the gate's set", step="approval")
    if not jws.verify(approver):
        raise Denial("approval_invalid", "the approval signature does not verify", step="approval")
    iat, exp, signed = claims.get("iat"), claims.get("exp"), claims.get("binding")
    if type(iat) is not int or type(exp) is not int or not isinstance(signed, dict):
        raise Denial("approval_invalid", "malformed approval claims", step="approval")
    if exp <= now or iat > now + skew or exp - iat > gate.max_age:
        raise Denial("approval_invalid", "the approval is expired or not fresh", step="approval")
    expected = binding.to_json()
    if any(signed.get(k) != expected[k] for k in ("tool", "args_hash", "agent")) \
            or signed.get("aud") not in audiences:
        raise Denial("approval_invalid", "the approval is for another call", step="approval")
    request = signed.get("request")
    if not isinstance(request, str):
        raise Denial("approval_invalid", "the approval names no request", step="approval")
    return _Approval(approver=approver.thumbprint_uri, request=request)


def _unverified(jws: Jws) -> dict[str, Any]:
    claims = jws.payload()  # size-bounded; the signature is checked right after the key lookup
    if not isinstance(claims, dict):
        raise MalformedError("the approval payload is not an object")
    return claims


def check_approvals(approvals: Sequence[str], *, gates: Sequence[ApprovalGate],
                    binding: Binding, audiences: Sequence[str], args: Mapping[str, Any],
                    summary: ChainSummary, now: float, skew: int) -> str:
    """Raise ``Denial`` unless every gate is met; return the request id the approvals name."""
    if not approvals:
        raise Denial("approval_required", f"{binding.tool} is behind an approval gate",
                     step="approval", extra={"approval_request": approval_request(
                         binding=binding, args=args, gates=gates, summary=summary, now=now)})
    if len(approvals) > _MAX_APPROVALS:
        raise Denial("approval_invalid", "too many approvals", step="approval")
    requests: set[str] = set()
    for gate in gates:
        approvers: set[str] = set()
        refused: list[str] = []
        for compact in approvals:
            try:
                approval = _verify_one(compact, gate, binding, audiences, now, skew)
            except Denial as denial:
                refused.append(denial.detail)  # may belong to another gate; judged there
                continue
            approvers.add(approval.approver)
            requests.add(approval.request)
        if len(approvers) < gate.threshold:
            why = f" ({'; '.join(sorted(set(refused)))})" if refused else ""
            raise Denial("approval_invalid", f"{len(approvers)} of {gate.threshold} distinct "
                         f"valid approvals for this call{why}", step="approval")
    if len(requests) != 1:
        raise Denial("approval_invalid", "the approvals name different requests", step="approval")
    return requests.pop()


def args_hash(args: Mapping[str, Any]) -> str:
    """base64url(SHA-256(JCS(args))): how approvals name the arguments."""
    return canonical_hash(dict(args))
