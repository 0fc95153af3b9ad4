"""Strict base64url without padding (RFC 7515 Appendix C)."""

from __future__ import annotations

import base64
import binascii

from writ._errors import MalformedError

__all__ = ["b64u_decode", "b64u_encode"]

_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_UNUSED_BITS = {2: 0x0F, 3: 0x03}  # the bits the last character carries beyond the data


def b64u_encode(data: bytes) -> str:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode, refusing padding, other alphabets, whitespace and non-canonical trailing bits."""
    if not isinstance(text, str) or "+" in text or "/" in text or "=" in text:
        raise MalformedError("not base64url without padding")
    remainder = len(text) % 4
    if remainder == 1:
        raise MalformedError("not base64url without padding")
    try:
        raw = text.encode("ascii").translate(_TO_STANDARD) + b"=" * (-len(text) % 4)
        # strict_mode refuses every character outside the alphabet (RFC 4648 §3.3).
        data = binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, ValueError):
        raise MalformedError("not base64url without padding") from None
    if remainder and _VALUE[text[-1]] & _UNUSED_BITS[remainder]:
        raise MalformedError("non-canonical base64url")  # RFC 4648 §3.5
    return data
