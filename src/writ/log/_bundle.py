"""Audit bundles: a self-contained export of the log, verifiable offline.

A bundle is one JSON object (``"format": "writ-log-bundle/1"``) holding the
entries ``[start, stop)``, the latest signed checkpoint (tree size ``N``), the
log and witness verifier keys, and the proofs that tie the entries to it:

* ``start == 0``: the verifier recomputes the tree from the entries. When
  ``stop < N`` a consistency proof (RFC 9162 §2.1.4) shows the recomputed tree
  is a prefix of the checkpointed one. ``leaf_hashes`` (all leaf hashes,
  concatenated) is an *unauthenticated* index: if it yields the signed root it
  pinpoints which entry was altered;
* ``start > 0``: one inclusion proof (RFC 9162 §2.1.3) per entry;
* ``history``: earlier signed checkpoints, each with a consistency proof to the
  latest, showing the log never rewrote what it had signed.

``writ.log._audit.verify_bundle`` checks a bundle offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from writ._errors import ConfigurationError, MalformedError
from writ._json import loads_strict
from writ._keys import PublicKey
from writ.log._checkpoint import Checkpoint, open_checkpoint
from writ.log._cosignature import CosignatureVerifier
from writ.log._merkle import leaf_hash
from writ.log._note import Ed25519Verifier, Note, b64std_decode, b64std_encode

__all__ = [
    "BUNDLE_FORMAT",
    "Bundle",
    "BundleSource",
    "HistoryItem",
    "export_bundle",
    "load_key",
    "parse_bundle",
]

BUNDLE_FORMAT = "writ-log-bundle/1"
"""The ``format`` member of every bundle this version writes and reads."""

_KEYS = {
    "format",
    "origin",
    "log_keys",
    "witness_keys",
    "checkpoint",
    "start",
    "stop",
    "entries",
    "leaf_hashes",
    "prefix_proof",
    "inclusion_proofs",
    "history",
}
_MAX_PROOF = 64
_CHUNK = 8192


class BundleSource(Protocol):
    """What export needs from a decision log (``writ.log.open_log`` provides it)."""

    def size(self) -> int:
        """The number of durable entries."""

    def entries(self, start: int, stop: int, /) -> Iterable[bytes]:
        """The entries with index in ``[start, stop)``."""

    def root(self, size: int, /) -> bytes:
        """The root of the tree of the first ``size`` entries."""

    def inclusion_proof(self, index: int, size: int, /) -> list[bytes]:
        """The RFC 9162 inclusion proof of ``index`` in the tree of ``size``."""

    def consistency_proof(self, old: int, new: int, /) -> list[bytes]:
        """The RFC 9162 consistency proof from ``old`` to ``new``."""


@dataclass(frozen=True, kw_only=True)
class HistoryItem:
    """An earlier checkpoint note and the consistency proof from it to the latest."""

    checkpoint: str
    proof: tuple[bytes, ...]


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """A parsed bundle: well-formed, not yet verified."""

    origin: str
    log_keys: tuple[str, ...]
    witness_keys: tuple[str, ...]
    checkpoint: str
    start: int
    stop: int
    entries: tuple[bytes, ...]
    leaf_hashes: bytes
    prefix_proof: tuple[bytes, ...]
    inclusion_proofs: tuple[tuple[bytes, ...], ...]
    history: tuple[HistoryItem, ...]

    def to_json(self) -> dict[str, Any]:
        """The bundle's JSON object."""
        return {
            "format": BUNDLE_FORMAT,
            "origin": self.origin,
            "log_keys": list(self.log_keys),
            "witness_keys": list(self.witness_keys),
            "checkpoint": self.checkpoint,
            "start": self.start,
            "stop": self.stop,
            "entries": [b64std_encode(e) for e in self.entries],
            "leaf_hashes": b64std_encode(self.leaf_hashes),
            "prefix_proof": _hashes_out(self.prefix_proof),
            "inclusion_proofs": [_hashes_out(p) for p in self.inclusion_proofs],
            "history": [
                {"checkpoint": h.checkpoint, "proof": _hashes_out(h.proof)} for h in self.history
            ],
        }


