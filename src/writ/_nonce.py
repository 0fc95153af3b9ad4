"""Receiver-issued nonces (AAT draft-02 step 7h; the nonce of a Writ 401 challenge).

Nonces are stateless to issue: ``<issued-at>.<random>.<mac>`` with an HMAC-SHA-256
under a receiver secret, so every replica that shares the secret accepts them. They
are fresh for ``lifetime`` seconds; single use is enforced by the replay store.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from writ._b64 import b64u_decode, b64u_encode
from writ._errors import MalformedError

__all__ = ["NonceIssuer"]


class NonceIssuer:
    """Issues and checks receiver nonces."""

    def __init__(self, *, secret: bytes | None = None, lifetime: int = 120) -> None:
        self._secret = secret if secret is not None else os.urandom(32)
        if len(self._secret) < 16:
            raise ValueError("a nonce secret has at least 16 bytes")
        self.lifetime = lifetime

    def _mac(self, body: str) -> str:
        return b64u_encode(hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:16])

    def issue(self, *, now: float) -> str:
        """A fresh nonce."""
        body = f"{int(now)}.{b64u_encode(os.urandom(12))}"
        return f"{body}.{self._mac(body)}"

    def expires_at(self, nonce: str, *, now: float) -> float:
        """When a nonce this receiver issued stops being fresh; MalformedError if it is not ours."""
        parts = nonce.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            raise MalformedError("not a nonce this receiver issued", step="7h")
        body = f"{parts[0]}.{parts[1]}"
        try:
            b64u_decode(parts[2])
        except MalformedError:
            raise MalformedError("not a nonce this receiver issued", step="7h") from None
        if not hmac.compare_digest(self._mac(body), parts[2]):
            raise MalformedError("not a nonce this receiver issued", step="7h")
        expires = int(parts[0]) + self.lifetime
        if not int(parts[0]) - 30 <= now < expires:
            raise MalformedError("the nonce is stale", step="7h")
        return float(expires)
