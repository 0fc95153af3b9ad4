"""In-process stores: for tests and single-process receivers that accept losing state on restart.

Memory is bounded. Expired entries are evicted first; when the store is full
of entries that are still live it raises ``StoreUnavailable`` rather than
forget one, because a forgotten nonce is a replay and a forgotten counter is
a fresh budget (fail-closed, DESIGN §3).
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence

from writ._errors import StoreUnavailable
from writ.stores._ledger import COUNTER_GRACE_S, Counter, check_replay, evaluate, micros, prepare
from writ.stores._protocols import Charge, ChargeResult, Revocation, check_text

__all__ = ["MemoryCounterStore", "MemoryReplayStore", "MemoryRevocationStore"]

DEFAULT_MAX_ENTRIES = 1_000_000
_SWEEP = 16  # expired entries dropped per write, so eviction cost stays bounded


class _Expiring:
    """A bounded dict whose entries carry a deadline, with an expiry heap beside it."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self.deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def sweep(self, now: float, limit: int | None) -> list[str]:
        """Drop entries whose deadline has passed, at most ``limit`` of them; return their keys."""
        dropped: list[str] = []
        while self._heap and self._heap[0][0] <= now and (limit is None or len(dropped) < limit):
            deadline, key = heapq.heappop(self._heap)
            # A key re-added later has a newer deadline; its stale heap entry is skipped.
            if self.deadlines.get(key) == deadline:
                del self.deadlines[key]
                dropped.append(key)
        return dropped

    def make_room(self, new_keys: int, now: float) -> list[str]:
        """Ensure ``new_keys`` more entries fit, evicting only expired ones; return those."""
        dropped = self.sweep(now, _SWEEP)
        if len(self.deadlines) + new_keys > self.max_entries:
            dropped += self.sweep(now, None)
        if len(self.deadlines) + new_keys > self.max_entries:
            raise StoreUnavailable("memory store is full of live entries; refusing to forget one")
        return dropped

    def put(self, key: str, deadline: float) -> None:
        """Set a key's deadline (``inf`` never expires)."""
        self.deadlines[key] = deadline
        if deadline != float("inf"):
            heapq.heappush(self._heap, (deadline, key))


class MemoryReplayStore:
    """Replay store in a bounded dict."""

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._entries = _Expiring(max_entries)
        self._lock = threading.Lock()

    def add_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record key until expires_at. True if it was new, False if seen and unexpired."""
        check_replay(key, expires_at, now)
        with self._lock:
            seen = self._entries.deadlines.get(key)
            if seen is not None and seen > now:
                return False
            self._entries.make_room(0 if seen is not None else 1, now)
            self._entries.put(key, expires_at)
            return True


class MemoryCounterStore:
    """Counter store in a bounded dict; a lock makes each charge atomic."""

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._states: dict[str, Counter] = {}
        self._expiry = _Expiring(max_entries)
        self._lock = threading.Lock()

    def charge(self, charges: Sequence[Charge], *, now: float) -> ChargeResult:
        """All-or-nothing: debit every charge, or none and say which limit refused."""
        limits = prepare(charges, now)
        if not limits:
            return ChargeResult(ok=True)
        with self._lock:
            result, updated = evaluate(limits, self._states, micros(now))
            if not result.ok:
                return result
            fresh = sum(1 for lim in limits if lim.key not in self._states)
            for key in self._expiry.make_room(fresh, now):
                del self._states[key]
            for lim in limits:
                forget_at = float("inf")
                if lim.expires_at is not None:
                    forget_at = lim.expires_at + COUNTER_GRACE_S
                known = self._expiry.deadlines.get(lim.key)
                if known is None or forget_at > known:  # one heap entry per change, not per call
                    self._expiry.put(lim.key, forget_at)
                self._states[lim.key] = updated[lim.key]
            return result


class MemoryRevocationStore:
    """Revocation store in a dict, with an append-only list as its change feed."""

    def __init__(self) -> None:
        self._by_jti: dict[str, dict[str, int]] = {}  # jti -> signer -> position in _log
        self._log: list[Revocation] = []
        self._lock = threading.Lock()

    def add(self, revocation: Revocation) -> None:
        """Store a revocation; adding the same (jti, signer) again changes nothing."""
        with self._lock:
            signers = self._by_jti.setdefault(revocation.jti, {})
            if revocation.signer not in signers:
                signers[revocation.signer] = len(self._log)
                self._log.append(revocation)

    def find(self, jtis: Sequence[str]) -> list[Revocation]:
        """The stored revocations naming any of these token ids, in the order stored."""
        wanted = {check_text("jti", j) for j in jtis}
        with self._lock:
            found = [i for jti in wanted for i in self._by_jti.get(jti, {}).values()]
            return [self._log[i] for i in sorted(found)]

    def all_since(self, cursor: int) -> tuple[list[Revocation], int]:
        """Revocations stored after ``cursor`` (0 = all), in order, and the new cursor."""
        with self._lock:
            return self._log[max(cursor, 0) :], len(self._log)