def _hashes_out(hashes: Sequence[bytes]) -> list[str]:
    return [b64std_encode(h) for h in hashes]


def _hashes_in(value: object, what: str) -> tuple[bytes, ...]:
    """A list of base64 32-byte hashes, at most 64 of them."""
    if not isinstance(value, list) or len(value) > _MAX_PROOF:
        raise MalformedError(f"{what} is a list of at most {_MAX_PROOF} hashes")
    hashes = tuple(b64std_decode(h) for h in value)
    if any(len(h) != 32 for h in hashes):
        raise MalformedError(f"{what} holds a hash that is not 32 bytes")
    return hashes


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise MalformedError(f"{what} is a non-negative integer")
    return value


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedError(f"{what} is a list of strings")
    return tuple(value)


def parse_bundle(data: str | bytes | Mapping[str, Any]) -> Bundle:
    """Parse a bundle's JSON strictly; raise only ``MalformedError``."""
    obj = loads_strict(data) if isinstance(data, (str, bytes)) else data
    if not isinstance(obj, Mapping):
        raise MalformedError("a bundle is a JSON object")
    if obj.get("format") != BUNDLE_FORMAT:
        raise MalformedError(f"not a {BUNDLE_FORMAT} bundle (format {obj.get('format')!r})")
    if set(obj) != _KEYS:
        missing, extra = sorted(_KEYS - set(obj)), sorted(set(obj) - _KEYS)
        raise MalformedError(f"bundle members: missing {missing}, unknown {extra}")
    origin, checkpoint = obj["origin"], obj["checkpoint"]
    if not isinstance(origin, str) or not isinstance(checkpoint, str):
        raise MalformedError("a bundle's origin and checkpoint are strings")
    entries, history = obj["entries"], obj["history"]
    if not isinstance(entries, list) or not isinstance(history, list):
        raise MalformedError("a bundle's entries and history are lists")
    proofs = obj["inclusion_proofs"]
    if not isinstance(proofs, list):
        raise MalformedError("inclusion_proofs is a list")
    leaf_hashes = b64std_decode(obj["leaf_hashes"]) if isinstance(obj["leaf_hashes"], str) else None
    if leaf_hashes is None or len(leaf_hashes) % 32:
        raise MalformedError("leaf_hashes is base64 of concatenated 32-byte hashes")
    # A full export is recomputed, a slice carries inclusion proofs: never both.
    if (leaf_hashes or obj["prefix_proof"]) if obj["start"] else proofs:
        raise MalformedError("a bundle from 0 has no inclusion proofs; a slice has no index")
    return Bundle(
        origin=origin,
        log_keys=_strings(obj["log_keys"], "log_keys"),
        witness_keys=_strings(obj["witness_keys"], "witness_keys"),
        checkpoint=checkpoint,
        start=_int(obj["start"], "start"),
        stop=_int(obj["stop"], "stop"),
        entries=tuple(_entry(e) for e in entries),
        leaf_hashes=leaf_hashes,
        prefix_proof=_hashes_in(obj["prefix_proof"], "prefix_proof"),
        inclusion_proofs=tuple(_hashes_in(p, "an inclusion proof") for p in proofs),
        history=tuple(_history(h) for h in history),
    )


def _entry(value: object) -> bytes:
    if not isinstance(value, str):
        raise MalformedError("each entry is a base64 string")
    return b64std_decode(value)


def _history(value: object) -> HistoryItem:
    if not isinstance(value, Mapping) or set(value) != {"checkpoint", "proof"}:
        raise MalformedError("a history item has exactly checkpoint and proof")
    if not isinstance(value["checkpoint"], str):
        raise MalformedError("a history checkpoint is a string")
    return HistoryItem(checkpoint=value["checkpoint"], proof=_hashes_in(value["proof"], "proof"))


