"""Decisions: what the verifier returns, and the stable denial codes (docs/decision-codes.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CODES", "ChainSummary", "Decision", "Denial"]

# code -> (HTTP status, public sentence). The sentence is what goes on the wire; the
# precise reason (which invariant, which byte) goes to the decision log only.
CODES: dict[str, tuple[int, str]] = {
    "proof_missing": (401, "The request carries no Writ proof."),
    "proof_invalid": (401, "The Writ proof could not be verified."),
    "untrusted_root": (403, "The writ's root issuer is not enrolled at this receiver."),
    "ceiling_exceeded": (403, "The writ grants more than this receiver allows its issuer."),
    "chain_invalid": (403, "The delegation chain breaks an attenuation rule."),
    "expired": (401, "The writ or proof has expired."),
    "not_yet_valid": (401, "The writ or proof is not valid yet."),
    "audience_mismatch": (403, "The writ or proof was issued for another receiver."),
    "tool_not_granted": (403, "The writ does not grant this operation."),
    "argument_violation": (403, "The arguments are outside what the writ grants."),
    "replayed": (401, "This proof was already used."),
    "revoked": (403, "A writ in the chain has been revoked."),
    "budget_exhausted": (403, "The writ's budget is exhausted."),
    "rate_limited": (429, "The writ's rate limit is reached."),
    "approval_required": (403, "This operation needs a human approval."),
    "approval_invalid": (403, "The approval does not match this operation."),
    "too_large": (413, "The proof or request is too large."),
    "state_unavailable": (503, "The receiver cannot reach its state; nothing was executed."),
}


class Denial(Exception):
    """Internal control flow: a verification step refused. Never escapes ``Verifier``."""

    def __init__(self, code: str, detail: str, *, step: str | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        assert code in CODES, code
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.step = step
        self.extra = extra or {}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainSummary:
    """Who delegated what to whom: enough to show and to log a decision."""

    principal: str
    purpose: str | None
    holders: tuple[str, ...]
    tokens: tuple[str, ...]
    token_hashes: tuple[str, ...]

    @property
    def agent(self) -> str:
        """The thumbprint URI of the leaf holder: the agent that asked."""
        return self.holders[-1]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"principal": self.principal, "purpose": self.purpose, "agent": self.agent,
                "holders": list(self.holders), "tokens": list(self.tokens),
                "token_hashes": list(self.token_hashes)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Allow or deny, with a stable code, a human reason and what it was based on."""

    allowed: bool
    code: str | None
    reason: str
    step: str | None = None
    detail: str | None = None
    decision_id: str | None = None
    chain: ChainSummary | None = None
    tool: str | None = None
    charged: dict[str, Any] = field(default_factory=dict)
    challenge: dict[str, Any] | None = None
    receipt: Any = None

    @property
    def status(self) -> int:
        """The HTTP status a transport should answer with."""
        return 200 if self.allowed else CODES[self.code or "proof_invalid"][0]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form for the CLI and logs (includes ``detail``)."""
        out: dict[str, Any] = {"allowed": self.allowed, "code": self.code, "reason": self.reason,
                               "step": self.step, "detail": self.detail,
                               "decision_id": self.decision_id, "tool": self.tool,
                               "chain": self.chain.to_json() if self.chain else None}
        if self.charged:
            out["charged"] = self.charged
        if self.challenge:
            out["challenge"] = self.challenge
        if self.receipt is not None:
            to_json = getattr(self.receipt, "to_json", None)
            out["receipt"] = to_json() if callable(to_json) else self.receipt
        return out
