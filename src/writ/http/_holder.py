"""The RFC 9421 signature as the holder proof of one HTTP request (DESIGN §2).

There is one signature verification per request: the HTTP signature is the PoP.
Its nonce plays the PoP ``jti``'s part for replay protection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from writ._b64 import b64u_encode
from writ._config import ReceiverConfig
from writ._decision import Denial
from writ._holder import check_nonce
from writ._nonce import NonceIssuer
from writ._token import Limits, Writ
from writ.http._signature import HttpProof, verify_http_proof

__all__ = ["HttpHolderProof"]


class HttpHolderProof:
    """A parsed Writ HTTP signature, checked against the leaf of the verified chain."""

    kind = "rfc9421"

    def __init__(self, proof: HttpProof) -> None:
        self.proof = proof

    def verify(self, leaf: Writ, *, tool: str, args: Mapping[str, Any], now: float,
               config: ReceiverConfig, expected_nonce: str | None,
               nonces: NonceIssuer) -> None:
        """keyid and signature by the leaf holder, audience by origin, time window, nonce."""
        proof = self.proof
        if not verify_http_proof(proof, leaf.holder):
            raise Denial("proof_invalid", "the request is not signed by the leaf holder",
                         step="7b")
        if not config.identifies_us(proof.origin):
            raise Denial("audience_mismatch", f"the request was signed for {proof.origin}",
                         step="7d")
        skew = config.limits.max_iat_skew
        if proof.expires <= now:
            raise Denial("expired", "the request signature has expired", step="7g")
        if proof.created > now + skew:
            raise Denial("not_yet_valid", "the request signature is dated in the future",
                         step="7g")
        check_nonce(self.nonce, expected_nonce, config, nonces, now)

    @property
    def replay_id(self) -> str:
        """The RFC 9421 nonce: unique per request."""
        return "sig:" + self.proof.nonce

    @property
    def nonce(self) -> str | None:
        """The nonce, which is the receiver's own when it answered a challenge."""
        return self.proof.nonce

    def replay_until(self, limits: Limits) -> float:
        """A signature is good until ``expires``; remember it that long plus skew."""
        return float(self.proof.expires + limits.max_iat_skew)

    def evidence(self) -> dict[str, Any]:
        """The signature, its input and the exact base, so an auditor can re-verify it."""
        return {"type": self.kind, "signature_input": self.proof.signature_input,
                "signature": b64u_encode(self.proof.signature),
                "signature_base": self.proof.signature_base.decode("ascii"),
                "keyid": self.proof.keyid}
