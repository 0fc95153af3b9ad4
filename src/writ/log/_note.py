"""C2SP signed notes: text signed by one or more keys (c2sp.org/signed-note).

A note is a text ending in a newline, a blank line, then one or more lines
``— <key name> base64(key ID || signature)``. A verifier is configured with the
keys it trusts; a signature is matched to a key by *both* name and key ID, and
signatures from other keys are ignored, as the spec requires (§Signatures).

Parsing is strict and raises only ``MalformedError``; verification failures
raise ``NoteSignatureError`` (a ``MalformedError``), whose ``kind`` says whether
no trusted key signed the note or a trusted key's signature did not verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, Self

from writ._errors import MalformedError
from writ._keys import PrivateKey, PublicKey

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "NoteSignature",
    "NoteSignatureError",
    "NoteSigner",
    "NoteVerifier",
    "VerifierKey",
    "b64std_decode",
    "b64std_encode",
    "check_key_name",
    "compute_key_id",
    "sign_note",
    "verify_note",
]

SIG_TYPE_ED25519 = 0x01
"""Signature type byte for Ed25519 note signatures (signed-note §Signature types)."""

SIG_TYPE_COSIGNATURE_V1 = 0x04
"""Signature type byte for timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature)."""

MAX_SIGNATURES = 64
"""Most signature lines accepted; the spec asks verifiers to accept at least 16."""

MAX_NOTE_BYTES = 64 * 1024
"""Largest note accepted, in UTF-8 bytes."""

_EM_DASH_PREFIX = "\u2014 "
_B64STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_HEX8 = re.compile(r"[0-9a-f]{8}")


def b64std_encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as every C2SP format uses."""
    return base64.b64encode(data).decode("ascii")


def b64std_decode(text: str) -> bytes:
    """Decode standard padded base64, refusing other alphabets and non-canonical forms."""
    if not isinstance(text, str) or _B64STD.fullmatch(text) is None or len(text) % 4:
        raise MalformedError("not standard padded base64")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError("not standard padded base64") from None
    if b64std_encode(data) != text:
        raise MalformedError("non-canonical base64")
    return data


def check_key_name(name: object) -> str:
    """Return ``name`` if it is a valid key name: non-empty, no Unicode space, no '+'."""
    if not isinstance(name, str) or not name:
        raise MalformedError("a key name must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name):
        raise MalformedError(f"key name {name!r} contains a space or '+'")
    if any(ord(c) < 0x20 for c in name):
        raise MalformedError(f"key name {name!r} contains a control character")
    return name


def compute_key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || type || public key)[:4] as a big-endian uint32 (signed-note)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


class NoteSignatureError(MalformedError):
    """A note failed verification; ``kind`` is ``no_trusted_signature`` or ``bad_signature``."""

    def __init__(
        self, message: str, *, kind: Literal["no_trusted_signature", "bad_signature"]
    ) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, kw_only=True)
class NoteSignature:
    """One signature line: the key's name and ID, and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not 0 <= self.key_id < 1 << 32 or not self.signature:
            raise MalformedError("a note signature needs a uint32 key ID and signature bytes")

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """Parse ``— <name> <base64>`` (without the newline)."""
        if not line.startswith(_EM_DASH_PREFIX):
            raise MalformedError("a signature line starts with an em dash and a space")
        name, sep, blob = line[len(_EM_DASH_PREFIX) :].partition(" ")
        if not sep:
            raise MalformedError("a signature line is '— <key name> <signature>'")
        raw = b64std_decode(blob)
        if len(raw) < 5:
            raise MalformedError("a signature is a 4-byte key ID and at least one byte")
        return cls(
            name=check_key_name(name), key_id=int.from_bytes(raw[:4], "big"), signature=raw[4:]
        )

    def line(self) -> str:
        """The signature line, newline included."""
        blob = b64std_encode(self.key_id.to_bytes(4, "big") + self.signature)
        return f"{_EM_DASH_PREFIX}{self.name} {blob}\n"


def _check_text(text: str) -> bytes:
    """UTF-8 encode, refusing control characters other than newline (signed-note §Format)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedError("a note must be valid UTF-8") from None
    if len(data) > MAX_NOTE_BYTES:
        raise MalformedError(f"a note may be at most {MAX_NOTE_BYTES} bytes")
    if any(b < 0x20 and b != 0x0A for b in data):
        raise MalformedError("a note must not contain control characters other than newline")
    return data


@dataclass(frozen=True, kw_only=True)
class Note:
    """A signed note: its text (ending in a newline) and its signatures, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.text.endswith("\n"):
            raise MalformedError("note text must end with a newline")
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise MalformedError(f"a note carries 1 to {MAX_SIGNATURES} signatures")

    @classmethod
    def parse(cls, data: str | bytes) -> Note:
        """Parse a signed note strictly; raise ``MalformedError`` on anything off-format."""
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("a note must be valid UTF-8") from None
        if not isinstance(data, str):
            raise MalformedError("a note is text")
        _check_text(data)
        # The text is separated from the signatures by the last empty line (§Format).
        split = data.rfind("\n\n")
        if split < 0 or not data.endswith("\n"):
            raise MalformedError("a note is text, a blank line, and signature lines")
        lines = data[split + 2 : -1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise MalformedError(f"a note carries at most {MAX_SIGNATURES} signatures")
        sigs = tuple(NoteSignature.parse_line(line) for line in lines)
        return cls(text=data[: split + 1], signatures=sigs)

    def render(self) -> str:
        """The note as text: the text, a blank line, and each signature line."""
        return self.text + "\n" + "".join(sig.line() for sig in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """This note with ``extra`` signatures appended (e.g. witness cosignatures)."""
        return Note(text=self.text, signatures=self.signatures + tuple(extra))


class NoteVerifier(Protocol):
    """A trusted key: its name and key ID select the signatures it must verify."""

    @property
    def name(self) -> str:
        """The key name."""

    @property
    def key_id(self) -> int:
        """The 32-bit key ID."""

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (the bytes after the key ID) signs the note ``text``."""


