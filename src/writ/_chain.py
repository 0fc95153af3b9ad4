"""Chain verification, AAT draft §7 steps 1–6, with a cache of what time cannot change.

``ChainVerifier.verify`` returns a ``VerifiedChain`` or raises ``Denial`` carrying the
draft's step label. Signatures, links (I1, I2, I4, I5), structure and the trust-anchor
ceiling are checked once per distinct chain and cached, keyed by the exact compact
tokens (signatures included, so a cache hit can never stand in for a signature
check). Expiry and issue times are checked on every call; revocation and budgets
are the caller's, on every call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from writ._approval import ApprovalPolicy
from writ._attenuation import capability_violation
from writ._b64 import b64u_decode
from writ._config import ReceiverConfig, TrustAnchor
from writ._constraints import Constraint
from writ._decision import ChainSummary, Denial
from writ._errors import MalformedError
from writ._jose import Jws
from writ._json import loads_strict
from writ._token import AAT_TYP, Writ

__all__ = ["ChainVerifier", "VerifiedChain"]


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedChain:
    """A chain whose time-independent checks all passed."""

    writs: tuple[Writ, ...]
    anchor: TrustAnchor
    summary: ChainSummary
    min_exp: int
    max_iat: int
    scopes: dict[str, tuple[Mapping[str, Constraint], ...]] = field(default_factory=dict)
    """Per tool, the non-empty constraint maps to check, leaf first: filled lazily."""

    @property
    def leaf(self) -> Writ:
        """The token whose holder must prove possession."""
        return self.writs[-1]


class ChainVerifier:
    """Verifies presented chains against one receiver configuration."""

    def __init__(self, config: ReceiverConfig, *, cache_size: int = 4096,
                 on_new_chain: Callable[[VerifiedChain], None] | None = None) -> None:
        self.config = config
        self._cache: dict[tuple[str, ...], VerifiedChain] = {}
        self._cache_size = cache_size
        self._on_new_chain = on_new_chain  # e.g. the console's chain archive; cache misses only

    def verify(self, chain: Sequence[str], *, now: float) -> VerifiedChain:
        """Steps 1–5 (cached) and the per-call time checks of steps 3 and 4."""
        key = tuple(chain)
        verified = self._cache.get(key)
        if verified is None:
            verified = self._verify_uncached(key)
            if self._on_new_chain is not None:
                with contextlib.suppress(Exception):  # an archive must never change a decision
                    self._on_new_chain(verified)
            if self._cache_size > 0:
                if len(self._cache) >= self._cache_size:
                    del self._cache[next(iter(self._cache))]  # bounded: evict the oldest entry
                self._cache[key] = verified
        if verified.min_exp <= now or verified.max_iat > now + self.config.limits.max_iat_skew:
            _time_denial(verified.writs, now, self.config.limits.max_iat_skew)
        return verified

    def _verify_uncached(self, chain: tuple[str, ...]) -> VerifiedChain:
        limits = self.config.limits
        if not chain:
            raise Denial("proof_missing", "the chain is empty", step="1")
        if any(not isinstance(t, str) or len(t) > limits.max_token_size for t in chain):
            raise Denial("too_large", "a token exceeds MAX_TOKEN_SIZE", step="2a")
        if sum(len(t) for t in chain) > limits.max_chain_size:
            raise Denial("too_large", "the chain exceeds MAX_STACK_SIZE", step="2b")
        payloads = [_untrusted_payload(t) for t in chain]
        _distinct_jtis(payloads)
        root, anchor = self._root(chain[0], payloads[0])
        writs = [root]
        for compact, payload in zip(chain[1:], payloads[1:]):
            writs.append(self._child(writs[-1], compact, payload))
        if len(writs) != writs[-1].del_depth + 1:
            raise Denial("chain_invalid", "chain length does not match the leaf depth", step="5")
        return VerifiedChain(writs=tuple(writs), anchor=anchor, summary=_summary(writs),
                             min_exp=min(w.exp for w in writs), max_iat=max(w.iat for w in writs))

    def _root(self, compact: str, payload: dict[str, Any]) -> tuple[Writ, TrustAnchor]:
        jws = _parse(compact, step="3a")
        iss = payload.get("iss")
        anchors = self.config.anchors_for(iss) if isinstance(iss, str) else []
        if not anchors:
            raise Denial("untrusted_root", "the root issuer is not enrolled here", step="3k")
        anchor = next((a for a in anchors if jws.verify(a.key)), None)
        if anchor is None:
            raise Denial("proof_invalid", "the root signature does not verify", step="3b")
        root = _claims(jws, payload, root=True, config=self.config)
        if root.iss != anchor.iss:
            raise Denial("untrusted_root", "root iss does not name the anchor", step="3k")
        if anchor.ceiling is not None:
            violation = capability_violation(anchor.ceiling, root.tools or {})
            if violation is not None:
                raise Denial("ceiling_exceeded", f"ceiling: {violation[1]}", step="ceiling")
        return root, anchor

    def _child(self, parent: Writ, compact: str, payload: dict[str, Any]) -> Writ:
        jws = _parse(compact, step="4a")
        if not jws.verify(parent.holder):
            raise Denial("proof_invalid", "a derived token is not signed by its parent's holder",
                         step="4b")
        child = _claims(jws, payload, root=False, config=self.config)
        _link(parent, child, self.config.limits.max_delegation_depth)
        return child


def _parse(compact: str, *, step: str) -> Jws:
    try:
        return Jws.parse(compact, typ=AAT_TYP, max_size=1 << 20)
    except MalformedError as exc:
        raise Denial("proof_invalid", f"token header: {exc}", step=step) from None


def _claims(jws: Jws, payload: dict[str, Any], *, root: bool, config: ReceiverConfig) -> Writ:
    """Claims from the payload decoded at step 2c, used only now that the signature verified."""
    try:
        return Writ.from_jws(jws, root=root, limits=config.limits, claims=payload)
    except MalformedError as exc:
        step = exc.step or ("3b" if root else "4b")
        code = "chain_invalid" if step in _INVARIANT_STEPS else "proof_invalid"
        raise Denial(code, f"token claims: {exc}", step=step) from None


# Steps that are attenuation invariants rather than format errors.
_INVARIANT_STEPS = frozenset({"3c", "3d", "3g", "3h", "4l"})


def _untrusted_payload(compact: str) -> dict[str, Any]:
    """Decode a payload before its signature is checked (draft §7 step 2c's allowance): only
    ``jti`` (and the root's ``iss``, to pick its anchor) are read until the signature holds."""
    try:
        claims = loads_strict(b64u_decode(compact.split(".")[1]))
    except (MalformedError, IndexError):
        raise Denial("proof_invalid", "a token payload is not valid JSON", step="2c") from None
    if not isinstance(claims, dict):
        raise Denial("proof_invalid", "a token payload is not a JSON object", step="2c")
    return claims


def claimed_root(chain: Sequence[str]) -> dict[str, str] | None:
    """What an unverified root says of itself (issuer, purpose), for the record of a denial.

    Never trusted: a self-issued root can claim anything. It is logged, marked as a claim,
    so an auditor sees the story an agent told when it was refused.
    """
    if not isinstance(chain, (list, tuple)) or not chain or not isinstance(chain[0], str):
        return None
    try:
        claims = _untrusted_payload(chain[0])
    except Denial:
        return None
    return {k: v[:256] for k in ("iss", "writ_purpose")
            if isinstance(v := claims.get(k), str)} or None


def _distinct_jtis(payloads: Sequence[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for payload in payloads:
        jti = payload.get("jti")
        if not isinstance(jti, str):
            raise Denial("proof_invalid", "a token has no string jti", step="2c")
        if jti in seen:
            raise Denial("chain_invalid", "the same token appears twice in the chain", step="2c")
        seen.add(jti)


def _link(parent: Writ, child: Writ, max_depth: int) -> None:
    """Steps 4c–4q for one adjacent pair, plus Writ's extension claims."""
    checks: list[tuple[bool, str, str]] = [
        (child.iss == parent.holder.thumbprint_uri, "4c", "iss is not the parent holder (I1)"),
        (child.del_depth == parent.del_depth + 1, "4d", "del_depth skips a level (I2)"),
        (child.del_depth <= parent.del_max_depth, "4e", "derived from a terminal token (I2)"),
        (child.del_depth <= max_depth, "4f", "deeper than MAX_DELEGATION_DEPTH (I2)"),
        (child.del_max_depth <= parent.del_max_depth, "4g", "del_max_depth raised (I2)"),
        (child.exp <= parent.exp, "4h", "outlives its parent (I3)"),
        (child.iat >= parent.iat, "4j", "issued before its parent (I3)"),
        (child.del_depth <= child.del_max_depth, "4m", "del_depth above del_max_depth (I2)"),
    ]
    for ok, step, reason in checks:
        if not ok:
            raise Denial("chain_invalid", reason, step=step)
    violation = capability_violation(parent.tools or {}, child.tools or {})
    if violation is not None:
        raise Denial("chain_invalid", f"{violation[1]} (I4)", step=violation[0])
    if child.par_hash != parent.hash:
        raise Denial("chain_invalid", "par_hash does not bind the parent (I5)", step="4q")
    _extensions(parent, child)


def _extensions(parent: Writ, child: Writ) -> None:
    if child.budget is not None or parent.budget is not None:
        why = child.budget.widening(parent.budget) if child.budget else (
            "the child drops the parent's budget")
        if why is not None:
            raise Denial("chain_invalid", f"writ_budget: {why}", step="writ-budget")
    if parent.approval is not None:
        why = (child.approval or ApprovalPolicy.none()).loosening(parent.approval)
        if why is not None:
            raise Denial("chain_invalid", f"writ_approval: {why}", step="writ-approval")
    if child.purpose != parent.purpose:
        raise Denial("chain_invalid", "writ_purpose changed below the root", step="writ-purpose")


def _time_denial(writs: Sequence[Writ], now: float, skew: int) -> None:
    for index, writ in enumerate(writs):
        s = "3" if index == 0 else "4"
        if writ.exp <= now:
            raise Denial("expired", f"token {index} expired", step=f"{s}{'e' if index == 0 else 'i'}")
        if writ.iat > now + skew:
            raise Denial("not_yet_valid", f"token {index} is issued in the future",
                         step=f"{s}{'f' if index == 0 else 'k'}")


def _summary(writs: Sequence[Writ]) -> ChainSummary:
    return ChainSummary(principal=writs[0].iss, purpose=writs[0].purpose,
                        holders=tuple(w.holder.thumbprint_uri for w in writs),
                        tokens=tuple(w.jti for w in writs),
                        token_hashes=tuple(w.hash for w in writs))


def check_scope(verified: VerifiedChain, tool: str, args: Mapping[str, Any]) -> None:
    """Step 6a/6b on the leaf, then on every ancestor (defence in depth; DESIGN §3 step 5)."""
    maps = verified.scopes.get(tool)
    if maps is None:
        maps = verified.scopes[tool] = _scope_maps(verified.writs, tool)
    for constraints in maps:
        for name in args:
            if name not in constraints:
                raise Denial("argument_violation", f"argument {name!r} is not granted (closed world)",
                             step="6b")
        for name, constraint in constraints.items():
            if name not in args:
                raise Denial("argument_violation", f"argument {name!r} is required", step="6b")
            if not constraint.check(args[name]):
                raise Denial("argument_violation", f"argument {name!r} is outside the grant",
                             step="6b")


def _scope_maps(writs: Sequence[Writ], tool: str) -> tuple[Mapping[str, Constraint], ...]:
    """The constraint maps a call to ``tool`` must pass, or Denial when a token lacks it."""
    if writs[-1].tools is None:
        raise Denial("tool_not_granted", "the leaf carries no capability entry", step="6a")
    maps = []
    for writ in reversed(writs):
        tools = writ.tools or {}
        if tool not in tools:
            raise Denial("tool_not_granted", f"tool {tool!r} is not granted", step="6b")
        if tools[tool]:  # an empty map is open world: any arguments
            maps.append(tools[tool])
    return tuple(maps)
