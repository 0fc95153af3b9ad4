"""An approval-gated writ and a real approval request from a real verifier."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from factory import Cast, receiver, verifier
from writ import ApprovalGate, ApprovalPolicy, PrivateKey, Verifier

TOOLS = {
    "transfer": {
        "to": {"constraint_type": "glob", "pattern": "acct-*"},
        "amount": {"constraint_type": "wildcard"},
    },
    "echo": {},
}
ARGS = {"to": "acct-7", "amount": "250.00"}


@dataclass
class Gated:
    """A principal, an agent whose writ gates ``transfer`` behind m of n approvers, a verifier."""

    threshold: int = 1
    approvers: int = 1
    max_age: int = 300
    purpose: str | None = "Treasury run ENG-2026-114"
    now: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.cast = Cast(now=self.now)
        self.keys = [PrivateKey.generate() for _ in range(self.approvers)]
        self.policy = ApprovalPolicy(
            gates=(
                ApprovalGate(
                    tools=frozenset({"transfer"}),
                    approvers=tuple(k.public_key for k in self.keys),
                    threshold=self.threshold,
                    max_age=self.max_age,
                ),
            )
        )
        self.chain = self.cast.root(TOOLS, approval=self.policy, purpose=self.purpose)
        self.verifier: Verifier = verifier(receiver(self.cast.principal))

    @property
    def agent(self) -> PrivateKey:
        return self.cast.agents[0]

    def ask(
        self, args: dict[str, Any] = ARGS, approvals: Sequence[str] = (), *, now: int | None = None
    ) -> Any:
        """One MCP-style call to ``transfer`` at ``now``."""
        now = self.now if now is None else now
        return self.verifier.check(
            chain=self.chain,
            pop=self.cast.pop(self.chain, "transfer", args, now=now),
            tool="transfer",
            args=args,
            now=now,
            approvals=approvals,
        )

    def request(self, args: dict[str, Any] = ARGS, *, now: int | None = None) -> dict[str, Any]:
        """The approval request the verifier answers an unapproved call with."""
        denied = self.ask(args, now=now)
        assert denied.code == "approval_required", denied
        return dict(denied.challenge["approval_request"])
