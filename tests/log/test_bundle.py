"""Audit bundles: export a real SQLite log, verify offline, and detect each kind of tampering."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writ._errors import ConfigurationError, MalformedError
from writ._keys import PrivateKey
from writ.log._appender import LogWriter, open_log
from writ.log._audit import PROBLEM_CODES, BundleReport, verify_bundle
from writ.log._bundle import export_bundle, parse_bundle
from writ.log._checkpoint import checkpoint_signer, log_verifier, sign_checkpoint
from writ.log._cosignature import CosignatureSigner
from writ.log._note import Note
from writ.log._witness import Witness

ORIGIN = "writ.example/receiver-1"
KEY = PrivateKey(b"\x05" * 32)
OTHER = PrivateKey(b"\x06" * 32)
VKEY = log_verifier(ORIGIN, KEY.public_key).vkey
WITNESS = CosignatureSigner("witness.example/w1", PrivateKey(b"\x07" * 32))
N = 37


def _record(i: int) -> bytes:
    return json.dumps({"v": 1, "decision": "allow" if i % 3 else "deny", "n": i}).encode()


@pytest.fixture
def log(tmp_path: Path) -> Iterator[LogWriter]:
    writer = open_log(f"sqlite://{tmp_path}/log.db", sign_checkpoint=checkpoint_signer(ORIGIN, KEY))
    for i in range(N):
        writer.append(_record(i))
    yield writer
    writer.close()


def _checkpoint(log: LogWriter, size: int = N) -> str:
    return sign_checkpoint(ORIGIN, size, log.root(size), KEY)


def _cosigned(note: str) -> str:
    parsed = Note.parse(note)
    return parsed.with_signatures([WITNESS.cosign(parsed.text, timestamp=1_800_000_000)]).render()


def _export(log: LogWriter, **kw: Any) -> dict[str, Any]:
    return export_bundle(log, kw.pop("checkpoint", _checkpoint(log)), [VKEY], **kw)


def _codes(report: BundleReport) -> list[str]:
    return [p.code for p in report.problems]


def _flip(entry_b64: str) -> str:
    raw = bytearray(base64.b64decode(entry_b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# --- the happy paths --------------------------------------------------------------------------


def test_full_export_verifies_offline(log: LogWriter, tmp_path: Path) -> None:
    history = [_checkpoint(log, 5), _checkpoint(log, 16), _checkpoint(log, N)]
    bundle = _export(
        log,
        checkpoint=_cosigned(_checkpoint(log)),
        history=history,
        witness_keys=[WITNESS.verifier.vkey],
    )
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    seen: list[tuple[int, int]] = []
    report = verify_bundle(
        path.read_bytes(),
        KEY.public_key,
        witnesses=[WITNESS.verifier],
        min_witnesses=1,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert report.ok, report.problems
    assert (report.complete, report.entries_verified, report.tree_size) == (True, N, N)
    assert report.cosigners == ("witness.example/w1",)
    assert report.key_source == "given" and report.witness_source == "given"
    assert seen[-1] == (N, N)
    assert sum("consistent with the latest" in c for c in report.checks) == 3


def test_bundle_keys_alone_prove_only_internal_consistency(log: LogWriter) -> None:
    report = verify_bundle(_export(log))
    assert report.ok and report.key_source == "bundle"


def test_prefix_export_is_proven_but_not_complete(log: LogWriter) -> None:
    report = verify_bundle(_export(log, stop=20), VKEY)
    assert report.ok, report.problems
    assert (report.complete, report.entries_verified) == (False, 20)


def test_slice_export_uses_inclusion_proofs(log: LogWriter) -> None:
    report = verify_bundle(_export(log, start=10, stop=25), KEY.public_key)
    assert report.ok, report.problems
    assert (report.complete, report.entries_verified) == (False, 15)


def test_empty_log_bundle(tmp_path: Path) -> None:
    writer = open_log(f"sqlite://{tmp_path}/empty.db")
    try:
        report = verify_bundle(export_bundle(writer, _checkpoint(writer, 0), [VKEY]), VKEY)
    finally:
        writer.close()
    assert report.ok and report.complete and report.tree_size == 0


def test_export_refuses_a_checkpoint_from_another_log(log: LogWriter) -> None:
    with pytest.raises(ConfigurationError, match="root"):
        export_bundle(log, sign_checkpoint(ORIGIN, N, bytes(32), KEY), [VKEY])
    with pytest.raises(ConfigurationError, match="verify"):
        export_bundle(log, sign_checkpoint(ORIGIN, N, log.root(N), OTHER), [VKEY])


# --- tampering, each with its own finding ----------------------------------------------------


@pytest.mark.parametrize("index", [0, 17, N - 1])
def test_flipped_byte_in_an_entry_is_located(log: LogWriter, index: int) -> None:
    bundle = _export(log)
    bundle["entries"][index] = _flip(bundle["entries"][index])
    report = verify_bundle(bundle, KEY.public_key)
    assert not report.ok
    (problem,) = report.problems
    assert (problem.code, problem.index) == ("entry_altered", index)
    assert f"entry {index} has been altered" in problem.message
    assert report.entries_verified == N - 1


def test_altered_entry_and_index_together_still_fail(log: LogWriter) -> None:
    bundle = _export(log)
    bundle["entries"][3] = _flip(bundle["entries"][3])
    hashes = bytearray(base64.b64decode(bundle["leaf_hashes"]))
    hashes[3 * 32] ^= 1
    bundle["leaf_hashes"] = base64.b64encode(bytes(hashes)).decode()
    assert _codes(verify_bundle(bundle, KEY.public_key)) == ["root_mismatch"]


def test_altered_entry_in_a_slice_is_located(log: LogWriter) -> None:
    bundle = _export(log, start=10, stop=25)
    bundle["entries"][4] = _flip(bundle["entries"][4])
    report = verify_bundle(bundle, KEY.public_key)
    assert [(p.code, p.index) for p in report.problems] == [("entry_altered", 14)]


def test_dropped_tail_is_reported(log: LogWriter) -> None:
    bundle = _export(log)
    del bundle["entries"][30:]
    report = verify_bundle(bundle, KEY.public_key)
    assert [(p.code, p.index) for p in report.problems] == [("missing_tail", 30)]
    assert "entries 30..36 are missing" in report.problems[0].message
    assert report.entries_verified == 30  # what remains is still checked against the index


def test_dropped_tail_with_rewritten_bounds_is_reported(log: LogWriter) -> None:
    bundle = _export(log)
    del bundle["entries"][30:]
    bundle["stop"] = 30
    bundle["leaf_hashes"] = base64.b64encode(
        base64.b64decode(bundle["leaf_hashes"])[: 30 * 32]
    ).decode()
    report = verify_bundle(bundle, KEY.public_key)
    assert _codes(report) == ["missing_tail"]
    assert "covers 37 entries" in report.problems[0].message


def test_changed_checkpoint_is_a_bad_signature(log: LogWriter) -> None:
    bundle = _export(log)
    bundle["checkpoint"] = bundle["checkpoint"].replace(f"\n{N}\n", f"\n{N + 1}\n", 1)
    report = verify_bundle(bundle, KEY.public_key)
    assert _codes(report) == ["bad_signature"]


def test_checkpoint_resigned_by_another_key_is_the_wrong_key(log: LogWriter) -> None:
    bundle = _export(log)
    bundle["checkpoint"] = sign_checkpoint(ORIGIN, N, log.root(N), OTHER)
    bundle["log_keys"] = [log_verifier(ORIGIN, OTHER.public_key).vkey]
    assert verify_bundle(bundle).ok  # consistent with itself...
    report = verify_bundle(bundle, KEY.public_key)  # ...but not signed by the log's real key
    assert _codes(report) == ["wrong_key"]
    assert VKEY in report.problems[0].message


def test_verifying_with_a_different_key_is_the_wrong_key(log: LogWriter) -> None:
    report = verify_bundle(_export(log), OTHER.public_key)
    assert _codes(report) == ["wrong_key"] and not report.ok


def test_checkpoint_for_another_origin(log: LogWriter) -> None:
    bundle = _export(log)
    bundle["origin"] = "writ.example/elsewhere"
    report = verify_bundle(bundle, log_verifier(ORIGIN, KEY.public_key))
    assert _codes(report) == ["origin_mismatch"]


def test_forked_history_is_reported(log: LogWriter) -> None:
    bundle = _export(log, history=[_checkpoint(log, 12)])
    bundle["history"][0]["checkpoint"] = sign_checkpoint(ORIGIN, 12, bytes(32), KEY)
    report = verify_bundle(bundle, KEY.public_key)
    assert _codes(report) == ["bad_consistency"]
    assert "history checkpoint 0 (size 12)" in report.problems[0].message


def test_tampered_cosignature_is_reported(log: LogWriter) -> None:
    bundle = _export(log, checkpoint=_cosigned(_checkpoint(log)))
    lines = bundle["checkpoint"].split("\n")
    lines[-2] = lines[-2][:-8] + ("A" if lines[-2][-8] != "A" else "B") + lines[-2][-7:]
    bundle["checkpoint"] = "\n".join(lines)
    report = verify_bundle(bundle, KEY.public_key, witnesses=[WITNESS.verifier])
    assert "bad_cosignature" in _codes(report)


def test_missing_witness_quorum(log: LogWriter) -> None:
    report = verify_bundle(
        _export(log), KEY.public_key, witnesses=[WITNESS.verifier], min_witnesses=1
    )
    assert _codes(report) == ["too_few_witnesses"]


def test_tampering_never_raises(log: LogWriter) -> None:
    bundle = _export(log, start=3, stop=9)
    for key in list(bundle):
        broken = copy.deepcopy(bundle)
        broken[key] = {"unexpected": True}
        report = verify_bundle(broken, KEY.public_key)
        assert not report.ok and _codes(report) == ["malformed"]


# --- the parser ------------------------------------------------------------------------------


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_parser_only_raises_malformed(data: str | bytes) -> None:
    try:
        parse_bundle(data)
    except MalformedError:
        pass


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.data())
def test_parser_only_raises_malformed_on_mutated_members(
    log: LogWriter, data: st.DataObject
) -> None:
    bundle = _export(log, start=1, stop=4)
    key = data.draw(st.sampled_from(sorted(bundle)))
    original, bundle[key] = bundle[key], data.draw(_VALUES)
    try:
        parse_bundle(bundle)
    except MalformedError:
        pass
    # Any change is caught, except to the key lists, which an auditor's own keys override.
    report = verify_bundle(bundle, KEY.public_key)
    if json.dumps(bundle[key]) == json.dumps(original):
        assert report.ok
    elif key not in ("witness_keys", "log_keys"):
        assert not report.ok


def test_an_unusable_key_from_the_caller_is_a_configuration_error(log: LogWriter) -> None:
    with pytest.raises(ConfigurationError):
        verify_bundle(_export(log), "not a vkey")
    with pytest.raises(ConfigurationError):
        verify_bundle(_export(log), KEY.public_key, witnesses=[VKEY])  # a log key, not a witness's


def test_problem_codes_are_the_documented_set() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "audit.md").read_text()
    for code in PROBLEM_CODES:
        assert f"| `{code}` |" in doc


@pytest.mark.services
def test_export_from_postgresql_verifies(pg_url: str) -> None:
    writer = open_log(pg_url, sign_checkpoint=checkpoint_signer(ORIGIN, KEY))
    try:
        for i in range(N):
            writer.append(_record(i))
        bundle = export_bundle(
            writer, _checkpoint(writer), [VKEY], history=[_checkpoint(writer, 9)]
        )
    finally:
        writer.close()
    report = verify_bundle(json.dumps(bundle), KEY.public_key)
    assert report.ok and report.complete, report.problems
    bundle["entries"][20] = _flip(bundle["entries"][20])
    assert [p.index for p in verify_bundle(bundle, KEY.public_key).problems] == [20]


def test_witnessed_log_end_to_end(log: LogWriter, tmp_path: Path) -> None:
    witness = Witness(
        tmp_path / "witness.db",
        name="witness.example/w1",
        key=PrivateKey(b"\x08" * 32),
        logs={ORIGIN: [log_verifier(ORIGIN, KEY.public_key)]},
    )
    try:
        witness.add_checkpoint(_checkpoint(log, 10), [], 0, now=1_800_000_000)
        proof = log.consistency_proof(10, N)
        line = witness.add_checkpoint(_checkpoint(log), proof, 10, now=1_800_000_100)
    finally:
        witness.close()
    cosigned = _checkpoint(log) + line
    bundle = export_bundle(
        log, cosigned, [VKEY], witness_keys=[witness.verifier.vkey], history=[_checkpoint(log, 10)]
    )
    report = verify_bundle(bundle, KEY.public_key, witnesses=[witness.verifier], min_witnesses=1)
    assert report.ok and report.complete and report.cosigners == ("witness.example/w1",)
