"""A small checkpoint witness with its state in SQLite (c2sp.org/tlog-witness).

For each log origin it trusts, the witness remembers the latest checkpoint it
cosigned. A new checkpoint is cosigned only if it is signed by the log's key
and provably extends that state (an RFC 9162 §2.1.4 consistency proof). It
refuses rollbacks and forks, and keeps the signed evidence of each: the
checkpoint it had cosigned, the one it was shown, and the proof offered. That
evidence is what lets an auditor show a log presented two histories.

Checking the stored state and recording the new one happen in one SQLite
``BEGIN IMMEDIATE`` transaction, so concurrent submissions cannot roll the
state back (tlog-witness §add-checkpoint, the race it describes).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from writ._errors import MalformedError, StoreUnavailable, WritError
from writ._keys import PrivateKey
from writ.log._checkpoint import Checkpoint
from writ.log._cosignature import CosignatureSigner, CosignatureVerifier
from writ.log._merkle import EMPTY_ROOT, verify_consistency
from writ.log._note import (
    Note,
    NoteSignature,
    NoteSignatureError,
    NoteVerifier,
    b64std_decode,
    b64std_encode,
    verify_note,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "Evidence",
    "RefusalKind",
    "Witness",
    "WitnessRefusal",
    "parse_add_checkpoint",
    "witness_app",
]

RefusalKind = Literal[
    "malformed",
    "unknown_origin",
    "bad_signature",
    "bad_request",
    "conflict",
    "rollback",
    "fork",
    "inconsistent",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witness_state (
    origin TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS witness_evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, kind TEXT NOT NULL,
    observed_at REAL NOT NULL, cosigned_note TEXT NOT NULL, submitted_note TEXT NOT NULL,
    old_size INTEGER NOT NULL, proof TEXT NOT NULL
);
"""

_MAX_PROOF_LINES = 63  # tlog-witness §add-checkpoint: at most 63 proof lines


