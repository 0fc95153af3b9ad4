"""Offline verification of an audit bundle: what holds, and exactly what broke.

``verify_bundle`` needs no database and never raises. It checks, in order: the
latest checkpoint's signature by the log key (c2sp.org/signed-note), the
entries against the signed tree (RFC 9162 §2.1: recomputation, a consistency
proof, or inclusion proofs), each earlier checkpoint's consistency with the
latest, and witness cosignatures (c2sp.org/tlog-cosignature). Every failure
becomes a ``Problem`` with a stable code:

``malformed``, ``wrong_key``, ``bad_signature``, ``origin_mismatch``,
``missing_tail``, ``entry_altered``, ``root_mismatch``, ``bad_consistency``,
``bad_cosignature``, ``too_few_witnesses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from writ._errors import ConfigurationError, MalformedError
from writ._keys import PublicKey
from writ.log._bundle import Bundle, HistoryItem, load_key, parse_bundle
from writ.log._checkpoint import Checkpoint
from writ.log._cosignature import CosignatureVerifier, check_cosignatures
from writ.log._merkle import (
    EMPTY_ROOT,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from writ.log._note import Ed25519Verifier, Note, NoteSignatureError, verify_note

__all__ = ["PROBLEM_CODES", "BundleReport", "Problem", "verify_bundle"]

PROBLEM_CODES = (
    "malformed",
    "wrong_key",
    "bad_signature",
    "origin_mismatch",
    "missing_tail",
    "entry_altered",
    "root_mismatch",
    "bad_consistency",
    "bad_cosignature",
    "too_few_witnesses",
)
"""Every ``Problem.code`` that ``verify_bundle`` reports."""

_PROGRESS_EVERY = 8192


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One failure in a bundle: a stable ``code``, a message, and the entry index if any."""

    code: str
    message: str
    index: int | None = None


@dataclass(frozen=True, kw_only=True)
class BundleReport:
    """What ``verify_bundle`` checked, and every problem it found (``ok`` when none)."""

    ok: bool
    problems: tuple[Problem, ...]
    checks: tuple[str, ...]
    origin: str | None = None
    tree_size: int | None = None
    start: int = 0
    stop: int = 0
    entries_verified: int = 0
    complete: bool = False
    key_source: str = "given"
    witness_source: str = "none"
    cosigners: tuple[str, ...] = ()


