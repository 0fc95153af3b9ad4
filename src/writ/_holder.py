"""Holder proofs: how the leaf holder shows it asked for this exact call (AAT invariant I6).

Two kinds share one interface: the ``aat-pop+jwt`` of AAT §5 (MCP and generic calls)
and the RFC 9421 signature of an HTTP request (``writ.http``). The verifier treats
them alike: verify against the leaf, then use their id once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from writ._config import ReceiverConfig
from writ._decision import Denial
from writ._errors import MalformedError
from writ._jose import Jws
from writ._json import json_equal
from writ._nonce import NonceIssuer
from writ._pop import POP_TYP, PopClaims
from writ._token import Limits, Writ

__all__ = ["HolderProof", "PopProof"]


class HolderProof(Protocol):
    """A per-call proof of possession of the leaf key."""

    kind: str

    def verify(self, leaf: Writ, *, tool: str, args: Mapping[str, Any], now: float,
               config: ReceiverConfig, expected_nonce: str | None,
               nonces: NonceIssuer) -> None:
        """Raise ``Denial`` unless this proves the leaf holder asked for exactly this call."""

    @property
    def replay_id(self) -> str:
        """The id that must be used only once (PoP ``jti`` or the RFC 9421 nonce)."""

    @property
    def nonce(self) -> str | None:
        """The receiver-issued nonce this proof carries, if any."""

    def replay_until(self, limits: Limits) -> float:
        """Until when the replay id must be remembered."""

    def evidence(self) -> dict[str, Any]:
        """What the decision log keeps so an auditor can check the agent asked."""


class PopProof:
    """An ``aat-pop+jwt`` presented with a call."""

    kind = "aat-pop+jwt"

    def __init__(self, compact: str) -> None:
        self.compact = compact
        self.claims: PopClaims | None = None

    def verify(self, leaf: Writ, *, tool: str, args: Mapping[str, Any], now: float,
               config: ReceiverConfig, expected_nonce: str | None,
               nonces: NonceIssuer) -> None:
        """Draft §7 steps 7a–7h."""
        try:
            jws = Jws.parse(self.compact, typ=POP_TYP, max_size=config.limits.max_token_size)
        except MalformedError as exc:
            raise Denial("proof_invalid", f"PoP header: {exc}", step="7a") from None
        if not jws.verify(leaf.holder):
            raise Denial("proof_invalid", "the PoP is not signed by the leaf holder", step="7b")
        try:
            claims = self.claims = PopClaims.from_jws(jws)
        except MalformedError as exc:
            raise Denial("proof_invalid", f"PoP claims: {exc}", step="7b") from None
        if claims.aat_id != leaf.jti or claims.aat_hash != leaf.hash:
            raise Denial("proof_invalid", "the PoP names another leaf token", step="7c")
        _check_pop_audience(claims.aat_aud, config)
        if claims.aat_tool != tool:
            raise Denial("proof_invalid", "the PoP signs another tool", step="7e")
        if not json_equal(claims.hta, dict(args)):
            raise Denial("proof_invalid", "the PoP signs other arguments", step="7f")
        window = config.limits.pop_window
        if claims.iat < now - window:
            raise Denial("expired", "the PoP is older than the clock window", step="7g")
        if claims.iat > now + window:
            raise Denial("not_yet_valid", "the PoP is dated in the future", step="7g")
        check_nonce(claims.nonce, expected_nonce, config, nonces, now)

    @property
    def replay_id(self) -> str:
        """The PoP ``jti``."""
        assert self.claims is not None
        return self.claims.jti

    @property
    def nonce(self) -> str | None:
        """The PoP ``nonce`` claim."""
        return self.claims.nonce if self.claims else None

    def replay_until(self, limits: Limits) -> float:
        """A PoP is acceptable until iat + window; remember its jti that long plus skew."""
        assert self.claims is not None
        return float(self.claims.iat + limits.pop_window + limits.max_iat_skew)

    def evidence(self) -> dict[str, Any]:
        """The compact PoP itself: it is the agent's signature over the call."""
        return {"type": self.kind, "pop": self.compact}


def _check_pop_audience(aud: str | None, config: ReceiverConfig) -> None:
    if aud is None:
        if config.require_pop_audience:
            raise Denial("audience_mismatch", "the PoP names no audience", step="7d")
    elif not config.identifies_us(aud):
        raise Denial("audience_mismatch", "the PoP names another audience", step="7d")


def check_nonce(nonce: str | None, expected: str | None, config: ReceiverConfig,
                nonces: NonceIssuer, now: float) -> None:
    """Step 7h: the proof carries the nonce this receiver issued, when one is required."""
    if expected is not None:
        if nonce != expected:
            raise Denial("proof_invalid", "the proof lacks the nonce this receiver issued",
                         step="7h", extra={"challenge": True})
        return
    if config.require_nonce:
        if nonce is None:
            raise Denial("proof_invalid", "this receiver requires a nonce it issued", step="7h",
                         extra={"challenge": True})
        try:
            nonces.expires_at(nonce, now=now)
        except MalformedError as exc:
            raise Denial("proof_invalid", str(exc), step="7h", extra={"challenge": True}) from None
