"""Writs: Attenuating Agent Tokens (draft-niyikiza-oauth-attenuating-agent-tokens-02) as JWS.

``Writ.from_jws`` turns a signature-verified JWS into claims, checking every
time-independent rule of draft §7 steps 3 and 4b/4n/4o. ``grant`` mints a root
token; ``delegate`` mints a derived one and refuses, with a ``MintError`` naming
the axis, anything the verifier would refuse as widening.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from writ._approval import ApprovalPolicy
from writ._attenuation import ToolMap, capability_violation, parse_tools
from writ._budget import Budget
from writ._errors import MalformedError, MintError
from writ._jose import Jws, sign_compact
from writ._keys import PrivateKey, PublicKey

__all__ = ["AAT_TYP", "AAT_TYPE", "Limits", "Writ", "delegate", "grant", "new_id"]

AAT_TYP = "aat+jwt"
AAT_TYPE = "attenuating_agent_token"
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")
_MAX_JTI = 256
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_MAX_PURPOSE = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Implementation limits of draft §4.3, §4.4 and Appendix B.8 (recommended values)."""

    max_iat_skew: int = 30
    max_token_lifetime: int = 7_776_000
    max_delegation_depth: int = 8
    pop_window: int = 30
    max_token_size: int = 65_536
    max_chain_size: int = 262_144


@dataclass(frozen=True, slots=True, kw_only=True)
class Writ:
    """The verified claims of one token in a chain."""

    jws: Jws
    jti: str
    iss: str
    iat: int
    exp: int
    holder: PublicKey
    del_depth: int
    del_max_depth: int
    par_hash: str | None
    aud: tuple[str, ...] | None
    tools: ToolMap | None  # None: no attenuating_agent_token entry (the empty capability set)
    budget: Budget | None
    purpose: str | None
    approval: ApprovalPolicy | None
    payload: Mapping[str, Any]
    hash: str
    """base64url(SHA-256(signing input)): the ``par_hash`` a child carries, the PoP's ``aat_hash``."""

    @property
    def compact(self) -> str:
        """The compact JWS."""
        return self.jws.compact

    @classmethod
    def parse_unverified(cls, compact: str, *, root: bool, limits: Limits = Limits()) -> Writ:
        """Read a token WITHOUT checking its signature: for a holder reading its own chain."""
        return cls.from_jws(Jws.parse(compact, typ=AAT_TYP, max_size=limits.max_token_size),
                            root=root, limits=limits)

    @classmethod
    def from_jws(cls, jws: Jws, *, root: bool, limits: Limits, claims: Any = None) -> Writ:
        """Parse the claims of a signature-verified token; MalformedError carries the step.

        ``claims`` is the payload already decoded (by step 2c) from this very JWS.
        """
        s = "3" if root else "4"
        claims = jws.payload() if claims is None else claims
        if not isinstance(claims, dict):
            raise MalformedError("the payload is not a JSON object", step=f"{s}b")
        depth, max_depth = _depths(claims, root, limits)
        iat, exp = _times(claims, root, limits)
        return cls(
            jws=jws,
            jti=_jti(claims, root),
            iss=_iss(claims, root),
            iat=iat,
            exp=exp,
            holder=_holder(claims, root),
            del_depth=depth,
            del_max_depth=max_depth,
            par_hash=_par_hash(claims, root),
            aud=_aud(claims, s),
            tools=_tools(claims, root),
            budget=Budget.parse(claims["writ_budget"]) if "writ_budget" in claims else None,
            purpose=_purpose(claims),
            approval=ApprovalPolicy.parse(claims["writ_approval"])
            if "writ_approval" in claims else None,
            payload=MappingProxyType(claims),
            hash=jws.signing_input_hash,
        )


def _int(value: object) -> bool:
    return type(value) is int and value >= 0


def _depths(claims: dict[str, Any], root: bool, limits: Limits) -> tuple[int, int]:
    depth, max_depth = claims.get("del_depth"), claims.get("del_max_depth")
    if root:
        if depth != 0 or type(depth) is not int:
            raise MalformedError("a root token has del_depth 0", step="3c")
        if "par_hash" in claims:
            raise MalformedError("a root token carries no par_hash", step="3d")
        if not _int(max_depth) or max_depth > limits.max_delegation_depth:  # type: ignore[operator]
            raise MalformedError("del_max_depth is missing or too large", step="3i")
    elif not (_int(depth) and _int(max_depth)):
        raise MalformedError("del_depth and del_max_depth are non-negative integers", step="4b4")
    return depth, max_depth  # type: ignore[return-value]