class _Audit:
    """Accumulates checks and problems while a bundle is verified."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.checks: list[str] = []

    def fail(self, code: str, message: str, index: int | None = None) -> None:
        """Record a problem."""
        self.problems.append(Problem(code=code, message=message, index=index))

    def passed(self, message: str) -> None:
        """Record a check that held."""
        self.checks.append(message)


_MAX_LISTED = 20  # altered entries named one by one before the rest are counted


def verify_bundle(
    bundle: Bundle | str | bytes | Mapping[str, Any],
    pubkey: PublicKey | Ed25519Verifier | str | None = None,
    *,
    witnesses: Sequence[CosignatureVerifier | str] | None = None,
    min_witnesses: int = 0,
    progress: Callable[[int, int], None] | None = None,
    now: float | None = None,
) -> BundleReport:
    """Verify a bundle offline, with no database; never raises on a hostile bundle.

    ``pubkey`` is the log's key as the auditor knows it (a public key named by
    the bundle's origin, a verifier, or a vkey string); without it the keys
    listed in the bundle are used, which proves only internal consistency
    (``key_source == "bundle"``). Likewise ``witnesses`` (default: the bundle's).
    Raises ``ConfigurationError`` only when a key the caller supplied is unusable.
    """
    audit = _Audit()
    key, given_witnesses = _caller_keys(pubkey, witnesses)
    try:
        b = bundle if isinstance(bundle, Bundle) else parse_bundle(bundle)
        verifiers = [load_key(key, b.origin)] if key is not None else _bundle_keys(b)
        trusted = _bundle_witnesses(b) if given_witnesses is None else given_witnesses
    except MalformedError as exc:
        audit.fail("malformed", f"the bundle is malformed: {exc}")
        return BundleReport(ok=False, problems=tuple(audit.problems), checks=())
    # Step 1: the latest checkpoint is signed by the log key (signed-note, tlog-checkpoint).
    cp = _open(audit, b.checkpoint, verifiers, b.origin, "the checkpoint")
    cosigners: tuple[str, ...] = ()
    count = 0
    if cp is not None:
        # Step 2: the entries recompute, or are proven into, the signed tree (RFC 9162 §2.1).
        count = _verify_entries(audit, b, cp, progress)
        # Step 3: every earlier checkpoint is a prefix of the latest (RFC 9162 §2.1.4).
        for k, item in enumerate(b.history):
            _verify_history(audit, item, verifiers, cp, k)
        # Step 4: witness cosignatures (tlog-cosignature) on the latest checkpoint.
        cosigners = _verify_witnesses(audit, b.checkpoint, trusted, min_witnesses, now)
    return BundleReport(
        ok=not audit.problems,
        problems=tuple(audit.problems),
        checks=tuple(audit.checks),
        origin=b.origin,
        tree_size=cp.size if cp else None,
        start=b.start,
        stop=b.stop,
        entries_verified=count,
        complete=cp is not None and b.start == 0 and b.stop == cp.size and count == cp.size,
        key_source="given" if pubkey is not None else "bundle",
        witness_source="none" if not trusted else "given" if witnesses is not None else "bundle",
        cosigners=cosigners,
    )


def _bundle_keys(b: Bundle) -> list[Ed25519Verifier]:
    """The log keys the bundle lists (trusted only for internal consistency)."""
    return [Ed25519Verifier.from_vkey(k) for k in b.log_keys]


def _bundle_witnesses(b: Bundle) -> list[CosignatureVerifier]:
    """The witness keys the bundle lists."""
    return [CosignatureVerifier.from_vkey(w) for w in b.witness_keys]


def _caller_keys(
    pubkey: PublicKey | Ed25519Verifier | str | None,
    witnesses: Sequence[CosignatureVerifier | str] | None,
) -> tuple[PublicKey | Ed25519Verifier | None, list[CosignatureVerifier] | None]:
    """Decode the keys the caller supplied; a bad one is misuse, not a finding."""
    try:
        key = Ed25519Verifier.from_vkey(pubkey) if isinstance(pubkey, str) else pubkey
        trusted = (
            None
            if witnesses is None
            else [
                w if isinstance(w, CosignatureVerifier) else CosignatureVerifier.from_vkey(w)
                for w in witnesses
            ]
        )
    except MalformedError as exc:
        raise ConfigurationError(f"unusable key: {exc}") from None
    return key, trusted


def _open(
    audit: _Audit, text: str, verifiers: Sequence[Ed25519Verifier], origin: str, what: str
) -> Checkpoint | None:
    """Parse and verify a checkpoint note, recording why it fails."""
    try:
        note = Note.parse(text)
        cp = Checkpoint.parse(note.text)
        verify_note(note, verifiers)
    except NoteSignatureError as exc:
        keys = ", ".join(v.vkey for v in verifiers)
        if exc.kind == "no_trusted_signature":
            audit.fail("wrong_key", f"{what} is not signed by the log key {keys}: {exc}")
        else:
            audit.fail("bad_signature", f"{what} has an invalid signature: {exc}")
        return None
    except MalformedError as exc:
        audit.fail("malformed", f"{what} is malformed: {exc}")
        return None
    if cp.origin != origin:
        audit.fail("origin_mismatch", f"{what} is for origin {cp.origin!r}, not {origin!r}")
        return None
    audit.passed(f"{what} (size {cp.size}) is signed by the log key")
    return cp


def _verify_entries(
    audit: _Audit, b: Bundle, cp: Checkpoint, progress: Callable[[int, int], None] | None
) -> int:
    """Check the entries against the signed tree; return how many verified."""
    expected = b.stop - b.start
    if not b.start <= b.stop <= cp.size or len(b.entries) > expected:
        audit.fail(
            "malformed",
            f"entries [{b.start}, {b.stop}) with {len(b.entries)} items do "
            f"not fit a tree of size {cp.size}",
        )
        return 0
    if len(b.entries) < expected:
        first = b.start + len(b.entries)
        audit.fail(
            "missing_tail",
            f"entries {first}..{b.stop - 1} are missing from the bundle",
            index=first,
        )
    hashes: list[bytes] = []
    for i, entry in enumerate(b.entries):
        hashes.append(leaf_hash(entry))
        if progress is not None and (i + 1) % _PROGRESS_EVERY == 0:
            progress(i + 1, len(b.entries))
    if progress is not None:
        progress(len(b.entries), len(b.entries))
    if b.start == 0:
        return _verify_prefix(audit, b, cp, hashes)
    return _verify_slice(audit, b, cp, hashes)


def _verify_prefix(audit: _Audit, b: Bundle, cp: Checkpoint, hashes: list[bytes]) -> int:
    """Entries [0, stop): recompute the tree; locate altered entries with the index."""
    stop, size = b.stop, cp.size

    def authentic(leaves: Sequence[bytes]) -> bool:
        if len(leaves) != stop:
            return False
        root = root_from_leaf_hashes(leaves)
        if stop in (0, size):
            return stop == 0 or root == cp.root_hash
        return verify_consistency(stop, size, b.prefix_proof, root, cp.root_hash)

    if authentic(hashes):
        if stop == 0:
            audit.passed("the bundle holds no entries")
        else:
            audit.passed(
                f"entries 0..{stop - 1} recompute the signed tree"
                + ("" if stop == size else f" (a proven prefix; {stop}..{size - 1} not included)")
            )
        return stop
    hints = [b.leaf_hashes[i : i + 32] for i in range(0, len(b.leaf_hashes), 32)]
    if not authentic(hints):
        if 0 < stop < size and not b.prefix_proof:
            audit.fail(
                "missing_tail",
                f"the bundle ends at entry {stop - 1} but the checkpoint "
                f"covers {size} entries, with no proof linking the two",
                index=stop,
            )
        else:
            audit.fail(
                "root_mismatch",
                "the entries do not produce the signed root"
                + ("" if stop == size else " through the bundle's consistency proof")
                + ", nor does the bundle's leaf hash index, so what was altered cannot be located",
            )
        return 0
    return _locate(audit, hashes, hints)


def _locate(audit: _Audit, hashes: list[bytes], hints: list[bytes]) -> int:
    """Name each entry whose hash differs from the authenticated leaf hash index."""
    bad = [i for i, h in enumerate(hashes) if h != hints[i]]
    for i in bad[:_MAX_LISTED]:
        audit.fail(
            "entry_altered",
            f"entry {i} has been altered: its hash is not the one in the signed tree",
            index=i,
        )
    if len(bad) > _MAX_LISTED:
        audit.fail("entry_altered", f"{len(bad) - _MAX_LISTED} more entries have been altered")
    return len(hashes) - len(bad)


def _verify_slice(audit: _Audit, b: Bundle, cp: Checkpoint, hashes: list[bytes]) -> int:
    """Entries [start, stop): one inclusion proof each."""
    if len(b.inclusion_proofs) != b.stop - b.start:
        audit.fail("malformed", "a sliced bundle needs one inclusion proof per entry")
        return 0
    bad = [
        b.start + k
        for k, h in enumerate(hashes)
        if not verify_inclusion(h, b.start + k, cp.size, b.inclusion_proofs[k], cp.root_hash)
    ]
    for i in bad[:_MAX_LISTED]:
        audit.fail(
            "entry_altered",
            f"entry {i} does not match the signed tree (the entry or "
            "its inclusion proof has been altered)",
            index=i,
        )
    if len(bad) > _MAX_LISTED:
        audit.fail("entry_altered", f"{len(bad) - _MAX_LISTED} more entries do not match")
    if not bad and hashes:
        audit.passed(f"entries {b.start}..{b.start + len(hashes) - 1} have valid inclusion proofs")
    return len(hashes) - len(bad)


def _verify_history(
    audit: _Audit, item: HistoryItem, verifiers: Sequence[Ed25519Verifier], cp: Checkpoint, k: int
) -> None:
    """An earlier checkpoint must be a prefix of the latest one."""
    old = _open(audit, item.checkpoint, verifiers, cp.origin, f"history checkpoint {k}")
    if old is None:
        return
    if old.size > cp.size:
        good = False
    elif old.size == 0:
        good = old.root_hash == EMPTY_ROOT and not item.proof
    elif old.size == cp.size:
        good = old.root_hash == cp.root_hash and not item.proof
    else:
        good = verify_consistency(old.size, cp.size, item.proof, old.root_hash, cp.root_hash)
    if good:
        audit.passed(f"history checkpoint {k} (size {old.size}) is consistent with the latest")
    else:
        audit.fail(
            "bad_consistency",
            f"history checkpoint {k} (size {old.size}) is not a prefix "
            f"of the latest (size {cp.size}): the log rewrote or forked its history",
        )


def _verify_witnesses(
    audit: _Audit,
    text: str,
    trusted: Sequence[CosignatureVerifier],
    minimum: int,
    now: float | None,
) -> tuple[str, ...]:
    """Check cosignatures from trusted witnesses and the required count."""
    result = check_cosignatures(Note.parse(text), trusted, now=now)
    for name in result.invalid:
        audit.fail("bad_cosignature", f"the cosignature of witness {name} does not verify")
    for cosig in result.future:
        audit.fail(
            "bad_cosignature",
            f"the cosignature of witness {cosig.name} is dated in the future ({cosig.timestamp})",
        )
    names = tuple(sorted({c.name for c in result.valid}))
    if names:
        audit.passed(f"cosigned by {', '.join(names)}")
    if len(names) < minimum:
        audit.fail(
            "too_few_witnesses", f"{len(names)} of the {minimum} required witnesses cosigned"
        )
    return names
