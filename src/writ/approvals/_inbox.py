"""Pending approval requests and their outcomes: a SQLite file (or memory) or a directory.

An entry is created ``pending`` and decided once: ``approved`` (with the approval JWS)
or ``denied``. Deciding is compare-and-set on ``pending``, so two clicks (or two
approvers' tabs) cannot both decide. One ``writ approvals serve`` per inbox: the
directory form serialises writers inside one process only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from writ._errors import ConfigurationError, StoreUnavailable

__all__ = ["DirInbox", "Entry", "Inbox", "SqliteInbox", "open_inbox"]

PENDING, APPROVED, DENIED = "pending", "approved", "denied"


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One request in the inbox and what became of it."""

    id: str
    request: dict[str, Any]
    received: float
    status: str = PENDING
    approval: str | None = None
    decided: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"id": self.id, "request": self.request, "received": self.received,
                "status": self.status, "approval": self.approval, "decided": self.decided}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Entry:
        """Read the stored form back."""
        return cls(id=obj["id"], request=obj["request"], received=obj["received"],
                   status=obj["status"], approval=obj.get("approval"), decided=obj.get("decided"))


class Inbox(Protocol):
    """Where requests wait for a human."""

    def put(self, entry: Entry) -> Entry:
        """Store a new pending entry; an entry with the same id is returned unchanged."""

    def get(self, entry_id: str) -> Entry | None:
        """The entry, or None."""

    def entries(self) -> list[Entry]:
        """Every entry, newest first."""

    def decide(self, entry_id: str, *, status: str, approval: str | None,
               now: float) -> Entry | None:
        """Decide a pending entry; None when it is not pending (or absent)."""


class SqliteInbox:
    """Entries in one SQLite table; ``:memory:`` for a throwaway inbox."""

    def __init__(self, path: str) -> None:
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("CREATE TABLE IF NOT EXISTS approval_requests (id TEXT PRIMARY KEY, "
                             "received REAL NOT NULL, data TEXT NOT NULL)")
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the inbox {path!r}: {exc}") from None
        self._lock = threading.Lock()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"approval inbox: {exc}") from None

    def put(self, entry: Entry) -> Entry:
        """Store a new pending entry; an entry with the same id is returned unchanged."""
        self._rows("INSERT OR IGNORE INTO approval_requests VALUES (?, ?, ?)",
                   (entry.id, entry.received, json.dumps(entry.to_json())))
        stored = self.get(entry.id)
        assert stored is not None
        return stored

    def get(self, entry_id: str) -> Entry | None:
        """The entry, or None."""
        rows = self._rows("SELECT data FROM approval_requests WHERE id = ?", (entry_id,))
        return Entry.from_json(json.loads(rows[0][0])) if rows else None

    def entries(self) -> list[Entry]:
        """Every entry, newest first."""
        rows = self._rows("SELECT data FROM approval_requests ORDER BY received DESC")
        return [Entry.from_json(json.loads(r[0])) for r in rows]

    def decide(self, entry_id: str, *, status: str, approval: str | None,
               now: float) -> Entry | None:
        """Decide a pending entry; None when it is not pending (or absent)."""
        with self._lock:
            try:
                row = self._db.execute("SELECT data FROM approval_requests WHERE id = ?",
                                       (entry_id,)).fetchone()
                if row is None:
                    return None
                entry = Entry.from_json(json.loads(row[0]))
                if entry.status != PENDING:
                    return None
                done = replace(entry, status=status, approval=approval, decided=now)
                self._db.execute("UPDATE approval_requests SET data = ? WHERE id = ?",
                                 (json.dumps(done.to_json()), entry_id))
                return done
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"approval inbox: {exc}") from None


class DirInbox:
    """One JSON file per entry, replaced atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._dir = Path(path)
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigurationError(f"cannot create the inbox {self._dir}: {exc}") from None
        self._lock = threading.Lock()

    def _path(self, entry_id: str) -> Path:
        return self._dir / f"{entry_id}.json"

    def _write(self, entry: Entry) -> None:
        tmp = self._dir / f".{entry.id}.tmp"
        try:
            tmp.write_text(json.dumps(entry.to_json()))
            os.replace(tmp, self._path(entry.id))
        except OSError as exc:
            raise StoreUnavailable(f"approval inbox: {exc}") from None

    def put(self, entry: Entry) -> Entry:
        """Store a new pending entry; an entry with the same id is returned unchanged."""
        with self._lock:
            existing = self.get(entry.id)
            if existing is not None:
                return existing
            self._write(entry)
            return entry

    def get(self, entry_id: str) -> Entry | None:
        """The entry, or None."""
        try:
            return Entry.from_json(json.loads(self._path(entry_id).read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            raise StoreUnavailable(f"approval inbox: {exc}") from None

    def entries(self) -> list[Entry]:
        """Every entry, newest first."""
        found = [self.get(p.stem) for p in self._dir.glob("*.json")]
        return sorted((e for e in found if e is not None), key=lambda e: -e.received)

    def decide(self, entry_id: str, *, status: str, approval: str | None,
               now: float) -> Entry | None:
        """Decide a pending entry; None when it is not pending (or absent)."""
        with self._lock:
            entry = self.get(entry_id)
            if entry is None or entry.status != PENDING:
                return None
            done = replace(entry, status=status, approval=approval, decided=now)
            self._write(done)
            return done


def open_inbox(spec: str | None) -> Inbox:
    """None: in memory. ``*.db``/``*.sqlite``/``*.sqlite3`` or ``sqlite:PATH``: SQLite.
    Anything else: a directory."""
    if spec is None or spec == ":memory:":
        return SqliteInbox(":memory:")
    if spec.startswith("sqlite:"):
        return SqliteInbox(spec.removeprefix("sqlite:").removeprefix("//") or ":memory:")
    if spec.endswith((".db", ".sqlite", ".sqlite3")):
        return SqliteInbox(spec)
    return DirInbox(spec)
