"""The ``writ_approval`` claim: which calls need fresh human approvals (Writ extension).

A gate names tools, the approver keys, a threshold (m of n distinct approvers), how
old an approval may be, and an optional ``unless`` waiver: a constraint map that, when
every named argument is present and passes, waives the gate. The waiver is written as
"unless" rather than "when" so that an argument the condition cannot judge (a string
where a number was expected, a missing value) keeps the gate closed: fail-closed.

Gates attenuate: a child keeps every parent gate, possibly tightened (more tools,
fewer approvers, a higher threshold, a shorter max age, a narrower waiver), and may
add gates. A gate can never be dropped or loosened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from writ._constraints import Constraint, parse_constraint_map, subsumes
from writ._errors import MalformedError
from writ._keys import PublicKey

__all__ = ["ApprovalGate", "ApprovalPolicy"]

_MAX_GATES = 32
_MAX_APPROVERS = 32
DEFAULT_MAX_AGE = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalGate:
    """Calls to ``tools`` need ``threshold`` distinct approvals from ``approvers``."""

    tools: frozenset[str]
    approvers: tuple[PublicKey, ...]
    threshold: int
    max_age: int = DEFAULT_MAX_AGE
    unless: Mapping[str, Constraint] | None = None

    def __post_init__(self) -> None:
        if not self.tools:
            raise MalformedError("an approval gate names at least one tool")
        if not 0 < len(self.approvers) <= _MAX_APPROVERS:
            raise MalformedError("an approval gate has 1..32 approvers")
        if len(set(self.approvers)) != len(self.approvers):
            raise MalformedError("an approver is listed twice")
        if not 0 < self.threshold <= len(self.approvers):
            raise MalformedError("the threshold must be between 1 and the number of approvers")
        if not 0 < self.max_age <= 86_400:
            raise MalformedError("max_age is 1..86400 seconds")

    @classmethod
    def parse(cls, obj: object) -> ApprovalGate:
        """Parse one gate strictly."""
        if not isinstance(obj, dict) or not {"tools", "approvers", "threshold"} <= set(obj) \
                or not set(obj) <= {"tools", "approvers", "threshold", "max_age", "unless"}:
            raise MalformedError("a gate is {tools, approvers, threshold[, max_age, unless]}")
        tools, approvers = obj["tools"], obj["approvers"]
        if not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools):
            raise MalformedError("gate tools is an array of tool names")
        if not isinstance(approvers, list):
            raise MalformedError("gate approvers is an array of JWKs")
        threshold, max_age = obj["threshold"], obj.get("max_age", DEFAULT_MAX_AGE)
        if type(threshold) is not int or type(max_age) is not int:
            raise MalformedError("threshold and max_age are integers")
        unless = parse_constraint_map(obj["unless"]) if "unless" in obj else None
        return cls(tools=frozenset(tools), approvers=tuple(PublicKey.from_jwk(j) for j in approvers),
                   threshold=threshold, max_age=max_age, unless=unless)

    def to_json(self) -> dict[str, Any]:
        """The wire form."""
        out: dict[str, Any] = {"tools": sorted(self.tools),
                               "approvers": [a.jwk for a in self.approvers],
                               "threshold": self.threshold, "max_age": self.max_age}
        if self.unless is not None:
            out["unless"] = {a: c.to_json() for a, c in self.unless.items()}
        return out

    def applies(self, tool: str, args: Mapping[str, Any]) -> bool:
        """True when this call needs approval: the waiver must positively pass to skip it."""
        if tool not in self.tools:
            return False
        if self.unless is None:
            return True
        return not all(a in args and c.check(args[a]) for a, c in self.unless.items())

    def tightens(self, parent: ApprovalGate) -> bool:
        """True when this gate is at least as strict as ``parent`` on every axis."""
        return (self.tools >= parent.tools
                and set(self.approvers) <= set(parent.approvers)
                and self.threshold >= parent.threshold
                and self.max_age <= parent.max_age
                and _waiver_narrower(parent.unless, self.unless))


def _waiver_narrower(parent: Mapping[str, Constraint] | None,
                     child: Mapping[str, Constraint] | None) -> bool:
    if child is None:
        return True  # never waived: the strictest
    if parent is None:
        return False  # the parent is never waived; a child waiver would open a hole
    return all(a in child and subsumes(c, child[a]) for a, c in parent.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPolicy:
    """Every approval gate of one token."""

    gates: tuple[ApprovalGate, ...]

    @classmethod
    def none(cls) -> ApprovalPolicy:
        """No gates."""
        return cls(gates=())

    @classmethod
    def parse(cls, claim: object) -> ApprovalPolicy:
        """Parse the ``writ_approval`` claim strictly."""
        if not isinstance(claim, dict) or set(claim) != {"gates"} \
                or not isinstance(claim["gates"], list) or len(claim["gates"]) > _MAX_GATES:
            raise MalformedError("writ_approval is {gates: [...]}, at most 32 gates")
        return cls(gates=tuple(ApprovalGate.parse(g) for g in claim["gates"]))

    def to_json(self) -> dict[str, Any]:
        """The wire form."""
        return {"gates": [g.to_json() for g in self.gates]}

    def loosening(self, parent: ApprovalPolicy | None) -> str | None:
        """Why this policy drops or loosens one of ``parent``'s gates, or None."""
        for index, gate in enumerate(parent.gates if parent else ()):
            if not any(mine.tightens(gate) for mine in self.gates):
                return f"approval gate {index} of the parent is dropped or loosened"
        return None

    def gates_for(self, tool: str, args: Mapping[str, Any]) -> list[ApprovalGate]:
        """The gates this call must satisfy."""
        return [g for g in self.gates if g.applies(tool, args)]
