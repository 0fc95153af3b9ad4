"""Redis stores: shared by every replica; each operation is one atomic Lua script.

The charging rule is ``_ledger.py`` transcribed to Lua and run by EVALSHA, so
a charge over every key in a chain is one atomic step on the server. All keys
of a charge must live on one node: Writ uses plain ``redis.Redis`` (a single
primary), not Redis Cluster. Integers stay below 2**53 (``MAX_EXACT``) so
Lua's doubles compute them exactly, and they are written back with ``%d`` so
no exponent notation ever reaches the database.

Expiry follows the caller's clock: a stored deadline is compared with the
``now`` passed in, and Redis's own TTL, set relative (PX), only reclaims
memory; it never decides. Retries are off: a script whose reply was lost may
have run, and running a debit twice would charge twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from writ._errors import StoreUnavailable
from writ.stores._ledger import COUNTER_GRACE_S, REPLAY_GRACE_S, check_replay, micros, prepare
from writ.stores._namespace import redis_prefix
from writ.stores._protocols import Charge, ChargeResult, LimitName, Revocation, check_text

__all__ = ["RedisCounterStore", "RedisReplayStore", "RedisRevocationStore", "connect"]

_REPLAY = """
local seen = redis.call('GET', KEYS[1])
if seen and tonumber(seen) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# ARGV: now_us, then per key: calls_max, interval_us, tolerance_us, spend_max,
# amount, ttl_ms; -1 means "no limit" / "no expiry". Same order as _ledger.evaluate.
_CHARGE = """
local now = tonumber(ARGV[1])
local function arg(i, j) return tonumber(ARGV[1 + (i - 1) * 6 + j]) end
local st = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'calls', 'spent', 'tat')
  st[i] = {tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0}
end
for i = 1, #KEYS do
  if arg(i, 2) >= 0 then
    local late = math.max(st[i][3], now) - now - arg(i, 3)
    if late > 0 then return {1, i, string.format('%d', late)} end
  end
end
for i = 1, #KEYS do
  if arg(i, 1) >= 0 and st[i][1] + 1 > arg(i, 1) then return {2, i, 'calls'} end
  if arg(i, 4) >= 0 and st[i][2] + arg(i, 5) > arg(i, 4) then return {2, i, 'spend'} end
end
for i = 1, #KEYS do
  local spent, tat = st[i][2], st[i][3]
  if arg(i, 4) >= 0 then spent = spent + arg(i, 5) end
  if arg(i, 2) >= 0 then tat = math.max(tat, now) + arg(i, 2) end
  redis.call('HSET', KEYS[i], 'calls', string.format('%d', st[i][1] + 1),
    'spent', string.format('%d', spent), 'tat', string.format('%d', tat))
  local ttl = arg(i, 6)
  if ttl > 0 then
    if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  else
    redis.call('PERSIST', KEYS[i])
  end
end
return {0}
"""

# KEYS: the jti's hash, the sequence counter, the change feed. ARGV: signer, record.
_REVOKE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[2])
local record = string.format('{"seq":%d,', seq) .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[1], ARGV[1], record)
redis.call('ZADD', KEYS[3], seq, record)
return seq
"""


def connect(url: str, *, timeout: float = 1.0) -> redis.Redis:
    """A client whose connect and socket operations give up after ``timeout`` seconds."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


@contextmanager
def _converted() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable(f"redis: {exc}") from exc


