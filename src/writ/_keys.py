"""Ed25519 keys (RFC 8032) as JWK (RFC 8037), named by thumbprint URI (RFC 7638, RFC 9278)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

from writ._b64 import b64u_decode, b64u_encode
from writ._errors import ConfigurationError, MalformedError

__all__ = ["THUMBPRINT_URI_PREFIX", "PrivateKey", "PublicKey"]

THUMBPRINT_URI_PREFIX = "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


class PublicKey:
    """An Ed25519 public key; ``verify`` returns a bool and never raises."""

    __slots__ = ("_raw", "_thumbprint", "_verify_key")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise MalformedError("an Ed25519 public key is 32 bytes")
        self._raw = bytes(raw)
        self._verify_key = nacl.signing.VerifyKey(self._raw)
        canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{b64u_encode(self._raw)}"}}'
        # RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
        self._thumbprint = b64u_encode(hashlib.sha256(canonical.encode()).digest())

    @classmethod
    def from_jwk(cls, jwk: object) -> PublicKey:
        """Parse an RFC 8037 OKP/Ed25519 JWK; private members are refused (AAT step 3l)."""
        if not isinstance(jwk, Mapping):
            raise MalformedError("a JWK is a JSON object")
        if _PRIVATE_JWK_MEMBERS & set(jwk):
            raise MalformedError("the JWK carries private key material", step="3l")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise MalformedError("only OKP/Ed25519 keys are accepted")
        x = jwk.get("x")
        if not isinstance(x, str):
            raise MalformedError("the JWK has no 'x'")
        key = _KNOWN.get(x)
        if key is None:
            key = cls(b64u_decode(x))
            if len(_KNOWN) >= _MAX_KNOWN:
                _KNOWN.clear()  # bounded; holders recur, so it refills with the live ones
            _KNOWN[x] = key
        return key

    @property
    def raw(self) -> bytes:
        """The 32 raw key bytes."""
        return self._raw

    @property
    def jwk(self) -> dict[str, str]:
        """The public JWK with its required members only."""
        return {"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(self._raw)}

    @property
    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint, base64url."""
        return self._thumbprint

    @property
    def thumbprint_uri(self) -> str:
        """The RFC 9278 thumbprint URI that names this holder."""
        return THUMBPRINT_URI_PREFIX + self._thumbprint

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature of ``message``."""
        if len(signature) != 64:
            return False
        try:
            self._verify_key.verify(message, signature)
        except nacl.exceptions.BadSignatureError:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"PublicKey({self.thumbprint_uri})"


_KNOWN: dict[str, PublicKey] = {}  # x -> key: a public key is an immutable value
_MAX_KNOWN = 4096


class PrivateKey:
    """An Ed25519 signing key. It is never printed: ``repr`` shows the public half only."""

    __slots__ = ("_signing_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ConfigurationError("an Ed25519 private key seed is 32 bytes")
        self._signing_key = nacl.signing.SigningKey(bytes(seed))
        self.public_key = PublicKey(bytes(self._signing_key.verify_key))

    @classmethod
    def generate(cls) -> PrivateKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(os.urandom(32))

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PrivateKey:
        """Load from a private OKP JWK (with ``d``); ``x``, when present, must match."""
        d = jwk.get("d")
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(d, str):
            raise ConfigurationError("not an Ed25519 private JWK")
        try:
            key = cls(b64u_decode(d))
        except MalformedError as exc:
            raise ConfigurationError("the private JWK is not valid base64url") from exc
        if "x" in jwk and jwk["x"] != key.public_key.jwk["x"]:
            raise ConfigurationError("the private JWK's 'x' does not match 'd'")
        return key

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivateKey:
        """Read a key file written by ``save``."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read key file {os.fspath(path)!r}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"key file {os.fspath(path)!r} is not a JWK")
        return cls.from_jwk(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private JWK with mode 0600, refusing to overwrite a file."""
        body = json.dumps(self.private_jwk(), indent=2) + "\n"
        target = os.fspath(path)
        # Written in full under a private temporary name, then linked into place: a reader
        # never sees half a key, and link() refuses an existing file atomically.
        temporary = f"{target}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)
            os.link(temporary, target)
        except FileExistsError:
            raise ConfigurationError(f"{target!r} exists; refusing to overwrite a key") from None
        finally:
            os.unlink(temporary)

    def private_jwk(self) -> dict[str, str]:
        """The private JWK; handle with care, it is the key."""
        return {**self.public_key.jwk, "d": b64u_encode(bytes(self._signing_key))}

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._signing_key.sign(message).signature

    def __repr__(self) -> str:
        return f"PrivateKey(public={self.public_key.thumbprint_uri})"
