"""The per-call proof of possession, ``aat-pop+jwt`` (AAT draft §5).

The leaf holder signs, for one invocation: a fresh ``jti``, ``iat``, the leaf's
``aat_id`` and ``aat_hash``, the tool (``aat_tool``), the arguments (``hta``), and
optionally the receiver (``aat_aud``) and a receiver-issued ``nonce``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from writ._b64 import b64u_decode
from writ._errors import MalformedError
from writ._jose import Jws, sign_compact
from writ._json import loads_strict
from writ._keys import PrivateKey
from writ._token import new_id

__all__ = ["POP_TYP", "PopClaims", "leaf_reference", "sign_pop"]

POP_TYP = "aat-pop+jwt"
_MAX_ID = 256


@functools.lru_cache(maxsize=64)
def leaf_reference(leaf_compact: str) -> tuple[str, str]:
    """(jti, aat_hash) of the holder's own leaf token, read without verifying it (remembered:
    an agent signs many calls under one leaf)."""
    jws = Jws.parse(leaf_compact, typ="aat+jwt", max_size=1 << 20)
    claims = loads_strict(b64u_decode(jws.payload_b64))
    if not isinstance(claims, dict) or not isinstance(claims.get("jti"), str):
        raise MalformedError("the leaf token has no jti")
    return claims["jti"], jws.signing_input_hash


def sign_pop(
    *,
    key: PrivateKey,
    leaf: str,
    tool: str,
    args: Mapping[str, Any],
    now: int,
    aud: str | None = None,
    nonce: str | None = None,
) -> str:
    """Sign one invocation with the leaf holder's key."""
    aat_id, aat_hash = leaf_reference(leaf)
    payload: dict[str, Any] = {"jti": new_id(), "iat": now, "aat_id": aat_id,
                               "aat_hash": aat_hash, "aat_tool": tool, "hta": dict(args)}
    if aud is not None:
        payload["aat_aud"] = aud
    if nonce is not None:
        payload["nonce"] = nonce
    return sign_compact(payload, typ=POP_TYP, key=key)


def _text(claims: Mapping[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = claims.get(name)
    if value is None and optional and name not in claims:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID * 16:
        raise MalformedError(f"PoP claim {name} is a non-empty string", step="7b")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class PopClaims:
    """The claims of a signature-verified PoP JWT."""

    jti: str
    iat: int
    aat_id: str
    aat_hash: str
    aat_tool: str
    hta: Mapping[str, Any]
    aat_aud: str | None
    nonce: str | None

    @classmethod
    def from_jws(cls, jws: Jws) -> PopClaims:
        """Parse after the signature verified (draft §7 step 7b)."""
        claims = jws.payload()
        if not isinstance(claims, dict):
            raise MalformedError("the PoP payload is not a JSON object", step="7b")
        iat, hta, jti = claims.get("iat"), claims.get("hta"), _text(claims, "jti")
        if type(iat) is not int:
            raise MalformedError("PoP iat is an integer NumericDate", step="7b")
        if not isinstance(hta, dict):
            raise MalformedError("PoP hta is a JSON object", step="7b")
        assert jti is not None
        if len(jti) > _MAX_ID or not jti.isprintable() or not jti.isascii() or " " in jti:
            raise MalformedError("PoP jti is at most 256 printable ASCII characters", step="7b")
        return cls(jti=jti, iat=iat, aat_id=_text(claims, "aat_id") or "",
                   aat_hash=_text(claims, "aat_hash") or "",
                   aat_tool=_text(claims, "aat_tool") or "", hta=hta,
                   aat_aud=_text(claims, "aat_aud", optional=True),
                   nonce=_text(claims, "nonce", optional=True))