class RedisReplayStore:
    """Replay store: one key per nonce holding its deadline."""

    def __init__(self, client: redis.Redis, *, namespace: str = "writ") -> None:
        self._prefix = redis_prefix(namespace) + "r:"
        self._script = client.register_script(_REPLAY)

    def add_once(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record key until expires_at. True if it was new, False if seen and unexpired."""
        check_replay(key, expires_at, now)
        ttl_ms = math.ceil((expires_at - now + REPLAY_GRACE_S) * 1000)
        args = [micros(now), micros(expires_at), ttl_ms]
        with _converted():
            return int(self._script(keys=[self._prefix + key], args=args)) == 1


class RedisCounterStore:
    """Counter store: one hash per key (calls, spent, tat), charged by one script."""

    def __init__(self, client: redis.Redis, *, namespace: str = "writ") -> None:
        self._prefix = redis_prefix(namespace) + "c:"
        self._script = client.register_script(_CHARGE)

    def charge(self, charges: Sequence[Charge], *, now: float) -> ChargeResult:
        """All-or-nothing: debit every charge, or none and say which limit refused."""
        limits = prepare(charges, now)
        if not limits:
            return ChargeResult(ok=True)
        args: list[int] = [micros(now)]
        for lim in limits:
            ttl = -1
            if lim.expires_at is not None:
                ttl = max(1, math.ceil((lim.expires_at + COUNTER_GRACE_S - now) * 1000))
            args += [_or_none(lim.calls_max), _or_none(lim.interval_us),
                     _or_none(lim.tolerance_us), _or_none(lim.spend_max), lim.amount, ttl]
        with _converted():
            reply = self._script(keys=[self._prefix + lim.key for lim in limits], args=args)
        return _result(reply, [lim.key for lim in limits])


def _or_none(value: int | None) -> int:
    return -1 if value is None else value


def _result(reply: Any, keys: list[str]) -> ChargeResult:
    if int(reply[0]) == 0:
        return ChargeResult(ok=True)
    key = keys[int(reply[1]) - 1]
    if int(reply[0]) == 1:
        late = int(reply[2]) / 1_000_000
        return ChargeResult(
            ok=False, code="rate_limited", key=key, limit="rate", retry_after=late
        )
    limit: LimitName = "calls" if reply[2] == b"calls" else "spend"
    return ChargeResult(ok=False, code="budget_exhausted", key=key, limit=limit)


class RedisRevocationStore:
    """Revocation store: a hash per jti (signer → record) and a sorted-set change feed."""

    def __init__(self, client: redis.Redis, *, namespace: str = "writ") -> None:
        prefix = redis_prefix(namespace)
        self._client = client
        self._jti = prefix + "rv:"
        self._seq = prefix + "rvseq"
        self._feed = prefix + "rvfeed"
        self._script = client.register_script(_REVOKE)

    def add(self, revocation: Revocation) -> None:
        """Store a revocation; adding the same (jti, signer) again changes nothing."""
        r = revocation
        record = json.dumps(
            {"jti": r.jti, "signer": r.signer, "statement": r.statement, "issued_at": r.issued_at},
            separators=(",", ":"),
        )
        with _converted():
            self._script(keys=[self._jti + r.jti, self._seq, self._feed], args=[r.signer, record])

    def find(self, jtis: Sequence[str]) -> list[Revocation]:
        """The stored revocations naming any of these token ids, in the order stored."""
        wanted = [check_text("jti", j) for j in dict.fromkeys(jtis)]
        if not wanted:
            return []
        with _converted():
            pipe = self._client.pipeline(transaction=False)
            for jti in wanted:
                pipe.hvals(self._jti + jti)
            replies = pipe.execute()
        records = sorted((json.loads(v) for vals in replies for v in vals), key=lambda d: d["seq"])
        return [_revocation(d) for d in records]

    def all_since(self, cursor: int) -> tuple[list[Revocation], int]:
        """Revocations stored after ``cursor`` (0 = all), in order, and the new cursor."""
        with _converted():
            rows = cast(list[bytes], self._client.zrangebyscore(self._feed, f"({cursor}", "+inf"))
        records = [json.loads(v) for v in rows]
        return [_revocation(d) for d in records], (records[-1]["seq"] if records else cursor)


def _revocation(record: dict[str, Any]) -> Revocation:
    return Revocation(
        jti=record["jti"], signer=record["signer"],
        statement=record["statement"], issued_at=record["issued_at"],
    )
