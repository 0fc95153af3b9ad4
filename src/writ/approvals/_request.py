"""An approval request as an approver sees it: parsed strictly, checked, and described.

The request reaches the approver through the agent, which is not trusted to describe
its own call honestly. So before anything is shown or signed:

* the displayed arguments must hash to the binding's ``args_hash`` (the approval signs
  the hash; showing other arguments than the hashed ones would make the human approve
  something else than what they read);
* the one-line summary is rebuilt here from the bound fields (tool, arguments,
  audience, agent) instead of taken from the request's free-text ``summary``;
* the chain's principal and purpose are shown as *reported*: the approval does not bind
  them, and the receiver checks the approver against the real chain's gates.

A request can be given as the object itself, an HTTP problem body holding it under
``approval_request``, or an MCP error (``data.challenge.approval_request``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from writ._approval_request import Binding, args_hash
from writ._b64 import b64u_encode
from writ._errors import MalformedError
from writ._json import canonical
from writ._keys import PrivateKey

__all__ = ["ApprovalRequest", "find_request"]

_BINDING = ("tool", "args_hash", "aud", "agent", "request")


def find_request(obj: object) -> Mapping[str, Any]:
    """The approval request inside a request object, a problem body or an MCP error."""
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict):
        obj = obj["error"].get("data")  # a whole JSON-RPC error response
    if isinstance(obj, dict) and isinstance(obj.get("challenge"), dict):
        obj = obj["challenge"]  # an MCP error's data
    if isinstance(obj, dict) and isinstance(obj.get("approval_request"), dict):
        obj = obj["approval_request"]  # an RFC 9457 problem body
    if not isinstance(obj, dict) or obj.get("type") != "writ-approval-request":
        raise MalformedError("no writ approval request found")
    return obj


def _string(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedError(f"the request's {name} is missing")
    return value


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if type(value) is not int or value <= 0:
        raise MalformedError(f"the request's {name} is not a positive integer")
    return value


def _gates(gates: object) -> tuple[frozenset[str], tuple[tuple[int, int], ...]]:
    """Every approver the gates name, and each gate's (threshold, number of approvers)."""
    if not isinstance(gates, list) or not gates:
        raise MalformedError("the request names no gates")
    names: set[str] = set()
    needs = []
    for gate in gates:
        if not isinstance(gate, dict) or not isinstance(gate.get("approvers"), list):
            raise MalformedError("a gate lists its approvers")
        names.update(a for a in gate["approvers"] if isinstance(a, str))
        threshold = gate.get("threshold")
        needs.append((threshold if type(threshold) is int else 1, len(gate["approvers"])))
    return frozenset(names), tuple(needs)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequest:
    """A checked approval request: what the approver is shown and signs over."""

    raw: Mapping[str, Any]
    binding: Binding
    args: Mapping[str, Any]
    expires: int
    max_age: int
    principal: str | None
    purpose: str | None
    approvers: frozenset[str]
    needs: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, obj: object) -> ApprovalRequest:
        """Find and check a request; ``MalformedError`` when it is not one or does not add up."""
        raw = find_request(obj)
        binding_obj = raw.get("binding")
        if not isinstance(binding_obj, dict):
            raise MalformedError("the request has no binding")
        binding = Binding(**{k: _string(binding_obj, k) for k in _BINDING})
        args = raw.get("args")
        if not isinstance(args, dict):
            raise MalformedError("the request's args are not an object")
        if args_hash(args) != binding.args_hash:
            raise MalformedError("the arguments shown are not the arguments bound (args_hash)")
        chain = raw.get("chain") if isinstance(raw.get("chain"), dict) else {}
        assert isinstance(chain, dict)
        principal, purpose = chain.get("principal"), chain.get("purpose")
        approvers, needs = _gates(raw.get("gates"))
        return cls(raw=raw, binding=binding, args=args, expires=_int(raw, "expires"),
                   max_age=_int(raw, "max_age"),
                   principal=principal if isinstance(principal, str) else None,
                   purpose=purpose if isinstance(purpose, str) else None,
                   approvers=approvers, needs=needs)

    @property
    def id(self) -> str:
        """A short stable name: the same request posted twice is the same entry."""
        digest = hashlib.sha256(canonical(self.binding.to_json())).digest()
        return b64u_encode(digest)[:22]

    def summary(self) -> str:
        """One line, built only from what the approval binds."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return (f"Agent …{self.binding.agent[-12:]} asks to run {self.binding.tool}({shown}) "
                f"at {self.binding.aud}")

    def expired(self, now: float) -> bool:
        """True once the request can no longer be approved."""
        return now >= self.expires

    def may_sign(self, key: PrivateKey) -> bool:
        """True when ``key`` is one of the approvers the request's gates name."""
        return key.public_key.thumbprint_uri in self.approvers

    def view(self, *, now: float, approver: PrivateKey | None = None) -> dict[str, Any]:
        """What the CLI prints with --json and the web page shows."""
        return {
            "id": self.id,
            "summary": self.summary(),
            "tool": self.binding.tool,
            "args": dict(self.args),
            "audience": self.binding.aud,
            "chain": {"principal": self.principal, "purpose": self.purpose,
                      "agent": self.binding.agent},
            "expires": self.expires,
            "expires_at": _iso(self.expires),
            "expired": self.expired(now),
            "may_sign": approver is not None and self.may_sign(approver),
            "needs": "; ".join(f"{m} of {n} approvers" for m, n in self.needs),
        }


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
