"""Strict JWS compact serialisation (RFC 7515) for Writ's Ed25519 tokens.

Only what AAT needs: ``alg`` pinned to ``Ed25519`` (RFC 9864; ``EdDSA`` and ``none``
are refused, AAT §8.13), an explicit ``typ`` (RFC 8725 §3.11), no ``crit``, and a
payload that is left unparsed until its signature has been verified (AAT §7).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from writ._b64 import b64u_decode, b64u_encode
from writ._errors import MalformedError
from writ._json import canonical, loads_strict
from writ._keys import PrivateKey, PublicKey

__all__ = ["ALG", "Jws", "sign_compact"]

ALG = "Ed25519"


@dataclass(frozen=True, slots=True, kw_only=True)
class Jws:
    """A split compact JWS whose header is checked and whose payload is still opaque."""

    compact: str
    header: dict[str, Any]
    signing_input: bytes
    payload_b64: str
    signature: bytes

    @classmethod
    def parse(cls, compact: object, *, typ: str, max_size: int) -> Jws:
        """Split and check the header; MalformedError (AAT step "a") on anything else."""
        if not isinstance(compact, str) or not compact.isascii():
            raise MalformedError("a JWS is an ASCII string")
        if len(compact) > max_size:
            raise MalformedError("the JWS is larger than allowed")
        parts = compact.split(".")
        if len(parts) != 3:
            raise MalformedError("a compact JWS has three parts")
        header_b64, payload_b64, signature_b64 = parts
        header = _header(header_b64, typ)
        return cls(
            compact=compact,
            header=header,
            signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
            payload_b64=payload_b64,
            signature=b64u_decode(signature_b64),
        )

    def verify(self, key: PublicKey) -> bool:
        """True when the signature verifies under ``key``."""
        return key.verify(self.signature, self.signing_input)

    def payload(self) -> Any:
        """Parse the payload strictly; call only after ``verify`` succeeded."""
        return loads_strict(b64u_decode(self.payload_b64))

    @property
    def signing_input_hash(self) -> str:
        """base64url(SHA-256(JWS Signing Input)), the AAT ``par_hash``/``aat_hash`` value."""
        return b64u_encode(hashlib.sha256(self.signing_input).digest())


_HEADERS: dict[tuple[str, str], dict[str, Any]] = {}
_MAX_HEADERS = 256


def _header(header_b64: str, typ: str) -> dict[str, Any]:
    """The checked header; the few distinct headers in use are remembered once checked."""
    cached = _HEADERS.get((header_b64, typ))
    if cached is not None:
        return cached
    header = loads_strict(b64u_decode(header_b64))
    _check_header(header, typ)
    if len(_HEADERS) < _MAX_HEADERS:
        _HEADERS[(header_b64, typ)] = header
    return header  # type: ignore[no-any-return]


def _check_header(header: object, typ: str) -> None:
    if not isinstance(header, dict):
        raise MalformedError("the JWS header is not a JSON object")
    if header.get("alg") != ALG:
        raise MalformedError(f"alg must be {ALG!r}, got {header.get('alg')!r}")
    if header.get("typ") != typ:
        raise MalformedError(f"typ must be {typ!r}, got {header.get('typ')!r}")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extension, so any crit list is a refusal.
        raise MalformedError("crit header parameters are not supported")


def sign_compact(payload: dict[str, Any], *, typ: str, key: PrivateKey) -> str:
    """Sign a JCS-encoded payload (AAT §3, §5.2) and return the compact JWS."""
    header_b64 = b64u_encode(canonical({"alg": ALG, "typ": typ}))
    payload_b64 = b64u_encode(canonical(payload))
    signing_input = f"{header_b64}.{payload_b64}"
    return f"{signing_input}.{b64u_encode(key.sign(signing_input.encode('ascii')))}"
