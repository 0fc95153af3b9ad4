"""The Writ proof on the MCP wire: one place that parses and produces every Writ member.

A guarded request carries ``params._meta["writ/proof"] = {"chain": [...], "pop": "...",
"approvals": [...]}`` (DESIGN §2, "Per-call proof, MCP and generic"). When a gateway
strips ``_meta``, the same object may travel in the reserved argument ``_writ``, which is
removed before the handler sees the arguments. A denial is a JSON-RPC error with code
``DENIED`` whose ``data`` is exactly ``{"code", "reason", "challenge", "decision_id"}``.

MCP requests map to the (tool, arguments) pair a writ grants:

* ``tools/call``      → the tool's name, its arguments;
* ``resources/read``  → ``"resources/read"``, ``{"uri": <uri>}``;
* ``prompts/get``     → ``"prompts/get:<name>"``, the prompt's arguments.

MCP tool names are ``[A-Za-z0-9._-]`` (SEP-986), so these two names cannot be a tool's;
a ``tools/call`` whose name starts with ``resources/`` or ``prompts/`` is refused so a
writ for resources can never be spent on a tool that happens to share the name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from writ._b64 import b64u_encode
from writ._decision import Decision
from writ._errors import MalformedError
from writ._json import canonical, loads_strict

__all__ = [
    "ARGUMENT_KEY",
    "DENIED",
    "GUARDED_METHODS",
    "PROMPT_PREFIX",
    "PROOF_KEY",
    "RECEIPT_KEY",
    "RESOURCE_TOOL",
        "Invocation",
    "ReservedName",
    "WireDenial",
    "WireProof",
    "denial_data",
    "invocation_for",
    "listing_chain",
    "prompt_tool",
    "receipt_json",
    "with_proof",
]

PROOF_KEY = "writ/proof"
"""The ``_meta`` key of the proof object (MCP ``_meta`` keys may carry a ``prefix/``)."""
RECEIPT_KEY = "writ/receipt"
"""The result ``_meta`` key of the decision's log receipt."""
ARGUMENT_KEY = "_writ"
"""The reserved argument that carries the proof object when ``_meta`` is stripped."""
DENIED = -32051
"""JSON-RPC error code of a Writ denial (implementation-defined server-error range)."""
RESOURCE_TOOL = "resources/read"
"""The tool name a ``resources/read`` is checked as; its one argument is ``uri``."""
PROMPT_PREFIX = "prompts/get:"
"""A ``prompts/get`` for prompt ``p`` is checked as tool ``prompts/get:p``."""
GUARDED_METHODS = frozenset({"tools/call", "resources/read", "prompts/get"})
"""The MCP methods that run nothing without a verified proof."""

_RESERVED = ("resources/", "prompts/")
_MAX_ENTRIES = 64  # a bound on list lengths before the verifier's byte limits apply


class ReservedName(MalformedError):
    """A ``tools/call`` names a tool inside Writ's resource/prompt namespace."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WireProof:
    """The ``writ/proof`` object: the chain root first, the PoP, and any approvals."""

    chain: tuple[str, ...]
    pop: str | None = None
    approvals: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The wire object; ``pop`` and ``approvals`` only when present."""
        out: dict[str, Any] = {"chain": list(self.chain)}
        if self.pop is not None:
            out["pop"] = self.pop
        if self.approvals:
            out["approvals"] = list(self.approvals)
        return out

    @classmethod
    def from_json(cls, obj: object) -> WireProof:
        """Parse strictly: unknown members, wrong types and empty strings are refused."""
        if isinstance(obj, str):
            obj = loads_strict(obj)  # the ``_writ`` argument of a prompt is JSON text
        if not isinstance(obj, dict) or not set(obj) <= {"chain", "pop", "approvals"}:
            raise MalformedError("writ/proof is an object {chain, pop[, approvals]}")
        pop = obj.get("pop")
        if pop is not None and (not isinstance(pop, str) or not pop):
            raise MalformedError("writ/proof pop is a compact JWS")
        return cls(chain=_strings(obj.get("chain"), "chain"), pop=pop,
                   approvals=_strings(obj.get("approvals", []), "approvals"))


