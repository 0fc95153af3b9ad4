"""The chain archive: every distinct verified chain's tokens, kept so the console can draw it.

Decision records carry only a chain summary (DESIGN §5): the principal, the
holders and each token's jti and hash. To show what each agent was granted the
console needs the tokens themselves, so the verifier hands each chain it verifies
for the first time (a chain-cache miss) to ``ChainArchive.record``.

That call is on the verifier's hot path, so it is one ``INSERT OR IGNORE`` per
token on a single WAL connection under a lock, skipped entirely for chains seen
before, and it never raises: an archive failure must not change a decision.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from writ._chain import VerifiedChain
from writ._errors import MalformedError, StoreUnavailable
from writ._token import AAT_TYPE, Writ

__all__ = ["ArchivedToken", "ChainArchive", "token_view"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, compact TEXT NOT NULL, first_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chains (
    id TEXT PRIMARY KEY, hashes TEXT NOT NULL, first_seen REAL NOT NULL
);
"""

_SEEN_MAX = 65_536  # chain ids remembered in memory to skip repeat inserts


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedToken:
    """One archived token and the token it was derived from (None for a root)."""

    hash: str
    parent: str | None
    compact: str


def _chain_id(hashes: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


class ChainArchive:
    """SQLite table of token hash -> compact token, and chain -> its token hashes."""

    def __init__(self, path: str | os.PathLike[str], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self.failures = 0  # record() calls that could not be stored (it never raises)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       timeout=5.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a crash may lose the last archived chains, never a decision; the
            # archive is a display aid, and FULL would put an fsync on the verify path.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"chain archive {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def record(self, verified: VerifiedChain) -> None:
        """Archive a verified chain; cheap, idempotent, and it never raises."""
        try:
            hashes = [w.hash for w in verified.writs]
            chain_id = _chain_id(hashes)
            if chain_id in self._seen:
                return
            self._store(chain_id, hashes, [w.compact for w in verified.writs])
        except Exception:  # noqa: BLE001 - on the verify path: a display aid must never deny
            self.failures += 1

    def _store(self, chain_id: str, hashes: list[str], compacts: list[str]) -> None:
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO tokens (hash, compact, first_seen) VALUES (?, ?, ?)",
                    [(h, c, now) for h, c in zip(hashes, compacts)])
                self._db.execute(
                    "INSERT OR IGNORE INTO chains (id, hashes, first_seen) VALUES (?, ?, ?)",
                    (chain_id, json.dumps(hashes), now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen.add(chain_id)

    def counts(self) -> tuple[int, int]:
        """(chains, tokens) archived."""
        with self._lock:
            chains = self._db.execute("SELECT COUNT(*) FROM chains").fetchone()[0]
            tokens = self._db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0]
        return int(chains), int(tokens)

    def chains(self) -> list[list[str]]:
        """Every archived chain as its token hashes, root first, oldest chain first."""
        with self._lock:
            rows = self._db.execute("SELECT hashes FROM chains ORDER BY first_seen, id").fetchall()
        return [list(json.loads(row[0])) for row in rows]

    def tokens(self) -> list[ArchivedToken]:
        """Every archived token with its parent, parents before children."""
        compacts = self._compacts()
        parents: dict[str, str | None] = {}
        order: list[str] = []
        for hashes in self.chains():
            for i, h in enumerate(hashes):
                if h not in parents:
                    parents[h] = hashes[i - 1] if i else None
                    order.append(h)
        return [ArchivedToken(hash=h, parent=parents[h], compact=compacts[h])
                for h in order if h in compacts]

    def lookup(self, hashes: Sequence[str]) -> dict[str, str]:
        """The compact tokens archived under ``hashes`` (missing ones are left out)."""
        compacts = self._compacts(hashes)
        return {h: compacts[h] for h in hashes if h in compacts}

    def _compacts(self, hashes: Sequence[str] | None = None) -> dict[str, str]:
        with self._lock:
            if hashes is None:
                rows = self._db.execute("SELECT hash, compact FROM tokens").fetchall()
            else:
                marks = ",".join("?" * len(hashes))
                rows = self._db.execute(
                    f"SELECT hash, compact FROM tokens WHERE hash IN ({marks})",
                    list(hashes)).fetchall() if hashes else []
        return {str(h): str(c) for h, c in rows}


def token_view(compact: str, *, root: bool) -> dict[str, Any]:
    """A display form of one archived token: who, what, until when, under which limits.

    The signature is not checked again here: the token was verified by the
    receiver before it was archived. ``error`` is set when it cannot be read.
    """
    try:
        writ = Writ.parse_unverified(compact, root=root)
    except (MalformedError, ValueError) as exc:
        return {"error": f"unreadable token: {exc}"}
    claims = dict(writ.payload)
    details = claims.get("authorization_details")
    entry = next((d for d in details if isinstance(d, dict) and d.get("type") == AAT_TYPE),
                 None) if isinstance(details, list) else None
    return {
        "jti": writ.jti, "hash": writ.hash, "iss": writ.iss,
        "holder": writ.holder.thumbprint_uri, "depth": writ.del_depth,
        "max_depth": writ.del_max_depth, "iat": writ.iat, "exp": writ.exp,
        "aud": list(writ.aud) if writ.aud else None, "purpose": writ.purpose,
        "tools": entry.get("tools") if entry else None,
        "budget": claims.get("writ_budget"), "approval": claims.get("writ_approval"),
    }
