"""Timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature, type 0x04).

A cosignature is a note signature on a checkpoint whose signed message is
``cosignature/v1\\n`` + ``time <T>\\n`` + the checkpoint note text, and whose
signature bytes are the big-endian u64 timestamp followed by the 64-byte
Ed25519 signature (§Format, §Ed25519 signed message). Its key ID uses type
byte 0x04, so a witness key can never be confused with a log key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from writ._errors import MalformedError
from writ._keys import PrivateKey
from writ.log._note import (
    SIG_TYPE_COSIGNATURE_V1,
    NamedKey,
    Note,
    NoteSignature,
)

__all__ = [
    "Cosignature",
    "CosignatureCheck",
    "CosignatureSigner",
    "CosignatureVerifier",
    "check_cosignatures",
    "cosigned_message",
]

_HEADER = b"cosignature/v1\n"
_MAX_TIMESTAMP = (1 << 63) - 1
_SIG_LEN = 8 + 64


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The exact bytes a v1 cosigner signs (tlog-cosignature §Ed25519 signed message)."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise MalformedError("a cosignature timestamp is between 0 and 2**63 - 1")
    return _HEADER + b"time %d\n" % timestamp + checkpoint_text.encode("utf-8")


def _split(signature: bytes) -> tuple[int, bytes] | None:
    """(timestamp, Ed25519 signature) from a ``timestamped_signature``, or None."""
    if len(signature) != _SIG_LEN:
        return None
    timestamp = int.from_bytes(signature[:8], "big")
    return (timestamp, signature[8:]) if timestamp <= _MAX_TIMESTAMP else None


class CosignatureVerifier(NamedKey):
    """A trusted witness key; usable as a ``NoteVerifier`` on checkpoint notes."""

    __slots__ = ()
    SIG_TYPE = SIG_TYPE_COSIGNATURE_V1
    KIND = "cosignature/v1 (type 0x04)"

    def timestamp(self, text: bytes, signature: bytes) -> int | None:
        """The cosignature's timestamp if it verifies over the note ``text``, else None."""
        split = _split(signature)
        if split is None:
            return None
        timestamp, sig = split
        message = _HEADER + b"time %d\n" % timestamp + text
        return timestamp if self.public_key.verify(sig, message) else None

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid cosignature over the checkpoint ``text``."""
        return self.timestamp(text, signature) is not None


class CosignatureSigner:
    """A witness's signing key; ``cosign`` needs the time, passed in."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, private_key: PrivateKey) -> None:
        self._key = private_key
        self.verifier = CosignatureVerifier(name, private_key.public_key)

    @property
    def name(self) -> str:
        """The witness name."""
        return self.verifier.name

    @property
    def key_id(self) -> int:
        """The key ID (type 0x04)."""
        return self.verifier.key_id

    def cosign(self, checkpoint_text: str, *, timestamp: int) -> NoteSignature:
        """The cosignature line's content for a checkpoint note text at ``timestamp``."""
        sig = self._key.sign(cosigned_message(checkpoint_text, timestamp))
        return NoteSignature(
            name=self.name, key_id=self.key_id, signature=timestamp.to_bytes(8, "big") + sig
        )

    def __repr__(self) -> str:
        return f"CosignatureSigner({self.verifier.vkey!r})"


@dataclass(frozen=True, kw_only=True)
class Cosignature:
    """A verified cosignature: who, and when the witness says it signed."""

    name: str
    key_id: int
    timestamp: int


@dataclass(frozen=True, kw_only=True)
class CosignatureCheck:
    """The outcome for each trusted witness: valid cosignatures and failing ones."""

    valid: tuple[Cosignature, ...]
    invalid: tuple[str, ...]
    future: tuple[Cosignature, ...]


def check_cosignatures(
    note: Note, witnesses: Sequence[CosignatureVerifier], *, now: float | None = None
) -> CosignatureCheck:
    """Check a checkpoint note's cosignatures from trusted witnesses; ignore other lines.

    A cosignature dated after ``now`` (when given) is listed in ``future`` and
    not counted as valid: verifiers MAY reject them (tlog-cosignature §Format).
    """
    known = {(w.name, w.key_id): w for w in witnesses}
    text = note.text.encode("utf-8")
    valid: list[Cosignature] = []
    invalid: list[str] = []
    future: list[Cosignature] = []
    for sig in note.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        timestamp = witness.timestamp(text, sig.signature)
        if timestamp is None:
            invalid.append(sig.name)
            continue
        cosig = Cosignature(name=sig.name, key_id=sig.key_id, timestamp=timestamp)
        (future if now is not None and timestamp > now else valid).append(cosig)
    return CosignatureCheck(valid=tuple(valid), invalid=tuple(invalid), future=tuple(future))
