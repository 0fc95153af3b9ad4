"""Signed receipts: proof that one decision is in the log, checkable offline.

A receipt carries the leaf hash, its index, the RFC 9162 §2.1.3 inclusion
proof, and the signed checkpoint the proof leads to (with any witness
cosignatures). It has three encodings of the same content:

* JSON, for MCP ``_meta`` and APIs: ``{"v": "writ-receipt/1", ...}``;
* the C2SP ``tlog-proof@v1`` text (c2sp.org/tlog-proof), with the leaf hash as
  its ``extra`` line, so that generic tlog tooling can read it;
* that text in base64url, which fits an HTTP header (``to_header``).

``verify_receipt`` needs only the log's public key; it never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from writ._b64 import b64u_decode, b64u_encode
from writ._errors import ConfigurationError, MalformedError
from writ._json import loads_strict
from writ._keys import PublicKey
from writ.log._checkpoint import Checkpoint, log_verifiers
from writ.log._cosignature import CosignatureVerifier, check_cosignatures
from writ.log._merkle import leaf_hash as hash_leaf
from writ.log._merkle import verify_inclusion
from writ.log._note import (
    Ed25519Verifier,
    Note,
    NoteSignatureError,
    NoteVerifier,
    b64std_decode,
    b64std_encode,
    verify_note,
)

__all__ = [
    "RECEIPT_VERSION",
    "ProofSource",
    "Receipt",
    "ReceiptResult",
    "issue_receipt",
    "verify_receipt",
]

RECEIPT_VERSION = "writ-receipt/1"
"""The ``v`` member of a receipt's JSON form."""