def _strings(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > _MAX_ENTRIES \
            or not all(isinstance(v, str) and v for v in value):
        raise MalformedError(f"writ/proof {name} is an array of compact JWS strings")
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """A guarded request as the verifier sees it, and the params its handler will receive."""

    tool: str
    args: dict[str, Any]
    proof: WireProof | None
    params: dict[str, Any]


def prompt_tool(name: str) -> str:
    """The tool name a ``prompts/get`` of prompt ``name`` is checked as."""
    return PROMPT_PREFIX + name


def invocation_for(method: str, params: Mapping[str, Any] | None) -> Invocation:
    """Map a guarded request to (tool, args, proof); MalformedError if it cannot carry one."""
    params = dict(params or {})
    meta = params.get("_meta")
    meta_proof = meta.get(PROOF_KEY) if isinstance(meta, dict) else None
    if isinstance(meta, dict) and PROOF_KEY in meta:
        params["_meta"] = {k: v for k, v in meta.items() if k != PROOF_KEY}
    if method == "resources/read":
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise MalformedError("resources/read needs a uri")
        return Invocation(tool=RESOURCE_TOOL, args={"uri": uri}, params=params,
                          proof=_proof(meta_proof, None))
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedError(f"{method} needs a name")
    if method == "tools/call" and name.startswith(_RESERVED):
        raise ReservedName(f"tool name {name!r} is reserved for resources and prompts")
    arguments = params.get("arguments")
    arguments = {} if arguments is None else arguments
    if not isinstance(arguments, dict):
        raise MalformedError(f"{method} arguments is an object")
    arg_proof = arguments.get(ARGUMENT_KEY)
    if ARGUMENT_KEY in arguments:
        arguments = {k: v for k, v in arguments.items() if k != ARGUMENT_KEY}
        params["arguments"] = arguments
    tool = name if method == "tools/call" else prompt_tool(name)
    return Invocation(tool=tool, args=arguments, params=params,
                      proof=_proof(meta_proof, arg_proof))


def _proof(meta_proof: object, arg_proof: object) -> WireProof | None:
    if meta_proof is not None and arg_proof is not None:
        # Two proofs for one call would leave the choice to whoever stripped what.
        raise MalformedError("the proof is in both _meta and the _writ argument")
    found = meta_proof if meta_proof is not None else arg_proof
    return None if found is None else WireProof.from_json(found)


def listing_chain(params: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The chain a ``tools/list`` presents in ``_meta``, or None (a listing needs no PoP)."""
    meta = (params or {}).get("_meta")
    if not isinstance(meta, dict) or PROOF_KEY not in meta:
        return None
    try:
        return WireProof.from_json(meta[PROOF_KEY]).chain
    except MalformedError:
        return None


def with_proof(target: Mapping[str, Any] | None, proof: WireProof, *,
               in_arguments: bool = False, as_text: bool = False) -> dict[str, Any]:
    """A copy of ``_meta`` (or, with ``in_arguments``, of the arguments) carrying ``proof``."""
    out = dict(target or {})
    if in_arguments:
        value: Any = canonical(proof.to_json()).decode() if as_text else proof.to_json()
        out[ARGUMENT_KEY] = value
    else:
        out[PROOF_KEY] = proof.to_json()
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class WireDenial:
    """A Writ denial read back from a JSON-RPC error."""

    code: str
    reason: str
    challenge: Mapping[str, Any] | None
    decision_id: str | None

    @classmethod
    def from_error(cls, code: int, data: object) -> WireDenial | None:
        """The denial an error carries, or None when it is not a Writ denial."""
        if code != DENIED or not isinstance(data, dict):
            return None
        if not isinstance(data.get("code"), str) or not isinstance(data.get("reason"), str):
            return None
        challenge, decision_id = data.get("challenge"), data.get("decision_id")
        return cls(code=data["code"], reason=data["reason"],
                   challenge=challenge if isinstance(challenge, dict) else None,
                   decision_id=decision_id if isinstance(decision_id, str) else None)

    @property
    def nonce(self) -> str | None:
        """The receiver nonce the challenge offers, if any."""
        value = (self.challenge or {}).get("nonce")
        return value if isinstance(value, str) and value else None

    @property
    def approval_request(self) -> Mapping[str, Any] | None:
        """What an approver must sign, when the denial is ``approval_required``."""
        value = (self.challenge or {}).get("approval_request")
        return value if self.code == "approval_required" and isinstance(value, dict) else None


def denial_data(decision: Decision) -> dict[str, Any]:
    """The exact ``error.data`` of a denial: the public sentence only, never ``detail``."""
    return {"code": decision.code, "reason": decision.reason,
            "challenge": dict(decision.challenge) if decision.challenge else None,
            "decision_id": decision.decision_id}


def receipt_json(receipt: Any) -> Any:
    """A JSON form of whatever the decision log returned as the receipt."""
    to_json = getattr(receipt, "to_json", None)
    if callable(to_json):
        return to_json()
    if dataclasses.is_dataclass(receipt) and not isinstance(receipt, type):
        return {f.name: _plain(getattr(receipt, f.name)) for f in dataclasses.fields(receipt)}
    return _plain(receipt)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return b64u_encode(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return str(value)
