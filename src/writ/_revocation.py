"""Signed revocation statements (Writ extension; AAT draft §8.8 leaves revocation open).

A statement names one token ``jti`` and carries the signer's public key. It is
self-verifying when loaded; whether the signer may revoke that token is decided at
check time, when the chain is known: the root's trust anchor, a holder above the
token, or the token's own holder. Revoking a token denies every chain through it,
so a revocation kills the token's whole subtree.
"""

from __future__ import annotations

from writ._errors import MalformedError
from writ._jose import Jws, sign_compact
from writ._keys import PrivateKey, PublicKey
from writ._token import new_id
from writ.stores import Revocation

__all__ = ["REVOCATION_TYP", "parse_revocation", "sign_revocation"]

REVOCATION_TYP = "writ-revocation+jwt"


def sign_revocation(*, key: PrivateKey, jti: str, now: int, reason: str | None = None) -> str:
    """A statement, signed by ``key``, that token ``jti`` is revoked."""
    payload: dict[str, object] = {"jti": new_id(), "iss": key.public_key.thumbprint_uri,
                                  "iat": now, "revokes": jti, "jwk": key.public_key.jwk}
    if reason:
        payload["reason"] = reason[:512]
    return sign_compact(payload, typ=REVOCATION_TYP, key=key)


def parse_revocation(compact: str) -> Revocation:
    """Verify a statement against the key it carries; MalformedError if it is not genuine."""
    jws = Jws.parse(compact.strip(), typ=REVOCATION_TYP, max_size=16_384)
    claims = jws.payload()  # bounded by max_size; verified just below against its own key
    if not isinstance(claims, dict) or not isinstance(claims.get("revokes"), str):
        raise MalformedError("a revocation statement names the token it revokes")
    signer = PublicKey.from_jwk(claims.get("jwk"))
    if not jws.verify(signer) or claims.get("iss") != signer.thumbprint_uri:
        raise MalformedError("the revocation statement's signature does not verify")
    iat = claims.get("iat")
    if type(iat) is not int:
        raise MalformedError("a revocation statement carries an integer iat")
    return Revocation(jti=claims["revokes"], signer=signer.thumbprint_uri,
                      statement=jws.compact, issued_at=iat)