class NoteSigner(Protocol):
    """A signing key that can produce one note signature."""

    @property
    def name(self) -> str:
        """The key name."""

    @property
    def key_id(self) -> int:
        """The 32-bit key ID."""

    def sign(self, text: bytes) -> bytes:
        """The signature bytes (without the key ID) over the note ``text``."""


@dataclass(frozen=True, kw_only=True)
class VerifierKey:
    """A decoded verifier key string ``<name>+<hex key ID>+<base64(type || key)>``."""

    name: str
    key_id: int
    sig_type: int
    key: bytes

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        """Decode a vkey (signed-note §Verifier keys); the key ID must match the key."""
        if not isinstance(vkey, str):
            raise MalformedError("a verifier key is a string")
        # The base64 part may itself contain '+', the name may not: split twice only.
        parts = vkey.split("+", 2)
        if len(parts) != 3 or _HEX8.fullmatch(parts[1]) is None:
            raise MalformedError("a verifier key is '<name>+<8 lowercase hex>+<base64>'")
        name = check_key_name(parts[0])
        blob = b64std_decode(parts[2])
        if len(blob) < 2:
            raise MalformedError("a verifier key needs a type byte and key material")
        key_id = int(parts[1], 16)
        if compute_key_id(name, blob[0], blob[1:]) != key_id:
            raise MalformedError("the verifier key's ID does not match its name and key")
        return cls(name=name, key_id=key_id, sig_type=blob[0], key=blob[1:])

    def render(self) -> str:
        """The vkey string."""
        blob = b64std_encode(bytes([self.sig_type]) + self.key)
        return f"{self.name}+{self.key_id:08x}+{blob}"


class NamedKey:
    """A public key under a note key name, with its key ID and vkey (signed-note §Keys).

    Subclasses fix the signature type and say how a signature of theirs verifies.
    """

    __slots__ = ("_key_id", "_name", "public_key")
    SIG_TYPE: int = SIG_TYPE_ED25519
    KIND = "Ed25519 (type 0x01)"

    def __init__(self, name: str, public_key: PublicKey) -> None:
        self._name = check_key_name(name)
        self.public_key = public_key
        self._key_id = compute_key_id(name, self.SIG_TYPE, public_key.raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Load from a verifier key string of this class's signature type."""
        parsed = VerifierKey.parse(vkey)
        if parsed.sig_type != cls.SIG_TYPE or len(parsed.key) != 32:
            raise MalformedError(f"not an {cls.KIND} verifier key")
        return cls(parsed.name, PublicKey(parsed.key))

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """The key ID: SHA-256(name || 0x0A || type || key)[:4]."""
        return self._key_id

    @property
    def vkey(self) -> str:
        """The verifier key string."""
        return VerifierKey(
            name=self._name, key_id=self._key_id, sig_type=self.SIG_TYPE, key=self.public_key.raw
        ).render()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"


class Ed25519Verifier(NamedKey):
    """A trusted Ed25519 note key (signature type 0x01)."""

    __slots__ = ()

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature over ``text``."""
        return self.public_key.verify(signature, text)


class Ed25519Signer:
    """An Ed25519 note signing key (signature type 0x01)."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, private_key: PrivateKey) -> None:
        self._key = private_key
        self.verifier = Ed25519Verifier(name, private_key.public_key)

    @property
    def name(self) -> str:
        """The key name."""
        return self.verifier.name

    @property
    def key_id(self) -> int:
        """The key ID."""
        return self.verifier.key_id

    def sign(self, text: bytes) -> bytes:
        """The Ed25519 signature over the note text."""
        return self._key.sign(text)

    def __repr__(self) -> str:
        return f"Ed25519Signer({self.verifier.vkey!r})"


def sign_note(text: str, signers: Sequence[NoteSigner]) -> Note:
    """Sign ``text`` (which must end in a newline) with each signer, in order."""
    data = _check_text(text)
    sigs = tuple(
        NoteSignature(name=s.name, key_id=s.key_id, signature=s.sign(data)) for s in signers
    )
    return Note(text=text, signatures=sigs)


def verify_note(
    note: Note | str | bytes, verifiers: Sequence[NoteVerifier]
) -> tuple[NoteSignature, ...]:
    """Verify a note against trusted keys and return the signatures that verified.

    Signatures whose (name, key ID) match no trusted key are ignored. A matching
    signature that fails rejects the whole note, and so does a note with no
    verified signature (signed-note §Signatures).
    """
    if not isinstance(note, Note):
        note = Note.parse(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    text = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(text, sig.signature):
            raise NoteSignatureError(
                f"the signature by {sig.name} (key ID {sig.key_id:08x}) does not verify",
                kind="bad_signature",
            )
        verified.append(sig)
    if not verified:
        present = ", ".join(f"{s.name}/{s.key_id:08x}" for s in note.signatures)
        raise NoteSignatureError(
            f"no signature from a trusted key (the note is signed by {present})",
            kind="no_trusted_signature",
        )
    return tuple(verified)
