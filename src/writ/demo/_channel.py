"""How the demo's agents reach the target: the in-process channel (a Verifier in front of
the simulated tools). The real-transport channels live beside it and share this shape."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from writ._pop import sign_pop
from writ._revocation import parse_revocation
from writ._verify import Verifier
from writ.demo._cast import Agent
from writ.demo._inventory import run_tool

__all__ = ["Channel", "InProcessChannel", "Outcome"]


@dataclass
class Outcome:
    """What an agent saw for one call."""

    allowed: bool
    code: str | None
    reason: str
    detail: str | None = None
    challenge: dict[str, Any] | None = None
    result: Any = None
    proof: Any = None  # what was sent: a PoP, an MCP proof object, or an HTTP request
    extra: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    """A way to call the target's tools as an agent."""

    def call(self, agent: Agent, tool: str, args: dict[str, Any], *,
             approvals: Sequence[str] = (), replay: str | None = None) -> Outcome:
        """Call ``tool``; with ``replay`` set, resend that earlier proof unchanged."""

    def revoke(self, statement: str) -> None:
        """Load a signed revocation statement into the target's receiver(s)."""


class InProcessChannel:
    """The receiver's verifier in this process, in front of the simulated tools."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.audience = verifier.config.audiences[0]

    def call(self, agent: Agent, tool: str, args: dict[str, Any], *,
             approvals: Sequence[str] = (), replay: str | None = None) -> Outcome:
        """Sign (or replay), verify, and run the tool only on allow."""
        pop = replay or sign_pop(key=agent.key, leaf=agent.chain[-1], tool=tool, args=args,
                                 now=int(time.time()), aud=self.audience)
        decision = self.verifier.check(chain=agent.chain, pop=pop, tool=tool, args=args,
                                       approvals=approvals)
        result = run_tool(tool, args) if decision.allowed else None
        return Outcome(allowed=decision.allowed, code=decision.code, reason=decision.reason,
                       detail=decision.detail, challenge=decision.challenge, result=result,
                       proof=pop)

    def revoke(self, statement: str) -> None:
        """Store the statement in the receiver's revocation store."""
        self.verifier.stores.revocations.add(parse_revocation(statement))
