"""Strict base64url without padding (RFC 7515 Appendix C)."""

from __future__ import annotations

import base64
import binascii
import re

from writ._errors import MalformedError

__all__ = ["b64u_decode", "b64u_encode"]

_B64U = re.compile(r"[A-Za-z0-9_-]*")


def b64u_encode(data: bytes) -> str:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode, refusing padding, other alphabets and non-canonical trailing bits."""
    if not isinstance(text, str) or _B64U.fullmatch(text) is None or len(text) % 4 == 1:
        raise MalformedError("not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedError("not base64url without padding") from None
    if b64u_encode(data) != text:
        raise MalformedError("non-canonical base64url")
    return data