def _times(claims: dict[str, Any], root: bool, limits: Limits) -> tuple[int, int]:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not (_int(iat) and _int(exp)):
        raise MalformedError("iat and exp are integer NumericDates", step="3g" if root else "4b5")
    assert isinstance(iat, int) and isinstance(exp, int)
    if exp <= iat:
        raise MalformedError("exp is not after iat", step="3g" if root else "4l")
    if root and exp > iat + limits.max_token_lifetime:
        raise MalformedError("the token lives longer than allowed", step="3h")
    return iat, exp


def _jti(claims: dict[str, Any], root: bool) -> str:
    jti = claims.get("jti")
    # Printable ASCII only: a jti keys the budget, replay and revocation stores.
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI or not _PRINTABLE.fullmatch(jti):
        raise MalformedError("jti is a non-empty string", step="3j" if root else "4b1")
    return jti


def _iss(claims: dict[str, Any], root: bool) -> str:
    iss = claims.get("iss")
    if not isinstance(iss, str) or _URI.fullmatch(iss) is None:
        raise MalformedError("iss is a URI", step="3k" if root else "4b5")
    return iss


def _holder(claims: dict[str, Any], root: bool) -> PublicKey:
    step = "3l" if root else "4b2"
    cnf = claims.get("cnf")
    if not isinstance(cnf, dict) or "jwk" not in cnf:
        raise MalformedError("cnf.jwk is required", step=step)
    try:
        return PublicKey.from_jwk(cnf["jwk"])
    except MalformedError as exc:
        raise MalformedError(f"cnf.jwk: {exc}", step=step) from None


def _par_hash(claims: dict[str, Any], root: bool) -> str | None:
    if root:
        return None
    par_hash = claims.get("par_hash")
    if not isinstance(par_hash, str):
        raise MalformedError("a derived token carries par_hash", step="4b5")
    return par_hash


def _aud(claims: dict[str, Any], s: str) -> tuple[str, ...] | None:
    if "aud" not in claims:
        return None
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise MalformedError("aud is a string or a non-empty array of strings", step=f"{s}b")
    return tuple(values)


def _tools(claims: dict[str, Any], root: bool) -> ToolMap | None:
    details = claims.get("authorization_details")
    if not isinstance(details, list):
        raise MalformedError("authorization_details is an array", step="3m" if root else "4b3")
    entries = [d for d in details if isinstance(d, dict) and d.get("type") == AAT_TYPE]
    if len(entries) > 1 or (root and len(entries) != 1):
        raise MalformedError("exactly one attenuating_agent_token entry", step="3m" if root else "4n")
    if not entries:
        return None
    try:
        return parse_tools(entries[0].get("tools"))
    except MalformedError as exc:
        raise MalformedError(str(exc), step="3n" if root else "4o") from None


def _purpose(claims: dict[str, Any]) -> str | None:
    purpose = claims.get("writ_purpose")
    if purpose is not None and (not isinstance(purpose, str) or len(purpose) > _MAX_PURPOSE):
        raise MalformedError("writ_purpose is a string of at most 1024 characters")
    return purpose