def export_bundle(
    log: BundleSource,
    checkpoint_note: str | bytes,
    log_keys: Sequence[Ed25519Verifier | str],
    *,
    start: int = 0,
    stop: int | None = None,
    witness_keys: Sequence[str] = (),
    history: Sequence[str | bytes] = (),
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Export entries ``[start, stop)`` with the checkpoint and proofs, as a JSON object.

    ``checkpoint_note`` must verify under ``log_keys`` and match the log's root
    at its size; ``stop`` defaults to that size. ``history`` holds earlier
    checkpoint notes to prove consistent with it. Raises ``ConfigurationError``.
    """
    note = _text(checkpoint_note)
    verifiers, cp = _open_for_export(note, log_keys, witness_keys)
    stop = cp.size if stop is None else stop
    if not 0 <= start <= stop <= cp.size or cp.size > log.size():
        raise ConfigurationError(f"cannot export [{start}, {stop}) under tree size {cp.size}")
    if log.root(cp.size) != cp.root_hash:
        raise ConfigurationError("the checkpoint's root is not this log's root at its size")
    entries = _read(log, start, stop, progress)
    full = start == 0
    bundle = Bundle(
        origin=cp.origin,
        log_keys=tuple(v.vkey for v in verifiers),
        witness_keys=tuple(witness_keys),
        checkpoint=note,
        start=start,
        stop=stop,
        entries=entries,
        leaf_hashes=b"".join(leaf_hash(e) for e in entries) if full else b"",
        prefix_proof=tuple(log.consistency_proof(stop, cp.size))
        if 0 == start < stop < cp.size
        else (),
        inclusion_proofs=()
        if full
        else tuple(tuple(log.inclusion_proof(i, cp.size)) for i in range(start, stop)),
        history=tuple(_history_item(log, _text(h), verifiers, cp) for h in history),
    )
    return bundle.to_json()


def _text(note: str | bytes) -> str:
    """A checkpoint note as text (the log stores them as bytes)."""
    try:
        return note.decode("utf-8") if isinstance(note, bytes) else note
    except UnicodeDecodeError:
        raise ConfigurationError("a checkpoint note is not UTF-8") from None


def _open_for_export(
    note: str, log_keys: Sequence[Ed25519Verifier | str], witness_keys: Sequence[str]
) -> tuple[list[Ed25519Verifier], Checkpoint]:
    """Check the exporter's keys and the checkpoint before anything is written."""
    try:
        verifiers = [
            k if isinstance(k, Ed25519Verifier) else Ed25519Verifier.from_vkey(k) for k in log_keys
        ]
        for w in witness_keys:
            CosignatureVerifier.from_vkey(w)
    except MalformedError as exc:
        raise ConfigurationError(f"unusable key: {exc}") from None
    if not verifiers:
        raise ConfigurationError("export needs the log's key")
    try:
        return verifiers, open_checkpoint(note, list(verifiers))
    except MalformedError as exc:
        raise ConfigurationError(f"the checkpoint does not verify: {exc}") from None


def _read(
    log: BundleSource, start: int, stop: int, progress: Callable[[int, int], None] | None
) -> tuple[bytes, ...]:
    """Read entries in chunks, reporting progress."""
    out: list[bytes] = []
    for chunk in range(start, stop, _CHUNK):
        out.extend(bytes(e) for e in log.entries(chunk, min(chunk + _CHUNK, stop)))
        if progress is not None:
            progress(len(out), stop - start)
    if len(out) != stop - start:
        raise ConfigurationError(f"the log returned {len(out)} entries for [{start}, {stop})")
    return tuple(out)


def _history_item(
    log: BundleSource, note: str, verifiers: Sequence[Ed25519Verifier], latest: Checkpoint
) -> HistoryItem:
    """An earlier checkpoint with its consistency proof to ``latest``."""
    try:
        cp = open_checkpoint(note, list(verifiers))
    except MalformedError as exc:
        raise ConfigurationError(f"a history checkpoint does not verify: {exc}") from None
    if cp.size > latest.size:
        raise ConfigurationError("a history checkpoint is newer than the exported one")
    proof = log.consistency_proof(cp.size, latest.size) if 0 < cp.size < latest.size else []
    return HistoryItem(checkpoint=Note.parse(note).render(), proof=tuple(proof))


def load_key(key: PublicKey | Ed25519Verifier | str, origin: str) -> Ed25519Verifier:
    """A log verifier from a public key (named ``origin``), a verifier or a vkey string."""
    if isinstance(key, PublicKey):
        return Ed25519Verifier(origin, key)
    if isinstance(key, str):
        return Ed25519Verifier.from_vkey(key)
    return key
