"""The console's JSON API and the chain archive, over a real log, archive and witness."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _console_scene import Scene, build_scene, witness_scene
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writ import PrivateKey
from writ._chain import VerifiedChain
from writ._errors import ConfigurationError
from writ.cli._console import load_log_key
from writ.console import ChainArchive
from writ.console._app import ConsoleSources, build_app
from writ.log import open_log_reader, verify_inclusion
from writ.log._checkpoint import log_verifier, open_checkpoint
from writ.log._merkle import leaf_hash


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    s = build_scene(tmp_path)
    witness_scene(s)
    yield s
    s.close()


def _sources(scene: Scene, *, key: bool = True, witness: bool = True) -> ConsoleSources:
    return ConsoleSources(
        reader=open_log_reader(scene.log_url),
        archive=ChainArchive(scene.archive_path),
        witness_path=str(scene.witness_path) if witness else None,
        log_key=scene.log.key.public_key if key else None,
    )


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[httpx.AsyncClient]:
    sources = _sources(scene)
    transport = httpx.ASGITransport(app=build_app(sources))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c
    sources.close()


async def _json(client: httpx.AsyncClient, url: str, status: int = 200) -> Any:
    r = await client.get(url)
    assert r.status_code == status, r.text
    return r.json()


async def test_decisions_newest_first_and_after(client: httpx.AsyncClient) -> None:
    page = await _json(client, "/api/decisions")
    assert page["size"] == 8
    assert [d["index"] for d in page["decisions"]] == list(range(7, -1, -1))
    assert [d["code"] for d in page["decisions"][:4]] == [
        "proof_missing",
        None,
        "approval_required",
        "tool_not_granted",
    ]
    later = await _json(client, "/api/decisions?after=5")
    assert [d["index"] for d in later["decisions"]] == [7, 6]
    assert (await _json(client, "/api/decisions?after=7"))["decisions"] == []
    assert [d["index"] for d in (await _json(client, "/api/decisions?limit=2"))["decisions"]] == [
        7,
        6,
    ]
    older = await _json(client, "/api/decisions?before=3&limit=2")
    assert [d["index"] for d in older["decisions"]] == [2, 1]
    assert (await _json(client, "/api/decisions?before=0"))["decisions"] == []
    await _json(client, "/api/decisions?after=x", 400)


async def test_decision_detail_carries_the_archived_chain(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    detail = await _json(client, "/api/decision/3")  # the sub-agent's refund of 200
    assert detail["record"]["code"] == "argument_violation"
    root, child = detail["tokens"]
    assert root["depth"] == 0 and child["depth"] == 1
    assert child["tools"]["refund"]["amount"] == {"constraint_type": "range", "max": 50}
    assert child["budget"] == {"calls": 10} and root["budget"] == {"calls": 100}
    assert root["purpose"] == "Refunds for order disputes"
    assert child["approval"]["gates"][0]["tools"] == ["refund"]
    assert child["holder"] == detail["record"]["chain"]["agent"]
    assert (await _json(client, "/api/decision/7"))["tokens"] == []  # proof_missing: no chain
    await _json(client, "/api/decision/8", 404)
    await _json(client, "/api/decision/-1", 404)


async def test_proof_material_verifies_independently(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    for index in range(8):
        p = await _json(client, f"/api/proof/{index}")
        leaf = base64.b64decode(p["leaf_b64"])
        assert leaf == scene.log.writer.entry(index)
        assert base64.b64decode(p["leaf_hash_b64"]) == leaf_hash(leaf)
        checkpoint = open_checkpoint(p["checkpoint"], scene.log.key.public_key)
        assert checkpoint.size == p["tree_size"] == 8
        path = [base64.b64decode(h) for h in p["audit_path"]]
        assert verify_inclusion(leaf_hash(leaf), index, checkpoint.size, path, checkpoint.root_hash)
        assert base64.b64decode(p["log_key"]["public_key_b64"]) == scene.log.key.public_key.raw
    await _json(client, "/api/proof/8", 404)


async def test_graph_nests_sub_agents_under_agents(client: httpx.AsyncClient) -> None:
    graph = await _json(client, "/api/graph")
    (principal,) = graph["principals"]
    assert principal["iss"] == "https://security.target.example"
    support, search = principal["tokens"]
    assert set(support["tools"]) == {"refund", "read_orders"} and set(search["tools"]) == {"search"}
    (sub,) = support["children"]
    assert sub["depth"] == 1 and sub["iss"] == support["holder"] and sub["children"] == []


async def test_status_reports_checkpoint_witness_and_archive(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    status = await _json(client, "/api/status")
    assert status["log"]["size"] == 8
    cp = status["log"]["checkpoint"]
    assert cp["size"] == 8 and base64.b64decode(cp["root_b64"]) == scene.log.writer.root(8)
    assert cp["origin"] == scene.log.origin
    assert status["witness"]["latest_size"] == 8
    assert status["witness"]["evidence_count"] == 1
    assert status["witness"]["evidence"][0]["kind"] == "fork"
    assert status["archive"] == {"chains": 3, "tokens": 3}


async def test_checkpoint_is_reread_only_when_needed(scene: Scene) -> None:
    ticks = [0.0]
    sources = _sources(scene)
    sources.clock = lambda: ticks[0]
    first = sources.latest_checkpoint()
    assert first is not None and first.size == 8
    scene.call("support", "read_orders", {})  # the log grows to 9 entries
    assert sources.latest_checkpoint() is first  # within REFRESH_S: the cached one
    newer = sources.latest_checkpoint(covering=8)  # a proof of entry 8 needs a newer one
    assert newer is not None and newer.size == 9
    ticks[0] += 10
    assert sources.latest_checkpoint() is newer  # the log did not grow: no re-read needed
    sources.close()


async def test_without_key_or_witness(scene: Scene) -> None:
    sources = _sources(scene, key=False, witness=False)
    transport = httpx.ASGITransport(app=build_app(sources))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        status = await _json(c, "/api/status")
        assert status["witness"] is None and status["log_key"] is None
        assert (await _json(c, "/api/proof/0"))["log_key"] is None
    sources.close()


async def test_foreign_host_header_is_refused(client: httpx.AsyncClient) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the log.
    r = await client.get("/api/decisions", headers={"Host": "evil.example:8788"})
    assert r.status_code == 400
    r = await client.get("/api/decisions", headers={"Host": "localhost:8788"})
    assert r.status_code == 200


async def test_responses_carry_a_strict_csp(client: httpx.AsyncClient) -> None:
    for url in ("/", "/static/console.js", "/api/status"):
        r = await client.get(url)
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"


def test_archive_records_each_chain_once(scene: Scene, tmp_path: Path) -> None:
    chains = scene.archive.chains()
    assert len(chains) == 3 and sorted(len(c) for c in chains) == [1, 1, 2]
    sub_hashes = next(c for c in chains if len(c) == 2)
    tokens = {t.hash: t for t in scene.archive.tokens()}
    assert tokens[sub_hashes[1]].parent == sub_hashes[0] and tokens[sub_hashes[0]].parent is None
    assert scene.archive.lookup(sub_hashes) == {
        h: c for h, c in zip(sub_hashes, scene.chains["sub"])
    }
    # The same chain verified by a fresh verifier (a cache miss) adds nothing new.
    fresh = ChainArchive(scene.archive_path)
    verified = scene.verifier._chains.verify(scene.chains["sub"], now=scene.casts["sub"].now)
    fresh.record(verified)
    fresh.record(verified)
    assert fresh.counts() == (3, 3) and fresh.failures == 0
    fresh.close()


def test_a_broken_archive_never_changes_a_decision(scene: Scene) -> None:
    scene.archive._db.close()  # the archive's database is gone mid-flight
    cast = scene.casts["search"]
    chain = cast.root({"search": {}})  # a new chain: a cache miss calls the archive
    decision = scene.verifier.check(
        chain=chain, pop=cast.pop(chain, "search", {}), tool="search", args={}, now=cast.now
    )
    assert decision.allowed
    assert scene.archive.failures == 1
    scene.archive._db = sqlite3.connect(":memory:")  # let the fixture close something


def test_archive_hook_is_not_called_on_cache_hits(tmp_path: Path, scene: Scene) -> None:
    calls: list[VerifiedChain] = []
    archive = ChainArchive(tmp_path / "other.db")

    def spy(verified: VerifiedChain) -> None:
        calls.append(verified)
        archive.record(verified)

    scene.verifier._chains._on_new_chain = spy
    for n in range(3):
        scene.call("support", "read_orders", {"n": n} if n else {})
    assert len(calls) == 0  # the support chain was verified (and archived) before
    archive.close()


def test_log_key_forms(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    key.save(tmp_path / "log.key")
    (tmp_path / "pub.jwk").write_text(json.dumps(key.public_key.jwk))
    assert load_log_key(str(tmp_path / "log.key")) == (key.public_key, None)
    assert load_log_key(str(tmp_path / "pub.jwk")) == (key.public_key, None)
    vkey = log_verifier("example.org/log", key.public_key).vkey
    assert load_log_key(vkey) == (key.public_key, "example.org/log")
    with pytest.raises(ConfigurationError):
        load_log_key(str(tmp_path / "missing"))


@pytest.fixture(scope="module")
def paged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real 64-entry log (one entry not JSON) behind the console app."""
    from starlette.testclient import TestClient

    from writ.log import open_log
    from writ.log._checkpoint import checkpoint_signer

    root = tmp_path_factory.mktemp("paged")
    url = f"sqlite://{root}/log.db"
    writer = open_log(url, sign_checkpoint=checkpoint_signer("p.example/log", PrivateKey.generate()))
    for i in range(64):
        writer.append(b"\xff not json" if i == 13 else json.dumps({"id": str(i)}).encode())
    writer.close()
    sources = ConsoleSources(reader=open_log_reader(url), archive=ChainArchive(root / "a.db"))
    with TestClient(build_app(sources), base_url="http://127.0.0.1") as client:
        yield client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 70), start=st.integers(0, 80))
def test_paging_back_visits_every_entry_once(paged: Any, limit: int, start: int) -> None:
    seen: list[int] = []
    before = start
    while True:
        page = paged.get(f"/api/decisions?before={before}&limit={limit}").json()["decisions"]
        if not page:
            break
        assert len(page) <= limit
        seen += [d["index"] for d in page]
        before = page[-1]["index"]
    assert seen == list(range(min(start, 64) - 1, -1, -1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 70), after=st.integers(-1, 70))
def test_polling_after_returns_the_newest_entries_after(paged: Any, limit: int, after: int) -> None:
    page = paged.get(f"/api/decisions?after={after}&limit={limit}").json()
    indexes = [d["index"] for d in page["decisions"]]
    assert page["size"] == 64
    assert indexes == list(range(63, max(after, 63 - limit), -1))
    for d in page["decisions"]:
        assert ("error" in d) == (d["index"] == 13)
        assert d.get("id") in (None, str(d["index"]))