def new_id() -> str:
    """A fresh lower-case hyphenated UUIDv7 (RFC 9562 §5.7), as AAT recommends for jti."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = ((time.time_ns() // 1_000_000) << 80) | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _details(tools: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": AAT_TYPE, "tools": {t: dict(c) for t, c in tools.items()}}]


def grant(
    *,
    key: PrivateKey,
    iss: str,
    holder: PublicKey,
    tools: Mapping[str, Mapping[str, Any]],
    now: int,
    ttl: int,
    max_depth: int = 3,
    aud: Sequence[str] | None = None,
    budget: Budget | None = None,
    purpose: str | None = None,
    approval: ApprovalPolicy | None = None,
    limits: Limits = Limits(),
) -> str:
    """Mint a root writ signed by the principal's ``key`` for ``holder``."""
    if _URI.fullmatch(iss) is None:
        raise MintError("issuer", "iss must be a URI")
    if not 0 < ttl <= limits.max_token_lifetime:
        raise MintError("expiry", f"ttl must be between 1 s and {limits.max_token_lifetime} s")
    if not 0 <= max_depth <= limits.max_delegation_depth:
        raise MintError("depth", f"max depth must be 0..{limits.max_delegation_depth}")
    _check_tools(tools)
    payload: dict[str, Any] = {
        "jti": new_id(), "iss": iss, "iat": now, "exp": now + ttl, "del_depth": 0,
        "del_max_depth": max_depth, "cnf": {"jwk": holder.jwk},
        "authorization_details": _details(tools),
    }
    _extensions(payload, aud=aud, budget=budget, purpose=purpose, approval=approval)
    return sign_compact(payload, typ=AAT_TYP, key=key)


def delegate(
    parent: Writ,
    *,
    key: PrivateKey,
    holder: PublicKey,
    tools: Mapping[str, Mapping[str, Any]],
    now: int,
    ttl: int | None = None,
    max_depth: int | None = None,
    aud: Sequence[str] | None = None,
    budget: Budget | None = None,
    approval: ApprovalPolicy | None = None,
) -> str:
    """Mint a child of ``parent`` signed by its holder; MintError names what would widen."""
    if key.public_key != parent.holder:
        raise MintError("holder", "only the parent's holder can delegate it")
    depth = parent.del_depth + 1
    max_depth = parent.del_max_depth if max_depth is None else max_depth
    if depth > parent.del_max_depth:
        raise MintError("depth", "the parent is terminal (del_depth == del_max_depth)")
    if not depth <= max_depth <= parent.del_max_depth:
        raise MintError("depth", f"max depth must be {depth}..{parent.del_max_depth}")
    iat = max(now, parent.iat)
    exp = parent.exp if ttl is None else iat + ttl
    if exp > parent.exp:
        raise MintError("expiry", "the child would outlive its parent")
    if exp <= iat:
        raise MintError("expiry", "the parent has expired or ttl is not positive")
    child_tools = _check_tools(tools)
    violation = capability_violation(parent.tools or {}, child_tools)
    if violation is not None:
        step, reason = violation
        raise MintError("tool" if step == "4p1" else "argument", reason)
    budget = parent.budget if budget is None else budget
    if budget is not None and (why := budget.widening(parent.budget)) is not None:
        raise MintError("budget", why)
    approval = parent.approval if approval is None else approval
    if approval is not None or parent.approval is not None:
        why = (approval or ApprovalPolicy.none()).loosening(parent.approval)
        if why is not None:
            raise MintError("approval", why)
    aud = list(parent.aud) if aud is None and parent.aud else aud
    if parent.aud and aud and not set(aud) <= set(parent.aud):
        raise MintError("audience", "the child names an audience its parent does not")
    payload: dict[str, Any] = {
        "jti": new_id(), "iss": key.public_key.thumbprint_uri, "iat": iat, "exp": exp,
        "del_depth": depth, "del_max_depth": max_depth, "par_hash": parent.hash,
        "cnf": {"jwk": holder.jwk}, "authorization_details": _details(tools),
    }
    _extensions(payload, aud=aud, budget=budget, purpose=parent.purpose, approval=approval)
    return sign_compact(payload, typ=AAT_TYP, key=key)


def _check_tools(tools: Mapping[str, Mapping[str, Any]]) -> ToolMap:
    try:
        return parse_tools(tools)
    except MalformedError as exc:
        raise MintError("argument", str(exc)) from None


def _extensions(
    payload: dict[str, Any],
    *,
    aud: Sequence[str] | None,
    budget: Budget | None,
    purpose: str | None,
    approval: ApprovalPolicy | None,
) -> None:
    if aud:
        payload["aud"] = aud[0] if len(aud) == 1 else list(aud)
    if budget is not None and not budget.empty:
        payload["writ_budget"] = budget.to_json()
    if purpose is not None:
        if len(purpose) > _MAX_PURPOSE:
            raise MintError("purpose", "writ_purpose is at most 1024 characters")
        payload["writ_purpose"] = purpose
    if approval is not None and approval.gates:
        payload["writ_approval"] = approval.to_json()
