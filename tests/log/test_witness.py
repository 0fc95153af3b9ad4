"""The witness: cosigns consistent growth, refuses rollbacks and forks and keeps the evidence."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from writ._errors import MalformedError
from writ._keys import PrivateKey
from writ.log._checkpoint import log_verifier, sign_checkpoint
from writ.log._cosignature import check_cosignatures
from writ.log._merkle import (
    EMPTY_ROOT,
    consistency_proof,
    leaf_hash,
    root_from_leaf_hashes,
)
from writ.log._note import Note, b64std_encode
from writ.log._witness import Witness, WitnessRefusal, parse_add_checkpoint, witness_app

ORIGIN = "writ.example/log"
LOG_KEY = PrivateKey(b"\x01" * 32)
WITNESS_KEY = PrivateKey(b"\x02" * 32)
NOW = 1_800_000_000.0
VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "c2sp" / "c2sp-examples.json").read_text()
)


class Tree:
    """An in-memory RFC 9162 tree over numbered leaves, for real proofs."""

    def __init__(self, prefix: str = "leaf") -> None:
        self.hashes = [leaf_hash(f"{prefix}-{i}".encode()) for i in range(64)]

    def node(self, level: int, index: int) -> bytes:
        return root_from_leaf_hashes(self.hashes[index << level : (index + 1) << level])

    def root(self, size: int) -> bytes:
        return root_from_leaf_hashes(self.hashes[:size])

    def checkpoint(self, size: int, key: PrivateKey = LOG_KEY) -> str:
        return sign_checkpoint(ORIGIN, size, self.root(size), key)

    def proof(self, old: int, new: int) -> list[bytes]:
        return consistency_proof(old, new, self.node) if 0 < old < new else []


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    w = Witness(
        tmp_path / "witness.db",
        name="witness.example/w1",
        key=WITNESS_KEY,
        logs={ORIGIN: [log_verifier(ORIGIN, LOG_KEY.public_key)]},
    )
    yield w
    w.close()


def _grow(w: Witness, tree: Tree, old: int, new: int, now: float = NOW) -> str:
    return w.add_checkpoint(tree.checkpoint(new), tree.proof(old, new), old, now=now)


def test_happy_path_cosigns_and_the_cosignature_verifies(witness: Witness) -> None:
    tree = Tree()
    line = _grow(witness, tree, 0, 5)
    note = Note.parse(tree.checkpoint(5) + line)
    result = check_cosignatures(note, [witness.verifier])
    assert [(c.name, c.timestamp) for c in result.valid] == [("witness.example/w1", int(NOW))]
    line = _grow(witness, tree, 5, 13)
    assert check_cosignatures(Note.parse(tree.checkpoint(13) + line), [witness.verifier]).valid
    latest = witness.latest(ORIGIN)
    assert latest is not None and latest.startswith(tree.checkpoint(13).split("\n\n")[0])
    assert witness.evidence() == []


def test_same_checkpoint_twice_is_cosigned_again(witness: Witness) -> None:
    tree = Tree()
    _grow(witness, tree, 0, 7)
    assert _grow(witness, tree, 7, 7)


def test_rollback_is_refused_and_kept_as_evidence(witness: Witness) -> None:
    tree = Tree()
    _grow(witness, tree, 0, 10)
    with pytest.raises(WitnessRefusal) as err:
        _grow(witness, tree, 0, 4)  # a log offering an older, smaller tree
    assert err.value.kind == "rollback" and err.value.latest_size == 10
    (ev,) = witness.evidence(ORIGIN)
    assert ev.kind == "rollback"
    assert ev.cosigned_note.startswith(f"{ORIGIN}\n10\n")
    assert ev.submitted_note == tree.checkpoint(4)
    latest = witness.latest(ORIGIN)
    assert latest is not None and "\n10\n" in latest  # state did not move back


def test_fork_at_same_size_is_refused_with_evidence(witness: Witness) -> None:
    honest, forked = Tree(), Tree("other")
    _grow(witness, honest, 0, 8)
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(forked.checkpoint(8), [], 8, now=NOW)
    assert err.value.kind == "fork" and err.value.status == 422
    (ev,) = witness.evidence()
    assert (ev.kind, ev.old_size) == ("fork", 8)
    assert ev.submitted_note == forked.checkpoint(8)
    assert ev.cosigned_note.split("\n\n")[0] == honest.checkpoint(8).split("\n\n")[0]


def test_fork_hidden_behind_a_wrong_old_size_is_still_recorded(witness: Witness) -> None:
    honest, forked = Tree(), Tree("other")
    _grow(witness, honest, 0, 8)
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(forked.checkpoint(8), [], 0, now=NOW)
    assert err.value.kind == "fork" and err.value.status == 409
    assert [e.kind for e in witness.evidence()] == ["fork"]


def test_inconsistent_growth_is_refused_with_the_proof_kept(witness: Witness) -> None:
    honest, forked = Tree(), Tree("other")
    _grow(witness, honest, 0, 8)
    proof = forked.proof(8, 12)  # a real proof, but from another history
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(forked.checkpoint(12), proof, 8, now=NOW)
    assert (err.value.kind, err.value.status) == ("inconsistent", 422)
    (ev,) = witness.evidence()
    assert ev.kind == "inconsistent" and ev.proof == tuple(proof)
    latest = witness.latest(ORIGIN)
    assert latest is not None and "\n8\n" in latest


def test_stale_old_size_is_a_conflict_reporting_the_latest_size(witness: Witness) -> None:
    tree = Tree()
    _grow(witness, tree, 0, 8)
    with pytest.raises(WitnessRefusal) as err:
        _grow(witness, tree, 5, 12)
    assert (err.value.kind, err.value.status, err.value.latest_size) == ("conflict", 409, 8)
    assert witness.evidence() == []  # not misbehaviour, just a stale client


def test_unknown_origin_and_bad_signature(witness: Witness) -> None:
    tree = Tree()
    other = sign_checkpoint("unknown.example/log", 1, tree.root(1), LOG_KEY)
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(other, [], 0, now=NOW)
    assert err.value.status == 404
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(tree.checkpoint(1, PrivateKey(b"\x09" * 32)), [], 0, now=NOW)
    assert (err.value.kind, err.value.status) == ("bad_signature", 403)


def test_old_size_larger_than_checkpoint_is_a_bad_request(witness: Witness) -> None:
    tree = Tree()
    with pytest.raises(WitnessRefusal) as err:
        _grow(witness, tree, 0, 3)  # fine
        witness.add_checkpoint(tree.checkpoint(3), [], 9, now=NOW)
    assert err.value.status == 400


def test_empty_tree_must_have_the_empty_root(witness: Witness) -> None:
    bad = sign_checkpoint(ORIGIN, 0, bytes(32), LOG_KEY)
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(bad, [], 0, now=NOW)
    assert err.value.status == 422
    assert witness.add_checkpoint(sign_checkpoint(ORIGIN, 0, EMPTY_ROOT, LOG_KEY), [], 0, now=NOW)


def test_proof_with_old_size_zero_is_refused(witness: Witness) -> None:
    tree = Tree()
    with pytest.raises(WitnessRefusal) as err:
        witness.add_checkpoint(tree.checkpoint(4), [bytes(32)], 0, now=NOW)
    assert err.value.status == 422


def test_state_and_evidence_persist_across_reopen(tmp_path: Path) -> None:
    logs = {ORIGIN: [log_verifier(ORIGIN, LOG_KEY.public_key)]}
    tree = Tree()
    first = Witness(tmp_path / "w.db", name="w.example", key=WITNESS_KEY, logs=logs)
    _grow(first, tree, 0, 6)
    with pytest.raises(WitnessRefusal):
        _grow(first, tree, 0, 2)
    first.close()
    again = Witness(tmp_path / "w.db", name="w.example", key=WITNESS_KEY, logs=logs)
    try:
        with pytest.raises(WitnessRefusal) as err:
            _grow(again, tree, 0, 6)  # it remembers size 6
        assert err.value.latest_size == 6
        assert [e.kind for e in again.evidence()] == ["rollback"]
        assert _grow(again, tree, 6, 9)
    finally:
        again.close()


def test_concurrent_submissions_never_roll_back(witness: Witness) -> None:
    tree = Tree()
    _grow(witness, tree, 0, 2)
    results: list[int] = []

    def submit(size: int) -> None:
        try:
            _grow(witness, tree, 2, size)
            results.append(size)
        except WitnessRefusal:
            pass

    threads = [threading.Thread(target=submit, args=(s,)) for s in range(3, 40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1  # exactly one extension of size 2 wins
    latest = witness.latest(ORIGIN)
    assert latest is not None and f"\n{results[0]}\n" in latest


# --- wire format and HTTP -------------------------------------------------------------------


def test_spec_request_body_parses() -> None:
    vec = VECTORS["witness_add_checkpoint_request"]
    old, proof, note = parse_add_checkpoint(vec["body"].encode())
    assert old == vec["old_size"] and len(proof) == vec["proof_lines"]
    assert len(Note.parse(note).signatures) == vec["signatures"]


@pytest.mark.parametrize(
    "body",
    [
        b"old 01\n\nx",
        b"old -1\n\nx",
        b"old 1\n",
        b"older 1\n\nx",
        b"old 1\nAAAA\n\nx",
        b"old 1\n" + b"\n".join([b64std_encode(bytes(32)).encode()] * 64) + b"\n\nx",
    ],
)
def test_bad_request_bodies(body: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_add_checkpoint(body)


def _body(old: int, proof: list[bytes], note: str) -> bytes:
    return "".join([f"old {old}\n", *(b64std_encode(p) + "\n" for p in proof), "\n", note]).encode()


async def test_http_add_checkpoint(witness: Witness) -> None:
    tree = Tree()
    app = witness_app(witness, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://witness") as client:
        ok = await client.post("/add-checkpoint", content=_body(0, [], tree.checkpoint(4)))
        assert ok.status_code == 200 and ok.text.startswith("\u2014 witness.example/w1 ")
        stale = await client.post("/add-checkpoint", content=_body(0, [], tree.checkpoint(9)))
        assert stale.status_code == 409 and stale.text == "4\n"
        assert stale.headers["content-type"].startswith("text/x.tlog.size")
        bad = await client.post("/add-checkpoint", content=b"nonsense")
        assert bad.status_code == 400
        good = await client.post(
            "/add-checkpoint", content=_body(4, tree.proof(4, 9), tree.checkpoint(9))
        )
        assert good.status_code == 200
        digest = hashlib.sha256(ORIGIN.encode()).hexdigest()
        got = await client.get(f"/{digest}/checkpoint")
        assert got.status_code == 200 and got.text.startswith(f"{ORIGIN}\n9\n")
        assert (await client.get(f"/{'0' * 64}/checkpoint")).status_code == 404