class WitnessRefusal(WritError):
    """The witness will not cosign; ``status`` is the tlog-witness HTTP status."""

    _STATUS: Mapping[str, int] = {
        "malformed": 400,
        "bad_request": 400,
        "unknown_origin": 404,
        "bad_signature": 403,
        "conflict": 409,
        "rollback": 409,
        "fork": 409,
        "inconsistent": 422,
    }

    def __init__(
        self,
        kind: RefusalKind,
        message: str,
        *,
        latest_size: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: RefusalKind = kind
        self.latest_size = latest_size
        self.status = status if status is not None else self._STATUS[kind]


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """A refused checkpoint kept as evidence, next to the one the witness had cosigned."""

    origin: str
    kind: str
    observed_at: float
    cosigned_note: str
    submitted_note: str
    old_size: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class _State:
    size: int
    root: bytes
    note: str


class Witness:
    """A witness for the logs it is configured to trust, keyed by origin."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str,
        key: PrivateKey,
        logs: Mapping[str, Sequence[NoteVerifier]],
    ) -> None:
        self._signer = CosignatureSigner(name, key)
        self._logs = {origin: list(keys) for origin, keys in logs.items()}
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                os.fspath(path), isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"witness database: {exc}") from None

    @property
    def verifier(self) -> CosignatureVerifier:
        """The verifier for this witness's cosignatures (publish its ``vkey``)."""
        return self._signer.verifier

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add_checkpoint(
        self, note: str | bytes, consistency_proof: Sequence[bytes], old_size: int, *, now: float
    ) -> str:
        """Cosign ``note`` if it extends the latest cosigned state; return the cosignature line.

        Raises ``WitnessRefusal`` with the status and kind that tlog-witness
        assigns, after storing evidence of any rollback or fork.
        """
        parsed, checkpoint = self._open(note)
        proof = tuple(consistency_proof)
        if len(proof) > _MAX_PROOF_LINES:
            raise WitnessRefusal("bad_request", "more than 63 consistency proof lines")
        with self._lock:
            return self._transaction(parsed, checkpoint, proof, old_size, now).line()

    def _open(self, note: str | bytes) -> tuple[Note, Checkpoint]:
        """Parse the note and check it is a trusted log's signed checkpoint."""
        try:
            parsed = Note.parse(note)
            checkpoint = Checkpoint.parse(parsed.text)
        except MalformedError as exc:
            raise WitnessRefusal("malformed", str(exc)) from None
        keys = self._logs.get(checkpoint.origin)
        if keys is None:
            raise WitnessRefusal("unknown_origin", f"no log key for origin {checkpoint.origin!r}")
        try:
            verified = verify_note(parsed, keys)
        except NoteSignatureError as exc:
            raise WitnessRefusal("bad_signature", str(exc)) from None
        # Keep only the log signatures checked here; the stored note gains ours
        # (tlog-witness §Monitor Retrieval: both must be served).
        return Note(text=parsed.text, signatures=verified), checkpoint

    def _transaction(
        self, note: Note, cp: Checkpoint, proof: tuple[bytes, ...], old_size: int, now: float
    ) -> NoteSignature:
        """Check against the stored state, cosign and record the new state, atomically."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                refusal = self._check(note, cp, proof, old_size, now)
                if refusal is None:
                    cosig = self._signer.cosign(note.text, timestamp=int(now))
                    self._db.execute(
                        "INSERT OR REPLACE INTO witness_state VALUES (?, ?, ?, ?)",
                        (cp.origin, cp.size, cp.root_hash, note.with_signatures([cosig]).render()),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"witness database: {exc}") from None
        if refusal is not None:
            raise refusal
        return cosig

    def _check(
        self, note: Note, cp: Checkpoint, proof: tuple[bytes, ...], old_size: int, now: float
    ) -> WitnessRefusal | None:
        """The refusal for this submission, or None to cosign (tlog-witness §add-checkpoint)."""
        state = self._state(cp.origin)
        latest = state.size if state else 0
        evidence = self._misbehaviour(cp, state)
        if evidence is not None and state is not None:
            self._keep(evidence, cp.origin, state.note, note, old_size, proof, now)
            status = 400 if old_size > cp.size else 422 if old_size == latest else 409
            return WitnessRefusal(evidence, _EXPLAIN[evidence], latest_size=latest, status=status)
        if not 0 <= old_size <= cp.size:
            return WitnessRefusal("bad_request", f"old size {old_size} exceeds the tree size")
        if old_size != latest:
            return WitnessRefusal(
                "conflict", f"the latest cosigned size is {latest}", latest_size=latest
            )
        if cp.size == 0 and cp.root_hash != EMPTY_ROOT:
            return WitnessRefusal("inconsistent", "a tree of size 0 has the empty root")
        if old_size == 0:
            return (
                None
                if not proof
                else WitnessRefusal("inconsistent", "no consistency proof may accompany old size 0")
            )
        assert state is not None
        if old_size == cp.size:
            return None if not proof else WitnessRefusal("inconsistent", "proof for equal sizes")
        if verify_consistency(old_size, cp.size, proof, state.root, cp.root_hash):
            return None
        self._keep("inconsistent", cp.origin, state.note, note, old_size, proof, now)
        return WitnessRefusal(
            "inconsistent", "the consistency proof does not verify", latest_size=latest
        )

    @staticmethod
    def _misbehaviour(cp: Checkpoint, state: _State | None) -> Literal["rollback", "fork"] | None:
        """A validly signed checkpoint that contradicts the cosigned state on its face."""
        if state is None:
            return None
        if cp.size < state.size:
            return "rollback"
        if cp.size == state.size and cp.root_hash != state.root:
            return "fork"
        return None

    def _state(self, origin: str) -> _State | None:
        row = self._db.execute(
            "SELECT size, root, note FROM witness_state WHERE origin = ?", (origin,)
        ).fetchone()
        return _State(int(row[0]), bytes(row[1]), str(row[2])) if row else None

    def _keep(
        self,
        kind: str,
        origin: str,
        cosigned: str,
        submitted: Note,
        old_size: int,
        proof: tuple[bytes, ...],
        now: float,
    ) -> None:
        """Store a refused checkpoint with what it contradicts (tlog-witness: MAY log it)."""
        self._db.execute(
            "INSERT INTO witness_evidence (origin, kind, observed_at, cosigned_note,"
            " submitted_note, old_size, proof) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                origin,
                kind,
                now,
                cosigned,
                submitted.render(),
                old_size,
                json.dumps([b64std_encode(p) for p in proof]),
            ),
        )

    def origin_for_hash(self, origin_hash: str) -> str | None:
        """The trusted origin whose lowercase hex SHA-256 is ``origin_hash`` (monitoring URL)."""
        for origin in self._logs:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                return origin
        return None

    def latest(self, origin: str) -> str | None:
        """The latest checkpoint note this witness verified for ``origin``, or None."""
        with self._lock:
            try:
                state = self._state(origin)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"witness database: {exc}") from None
        return state.note if state else None

    def evidence(self, origin: str | None = None) -> list[Evidence]:
        """The stored evidence of refused rollbacks and forks, oldest first."""
        query = "SELECT origin, kind, observed_at, cosigned_note, submitted_note, old_size, proof"
        query += " FROM witness_evidence"
        args: tuple[str, ...] = ()
        if origin is not None:
            query, args = query + " WHERE origin = ?", (origin,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [_evidence(row) for row in rows]


_EXPLAIN = {
    "rollback": "the checkpoint is smaller than one already cosigned; evidence kept",
    "fork": "the checkpoint has the size of the cosigned one but another root; evidence kept",
}


def _evidence(row: tuple[object, ...]) -> Evidence:
    """Build an ``Evidence`` from a database row."""
    origin, kind, at, cosigned, submitted, old_size, proof = row
    return Evidence(
        origin=str(origin),
        kind=str(kind),
        observed_at=float(str(at)),
        cosigned_note=str(cosigned),
        submitted_note=str(submitted),
        old_size=int(str(old_size)),
        proof=tuple(b64std_decode(p) for p in json.loads(str(proof))),
    )


_MAX_BODY = 64 * 1024 + 64 * 46


def parse_add_checkpoint(body: bytes) -> tuple[int, tuple[bytes, ...], str]:
    """Split an add-checkpoint request body into (old size, proof, checkpoint note)."""
    if len(body) > _MAX_BODY:
        raise MalformedError("the request body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("the request body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    old = lines[0].removeprefix("old ")
    # tlog-witness §add-checkpoint: "old <decimal, no leading zeroes>", then proof lines.
    if (
        not sep
        or old == lines[0]
        or not old.isascii()
        or not old.isdigit()
        or (old != "0" and old.startswith("0"))
        or len(old) > 19
    ):
        raise MalformedError("the body starts with 'old <size>', proof lines and a blank line")
    if len(lines) - 1 > _MAX_PROOF_LINES:
        raise MalformedError("more than 63 consistency proof lines")
    proof = tuple(b64std_decode(line) for line in lines[1:])
    if any(len(p) != 32 for p in proof):
        raise MalformedError("a consistency proof line is not a 32-byte hash")
    return int(old), proof, note


def witness_app(witness: Witness, clock: Callable[[], float]) -> Starlette:
    """A Starlette app serving tlog-witness ``add-checkpoint`` and the monitoring GET."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def add_checkpoint(request: Request) -> Response:
        try:
            old, proof, note = parse_add_checkpoint(await request.body())
            line = await run_in_threadpool(witness.add_checkpoint, note, proof, old, now=clock())
        except MalformedError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        except WitnessRefusal as exc:
            if exc.status == 409 and exc.latest_size is not None:
                return Response(f"{exc.latest_size}\n", 409, media_type="text/x.tlog.size")
            return PlainTextResponse(f"{exc}\n", status_code=exc.status)
        except StoreUnavailable:
            return PlainTextResponse("the witness state is unavailable\n", status_code=503)
        return PlainTextResponse(line)

    async def checkpoint(request: Request) -> Response:
        origin = witness.origin_for_hash(request.path_params["origin_hash"])
        note = await run_in_threadpool(witness.latest, origin) if origin else None
        if note is None:
            return PlainTextResponse("no checkpoint cosigned for this log\n", status_code=404)
        return PlainTextResponse(note)

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )
