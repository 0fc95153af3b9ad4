"""Replicas: two ``writ gateway`` processes behind one origin act as one receiver (issue 4).

Both replicas run the same configuration: the audience is the public origin
``http://writ.test`` (what agents sign for), state is one Redis database, the decision
log is one PostgreSQL schema, and ``WRIT_NONCE_SECRET`` is the same. The client
alternates replicas request by request from many threads, through a transport that
plays the load balancer (``_replica_cluster.Balancer``). Budgets must hold across
replicas exactly, a request used at one replica is a replay at the other, a
revocation loaded once stops the very next request at either, and afterwards the
one log holds every decision of both and verifies offline.

A second test runs one gateway with ``--workers 2`` on SQLite state and a SQLite log.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from _procs import WRIT
from _replica_cluster import (
    ISS,
    PUBLIC,
    Cluster,
    delete_writ_keys,
    events,
    free_redis_db,
    replicas,
)

from factory import Cast
from writ import Writ, sign_revocation
from writ._budget import Budget, Spend
from writ.http import WritAuth
from writ.log._appender import open_log_reader
from writ.log._audit import verify_bundle
from writ.log._bundle import export_bundle
from writ.log._checkpoint import log_verifier
from writ.log._receipt import verify_receipt

pytestmark = [pytest.mark.services, pytest.mark.slow]

ORIGIN = "writ.test/writ-decisions"  # the checkpoint origin: the audience's host (log_origin)
THREADS = 16


@pytest.fixture
def shared_redis(redis_url: str) -> Iterator[str]:
    """A Redis database no one else uses; the replicas' keys are deleted afterwards."""
    url = free_redis_db(redis_url)
    yield url
    delete_writ_keys(url)


@pytest.fixture
def cluster(tmp_path: Path, shared_redis: str, pg_url: str) -> Iterator[tuple[Cluster, Cast]]:
    cast = Cast(now=int(time.time()))
    with replicas(tmp_path, cast.principal, state=shared_redis, log_url=pg_url) as running:
        yield running, cast


def _hammer(
    cluster: Cluster, auth: httpx.Auth, count: int, send: Callable[[httpx.Client, int], Any]
) -> list[httpx.Response]:
    """``count`` requests from THREADS threads; request ``i`` goes to replica ``i % 2``."""
    with cluster.client(auth) as client, ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda i: send(client, i), range(count)))


def _codes(responses: list[httpx.Response]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in responses:
        code = "ok" if r.status_code == 200 else r.json()["code"]
        out[code] = out.get(code, 0) + 1
    return out


def _served(cluster: Cluster, method: str) -> list[dict[str, Any]]:
    lines = cluster.served.read_text().splitlines() if cluster.served.exists() else []
    return [s for s in map(json.loads, lines) if s["method"] == method]


def _calls_budget_is_exact(cluster: Cluster, cast: Cast) -> None:
    n = 20
    chain = cast.root({"read_customer": {}}, iss=ISS, budget=Budget(calls=n))
    auth = WritAuth(chain, cast.agents[0])

    def get(client: httpx.Client, i: int) -> httpx.Response:
        return client.get(f"{PUBLIC}/customers/{i}", extensions={"replica": i % 2})

    responses = _hammer(cluster, auth, 3 * n, get)
    assert _codes(responses) == {"ok": n, "budget_exhausted": 2 * n}
    assert len(_served(cluster, "GET")) == n  # and the upstream saw exactly those


def _spend_budget_is_exact(cluster: Cluster, cast: Cast) -> None:
    budget = Budget(spend=Spend(arg="amount", currency="EUR", max=Decimal("10.00")))
    chain = cast.root({"pay": {}}, iss=ISS, budget=budget)
    auth, amount = WritAuth(chain, cast.agents[0]), Decimal("0.37")

    def pay(client: httpx.Client, i: int) -> httpx.Response:
        return client.post(
            f"{PUBLIC}/customers/{i}", json={"amount": str(amount)}, extensions={"replica": i % 2}
        )

    responses = _hammer(cluster, auth, 60, pay)
    accepted = [r for r in responses if r.status_code == 200]
    assert _codes(responses) == {"ok": 27, "budget_exhausted": 33}  # 27 x 0.37 = 9.99
    paid = sum(
        (Decimal(json.loads(s["body"])["amount"]) for s in _served(cluster, "POST")), Decimal(0)
    )
    assert paid == len(accepted) * amount == Decimal("9.99") <= Decimal("10.00")


def _replay_at_the_other_replica_is_refused(cluster: Cluster, cast: Cast) -> None:
    chain = cast.root({"read_customer": {}}, iss=ISS)
    with cluster.client(WritAuth(chain, cast.agents[0])) as client:
        first = client.get(f"{PUBLIC}/customers/7", extensions={"replica": 0})
    assert first.status_code == 200
    signed = first.request  # exactly as it went on the wire, Host: writ.test included
    replay = httpx.Request(
        "GET",
        f"{PUBLIC}/customers/7",
        headers=signed.headers.multi_items(),
        extensions={"replica": 1},
    )
    with cluster.client() as raw:
        again = raw.send(replay)
    assert again.status_code == 401 and again.json()["code"] == "replayed"


def _status(client: httpx.Client, replica: int) -> tuple[int, str | None]:
    r = client.get(f"{PUBLIC}/customers/8", extensions={"replica": replica})
    return r.status_code, None if r.status_code == 200 else r.json()["code"]


def _revocation_loaded_by_the_cli_stops_the_next_request_at_either(
    cluster: Cluster, cast: Cast
) -> None:
    chain = cast.root({"read_customer": {}}, iss=ISS)
    with cluster.client(WritAuth(chain, cast.agents[0])) as client:
        assert _status(client, 0) == _status(client, 1) == (200, None)
        jti = Writ.parse_unverified(chain[0], root=True).jti
        statement = cluster.tmp / "stop.jws"
        statement.write_text(sign_revocation(key=cast.principal, jti=jti, now=int(time.time())))
        # Loaded into the shared store by the CLI; neither replica is told anything.
        subprocess.run(
            [
                *WRIT,
                "revocations",
                "load",
                "--receiver",
                str(cluster.tmp / "receiver.toml"),
                str(statement),
            ],
            check=True,
            capture_output=True,
        )
        # The bound is "immediately": every decision reads revocations from the store.
        assert _status(client, 1) == (403, "revoked")
        assert _status(client, 0) == (403, "revoked")


def _revocation_reloaded_at_one_replica_stops_the_next_request_at_the_other(
    cluster: Cluster, cast: Cast
) -> None:
    chain = cast.root({"read_customer": {}}, iss=ISS)
    with cluster.client(WritAuth(chain, cast.agents[0])) as client:
        assert _status(client, 0) == _status(client, 1) == (200, None)
        jti = Writ.parse_unverified(chain[0], root=True).jti
        (cluster.tmp / "revocations" / "stop-2.jws").write_text(
            sign_revocation(key=cast.principal, jti=jti, now=int(time.time()))
        )
        log_a = cluster.tmp / "replica-0.log"
        reloads = len([e for e in events(log_a) if e.get("event") == "reloaded"])
        cluster.processes[0].send_signal(signal.SIGHUP)  # replica A only
        _poll(lambda: len([e for e in events(log_a) if e.get("event") == "reloaded"]) > reloads)
        # B never reloaded: A put the statement in the shared store, B reads it per decision.
        assert _status(client, 1) == (403, "revoked")


def _poll(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for another process to report something (its event log); no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def _one_log_holds_every_decision_and_verifies(cluster: Cluster) -> dict[int, int]:
    verifier = log_verifier(ORIGIN, cluster.log_key.public_key)
    with open_log_reader(cluster.log_url) as reader:
        size = reader.size()
        assert size == cluster.traffic.decisions  # one entry per decision, from both replicas
        report = reader.verify_integrity()
        assert report.ok, str(report)
        receipts = cluster.traffic.receipts
        assert len(receipts) == size
        assert sorted(r.index for _, r in receipts) == list(range(size))
        for _, receipt in receipts:
            assert reader.leaf_hash(receipt.index) == receipt.leaf_hash
            result = verify_receipt(receipt, verifier.vkey)
            assert result.ok, result.reason
        notes = [cp.note for cp in reader.checkpoints() if cp.note is not None]
        bundle = export_bundle(reader, notes[-1], [verifier], history=notes[:-1:7])
    audit = verify_bundle(bundle, verifier)
    assert audit.ok, audit
    by_replica = {0: 0, 1: 0}
    for replica, _ in receipts:
        by_replica[replica] += 1
    assert min(by_replica.values()) > 0
    return by_replica


def test_two_replicas_act_as_one_receiver(cluster: tuple[Cluster, Cast]) -> None:
    running, cast = cluster
    timings = {}
    for step in (
        _calls_budget_is_exact,
        _spend_budget_is_exact,
        _replay_at_the_other_replica_is_refused,
        _revocation_loaded_by_the_cli_stops_the_next_request_at_either,
        _revocation_reloaded_at_one_replica_stops_the_next_request_at_the_other,
    ):
        began = time.perf_counter()
        step(running, cast)
        timings[step.__name__] = round(time.perf_counter() - began, 3)
    by_replica = _one_log_holds_every_decision_and_verifies(running)
    print(f"replicas: {timings}; log entries by replica {by_replica}")


def test_one_gateway_with_two_workers_shares_a_sqlite_log(tmp_path: Path) -> None:
    cast = Cast(now=int(time.time()))
    n = 150
    chain = cast.root({"read_customer": {}}, iss=ISS, budget=Budget(calls=n))
    with replicas(
        tmp_path,
        cast.principal,
        state="sqlite:state.db",
        log_url="sqlite:log.db",
        count=1,
        workers=2,
    ) as running:

        def get(client: httpx.Client, i: int) -> httpx.Response:
            return client.get(f"{PUBLIC}/customers/{i}", extensions={"replica": 0})

        began = time.perf_counter()
        responses = _hammer(running, WritAuth(chain, cast.agents[0]), n + 50, get)
        elapsed = time.perf_counter() - began
    assert _codes(responses) == {"ok": n, "budget_exhausted": 50}
    started = {e["pid"] for e in events(tmp_path / "replica-0.log") if e.get("event") == "started"}
    assert len(started) == 2  # two worker processes, each with its own log writer
    receipts = [r for _, r in running.traffic.receipts]
    verifier = log_verifier(ORIGIN, running.log_key.public_key)
    with open_log_reader(f"sqlite://{tmp_path / 'log.db'}") as reader:
        assert reader.size() == running.traffic.decisions == n + 50
        assert reader.verify_integrity().ok
        assert sorted(r.index for r in receipts) == list(range(n + 50))
        assert all(verify_receipt(r, verifier.vkey).ok for r in receipts)
    print(f"--workers 2: {n + 50} decisions in {elapsed:.2f} s")
