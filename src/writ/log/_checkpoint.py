"""C2SP transparency log checkpoints (c2sp.org/tlog-checkpoint), signed as notes.

The note text is the origin line, the tree size in decimal, the base64 root
hash, and optional extension lines. The log signs it with its Ed25519 key,
whose key name is the origin (tlog-checkpoint §Signatures: SHOULD match).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from writ._errors import MalformedError
from writ._keys import PrivateKey, PublicKey
from writ.log._note import (
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    NoteVerifier,
    b64std_decode,
    b64std_encode,
    sign_note,
    verify_note,
)

__all__ = [
    "Checkpoint",
    "checkpoint_signer",
    "log_signer",
    "log_verifier",
    "log_verifiers",
    "open_checkpoint",
    "sign_checkpoint",
]

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_SIZE = (1 << 63) - 1
_HASH_SIZE = 32


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash, and opaque extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise MalformedError("a checkpoint origin is a non-empty line")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise MalformedError("a checkpoint size is an integer")
        if not 0 <= self.size <= _MAX_SIZE:
            raise MalformedError("a checkpoint size is between 0 and 2**63 - 1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _HASH_SIZE:
            raise MalformedError("a checkpoint root hash is 32 bytes")
        for line in self.extensions:
            # tlog-checkpoint §Note text: extension lines, if any, MUST be non-empty.
            if not isinstance(line, str) or not line or "\n" in line:
                raise MalformedError("checkpoint extension lines are non-empty single lines")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text (the part above the signatures)."""
        if not isinstance(text, str) or not text.endswith("\n"):
            raise MalformedError("a checkpoint text is newline-terminated lines")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedError("a checkpoint has an origin, a size and a root hash line")
        origin, size, root, *extensions = lines
        if _DECIMAL.fullmatch(size) is None:
            raise MalformedError("the checkpoint size is a decimal without leading zeroes")
        if len(size) > 19:
            raise MalformedError("the checkpoint size is too large")
        return cls(
            origin=origin,
            size=int(size),
            root_hash=b64std_decode(root),
            extensions=tuple(extensions),
        )

    def render(self) -> str:
        """The checkpoint note text."""
        lines = [self.origin, str(self.size), b64std_encode(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"


def log_signer(origin: str, key: PrivateKey) -> Ed25519Signer:
    """The note signer for a log: its key name is the origin."""
    return Ed25519Signer(origin, key)


def log_verifier(origin: str, public_key: PublicKey) -> Ed25519Verifier:
    """The note verifier for a log's public key under its origin."""
    return Ed25519Verifier(origin, public_key)


def sign_checkpoint(
    origin: str, size: int, root: bytes, key: PrivateKey, *, extensions: Sequence[str] = ()
) -> str:
    """Sign a checkpoint with the log key and return the signed note text."""
    checkpoint = Checkpoint(origin=origin, size=size, root_hash=root, extensions=tuple(extensions))
    return sign_note(checkpoint.render(), [log_signer(origin, key)]).render()


def checkpoint_signer(origin: str, key: PrivateKey) -> Callable[[int, bytes], bytes]:
    """A ``sign_checkpoint(size, root) -> note bytes`` hook for ``writ.log.open_log``."""
    signer = log_signer(origin, key)

    def sign(size: int, root: bytes) -> bytes:
        text = Checkpoint(origin=origin, size=size, root_hash=root).render()
        return sign_note(text, [signer]).render().encode("utf-8")

    return sign


def open_checkpoint(
    note: str | bytes | Note,
    key: PublicKey | NoteVerifier | Sequence[NoteVerifier],
    origin: str | None = None,
) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and return it.

    ``key`` is the log's public key, a verifier, or several (key rotation). A
    bare public key is named by ``origin``, or, when that is None, by the
    checkpoint's own origin line (the key ID commits to that name, so this
    never accepts another key). The origin must equal ``origin`` when given,
    else the verifier's name. Raises ``MalformedError``, or its subclass
    ``NoteSignatureError`` when no trusted signature verifies.
    """
    parsed = note if isinstance(note, Note) else Note.parse(note)
    checkpoint = Checkpoint.parse(parsed.text)
    verifiers = log_verifiers(key, origin if origin is not None else checkpoint.origin)
    verify_note(parsed, verifiers)
    expected = origin if origin is not None else verifiers[0].name
    if checkpoint.origin != expected:
        raise MalformedError(
            f"the checkpoint is for origin {checkpoint.origin!r}, expected {expected!r}"
        )
    return checkpoint


def log_verifiers(
    key: PublicKey | NoteVerifier | Sequence[NoteVerifier], origin: str
) -> list[NoteVerifier]:
    """Normalise a log key argument: a bare public key is named ``origin``."""
    if isinstance(key, PublicKey):
        return [log_verifier(origin, key)]
    if isinstance(key, Sequence):
        if not key:
            raise TypeError("at least one log verifier is needed")
        return list(key)
    return [key]