_TLOG_PROOF = "c2sp.org/tlog-proof@v1"
_MAX_PROOF = 64
_MAX_HEADER = 16 * 1024
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """Where one leaf sits in the log, with the signed checkpoint that proves it."""

    leaf_hash: bytes
    index: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def __post_init__(self) -> None:
        if not isinstance(self.leaf_hash, bytes) or len(self.leaf_hash) != 32:
            raise MalformedError("a receipt's leaf hash is 32 bytes")
        if not isinstance(self.index, int) or isinstance(self.index, bool) or self.index < 0:
            raise MalformedError("a receipt's index is a non-negative integer")
        if len(self.proof) > _MAX_PROOF or any(
            not isinstance(p, bytes) or len(p) != 32 for p in self.proof
        ):
            raise MalformedError("a receipt's proof is at most 64 hashes of 32 bytes")
        size = Checkpoint.parse(Note.parse(self.checkpoint).text).size
        if self.index >= size:
            raise MalformedError(f"index {self.index} is outside the checkpointed tree ({size})")

    @property
    def tree_size(self) -> int:
        """The size of the checkpointed tree (unverified until ``verify_receipt``)."""
        return Checkpoint.parse(Note.parse(self.checkpoint).text).size

    def to_json(self) -> dict[str, Any]:
        """The JSON form (hashes in standard base64, as in the checkpoint)."""
        return {
            "v": RECEIPT_VERSION,
            "leaf_hash": b64std_encode(self.leaf_hash),
            "index": self.index,
            "proof": [b64std_encode(p) for p in self.proof],
            "checkpoint": self.checkpoint,
        }

    @classmethod
    def from_json(cls, data: object) -> Receipt:
        """Parse the JSON form (a mapping, or its text); raise ``MalformedError``."""
        if isinstance(data, (str, bytes)):
            data = loads_strict(data)
        if not isinstance(data, Mapping) or set(data) != {
            "v",
            "leaf_hash",
            "index",
            "proof",
            "checkpoint",
        }:
            raise MalformedError("a receipt has exactly v, leaf_hash, index, proof, checkpoint")
        if data["v"] != RECEIPT_VERSION:
            raise MalformedError(f"unknown receipt version {data['v']!r}")
        proof, note = data["proof"], data["checkpoint"]
        if not isinstance(proof, list) or not isinstance(note, str):
            raise MalformedError("a receipt's proof is a list and its checkpoint a string")
        return cls(
            leaf_hash=b64std_decode(data["leaf_hash"]),
            index=data["index"],
            proof=tuple(b64std_decode(p) for p in proof),
            checkpoint=note,
        )

    def to_tlog_proof(self) -> str:
        """The c2sp.org/tlog-proof@v1 text, with the leaf hash as the ``extra`` line."""
        lines = [_TLOG_PROOF, "extra " + b64std_encode(self.leaf_hash), f"index {self.index}"]
        lines += [b64std_encode(p) for p in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_tlog_proof(cls, text: str) -> Receipt:
        """Parse a tlog-proof@v1 text whose ``extra`` line is the leaf hash."""
        if not isinstance(text, str):
            raise MalformedError("a tlog proof is text")
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or len(lines) < 3 or lines[0] != _TLOG_PROOF:
            raise MalformedError("not a c2sp.org/tlog-proof@v1 text")
        if not lines[1].startswith("extra ") or not lines[2].startswith("index "):
            raise MalformedError("a receipt's tlog proof has 'extra <leaf hash>' and 'index N'")
        index = lines[2][len("index ") :]
        if _DECIMAL.fullmatch(index) is None:
            raise MalformedError("the index is a decimal without leading zeroes")
        return cls(
            leaf_hash=b64std_decode(lines[1][len("extra ") :]),
            index=int(index),
            proof=tuple(b64std_decode(p) for p in lines[3:]),
            checkpoint=note,
        )

    def to_header(self) -> str:
        """A single-line form for an HTTP header: base64url of the tlog-proof text."""
        return b64u_encode(self.to_tlog_proof().encode("utf-8"))

    @classmethod
    def from_header(cls, value: str) -> Receipt:
        """Parse the header form."""
        if not isinstance(value, str) or len(value) > _MAX_HEADER:
            raise MalformedError("a receipt header is at most 16 KiB of base64url")
        try:
            text = b64u_decode(value.strip()).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("a receipt header decodes to UTF-8 text") from None
        return cls.from_tlog_proof(text)

    @classmethod
    def load(cls, data: object) -> Receipt:
        """Accept any of the three forms (or a ``Receipt``)."""
        if isinstance(data, Receipt):
            return data
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedError("a receipt is UTF-8 text") from None
        if isinstance(data, str):
            stripped = data.strip()
            if stripped.startswith("{"):
                return cls.from_json(stripped)
            if data.startswith(_TLOG_PROOF):
                return cls.from_tlog_proof(data)
            return cls.from_header(stripped)
        return cls.from_json(data)


class ProofSource(Protocol):
    """Anything that makes inclusion proofs: the log writer or a reader."""

    def inclusion_proof(self, index: int, size: int, /) -> list[bytes]:
        """The RFC 9162 §2.1.3 inclusion proof of leaf ``index`` in the tree of ``size``."""


def issue_receipt(
    log: ProofSource, *, index: int, leaf_hash: bytes, checkpoint: str | bytes
) -> Receipt:
    """Build the receipt for leaf ``index`` under a signed checkpoint that covers it.

    With ``writ.log.open_log(..., sign_checkpoint=...)``, pass the ``AppendResult``'s
    ``index``, ``leaf_hash`` and ``checkpoint``.
    """
    note = checkpoint.decode("utf-8") if isinstance(checkpoint, bytes) else checkpoint
    size = Checkpoint.parse(Note.parse(note).text).size
    proof = log.inclusion_proof(index, size)
    return Receipt(leaf_hash=leaf_hash, index=index, proof=tuple(proof), checkpoint=note)


@dataclass(frozen=True, kw_only=True)
class ReceiptResult:
    """The outcome of checking a receipt: ``code`` is ``ok`` or names the failure."""

    ok: bool
    code: str
    reason: str
    checkpoint: Checkpoint | None = None
    index: int | None = None
    cosigners: tuple[str, ...] = ()


def verify_receipt(
    receipt: Receipt | str | bytes | Mapping[str, Any],
    log_key: PublicKey | NoteVerifier | str,
    leaf: bytes | None = None,
    *,
    origin: str | None = None,
    witnesses: Sequence[CosignatureVerifier] = (),
    min_witnesses: int = 0,
) -> ReceiptResult:
    """Check a receipt offline with the log's key; never raises on a hostile receipt.

    With ``leaf`` (the decision record's bytes) it also checks that the receipt
    is for that record. ``log_key`` may be a public key, a verifier, or a vkey
    string. Codes: ``malformed``, ``wrong_key``, ``bad_signature``,
    ``origin_mismatch``, ``leaf_mismatch``, ``bad_proof``, ``too_few_witnesses``.
    Raises ``ConfigurationError`` only if ``log_key`` is an unusable vkey string.
    """
    try:
        key = Ed25519Verifier.from_vkey(log_key) if isinstance(log_key, str) else log_key
    except MalformedError as exc:
        raise ConfigurationError(f"unusable log key: {exc}") from None
    try:
        parsed = Receipt.load(receipt)
        note = Note.parse(parsed.checkpoint)
        checkpoint = Checkpoint.parse(note.text)
        verifiers = log_verifiers(key, origin if origin is not None else checkpoint.origin)
    except MalformedError as exc:
        return ReceiptResult(ok=False, code="malformed", reason=str(exc))
    try:
        verify_note(note, verifiers)
    except NoteSignatureError as exc:
        code = "wrong_key" if exc.kind == "no_trusted_signature" else "bad_signature"
        return ReceiptResult(ok=False, code=code, reason=str(exc))
    return _check_contents(parsed, note, checkpoint, leaf, origin, witnesses, min_witnesses)


def _check_contents(
    receipt: Receipt,
    note: Note,
    checkpoint: Checkpoint,
    leaf: bytes | None,
    origin: str | None,
    witnesses: Sequence[CosignatureVerifier],
    min_witnesses: int,
) -> ReceiptResult:
    """The checks after the log signature: origin, leaf, inclusion proof, witnesses."""

    def fail(code: str, reason: str) -> ReceiptResult:
        return ReceiptResult(
            ok=False, code=code, reason=reason, checkpoint=checkpoint, index=receipt.index
        )

    if origin is not None and checkpoint.origin != origin:
        return fail("origin_mismatch", f"checkpoint origin {checkpoint.origin!r}, not {origin!r}")
    if leaf is not None and hash_leaf(leaf) != receipt.leaf_hash:
        return fail("leaf_mismatch", "the receipt is for a different record")
    if not verify_inclusion(
        receipt.leaf_hash, receipt.index, checkpoint.size, receipt.proof, checkpoint.root_hash
    ):
        return fail(
            "bad_proof",
            f"the inclusion proof for index {receipt.index} does not lead "
            f"to the signed root of tree size {checkpoint.size}",
        )
    cosigs = check_cosignatures(note, witnesses)
    names = tuple(sorted({c.name for c in cosigs.valid}))
    if cosigs.invalid:
        return fail("bad_signature", f"invalid cosignature from {', '.join(cosigs.invalid)}")
    if len(names) < min_witnesses:
        return fail("too_few_witnesses", f"{len(names)} of {min_witnesses} witnesses cosigned")
    return ReceiptResult(
        ok=True,
        code="ok",
        reason=f"entry {receipt.index} is in the log "
        f"{checkpoint.origin} at tree size {checkpoint.size}",
        checkpoint=checkpoint,
        index=receipt.index,
        cosigners=names,
    )
