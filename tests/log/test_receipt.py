"""Receipts: issued from a real SQLite log, checked offline, every mutation refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ._errors import ConfigurationError, MalformedError
from writ._keys import PrivateKey
from writ.log._appender import LogWriter, open_log
from writ.log._checkpoint import checkpoint_signer, log_verifier, sign_checkpoint
from writ.log._cosignature import CosignatureSigner
from writ.log._merkle import leaf_hash
from writ.log._note import Note
from writ.log._receipt import Receipt, issue_receipt, verify_receipt

ORIGIN = "writ.example/receiver-1"
KEY = PrivateKey(b"\x05" * 32)
OTHER = PrivateKey(b"\x06" * 32)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[LogWriter]:
    writer = open_log(f"sqlite://{tmp_path}/log.db", sign_checkpoint=checkpoint_signer(ORIGIN, KEY))
    yield writer
    writer.close()


def _record(i: int) -> bytes:
    return json.dumps({"v": 1, "decision": "allow", "n": i}, sort_keys=True).encode()


def _receipt(log: LogWriter, n: int = 11, pick: int = 6) -> Receipt:
    results = [log.append(_record(i)) for i in range(n)]
    last = results[-1]
    assert last.checkpoint is not None
    return issue_receipt(
        log,
        index=results[pick].index,
        leaf_hash=results[pick].leaf_hash,
        checkpoint=last.checkpoint,
    )


def test_receipt_from_a_real_log_verifies_offline(log: LogWriter) -> None:
    receipt = _receipt(log)
    result = verify_receipt(receipt, KEY.public_key, _record(6))
    assert result.ok and result.code == "ok" and result.index == 6
    assert result.checkpoint is not None and result.checkpoint.size == 11
    assert verify_receipt(receipt, log_verifier(ORIGIN, KEY.public_key).vkey).ok


def test_receipt_made_by_the_batch_checkpoint(log: LogWriter) -> None:
    # The checkpoint handed back with an append already covers that entry.
    res = log.append(_record(0))
    assert res.checkpoint is not None
    receipt = issue_receipt(
        log, index=res.index, leaf_hash=res.leaf_hash, checkpoint=res.checkpoint
    )
    assert verify_receipt(receipt, KEY.public_key, _record(0)).ok


@pytest.mark.parametrize("form", ["json", "json_text", "tlog", "header"])
def test_all_encodings_round_trip(log: LogWriter, form: str) -> None:
    receipt = _receipt(log)
    encoded: object = {
        "json": receipt.to_json(),
        "json_text": json.dumps(receipt.to_json()),
        "tlog": receipt.to_tlog_proof(),
        "header": receipt.to_header(),
    }[form]
    assert Receipt.load(encoded) == receipt
    assert verify_receipt(encoded, KEY.public_key, _record(6)).ok  # type: ignore[arg-type]


def test_header_form_is_one_header_safe_line(log: LogWriter) -> None:
    header = _receipt(log).to_header()
    assert header.isascii() and all(c.isalnum() or c in "-_" for c in header)
    assert len(header) < 4096


def test_tlog_proof_text_follows_c2sp(log: LogWriter) -> None:
    text = _receipt(log).to_tlog_proof()
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1].startswith("extra ") and lines[2] == "index 6"


def test_wrong_record_is_refused(log: LogWriter) -> None:
    result = verify_receipt(_receipt(log), KEY.public_key, _record(7))
    assert (result.ok, result.code) == (False, "leaf_mismatch")


def test_wrong_key_is_refused(log: LogWriter) -> None:
    result = verify_receipt(_receipt(log), OTHER.public_key)
    assert (result.ok, result.code) == (False, "wrong_key")


def test_wrong_origin_is_refused(log: LogWriter) -> None:
    result = verify_receipt(_receipt(log), KEY.public_key, origin="writ.example/other")
    assert result.code == "wrong_key"  # the key is named by origin, so no signature matches


def test_moved_index_is_refused(log: LogWriter) -> None:
    r = _receipt(log)
    moved = Receipt(leaf_hash=r.leaf_hash, index=5, proof=r.proof, checkpoint=r.checkpoint)
    assert verify_receipt(moved, KEY.public_key).code == "bad_proof"


@pytest.mark.parametrize("position", range(4))
def test_flipped_proof_bit_is_refused(log: LogWriter, position: int) -> None:
    r = _receipt(log)
    proof = list(r.proof)
    proof[position] = bytes([proof[position][0] ^ 1]) + proof[position][1:]
    bad = Receipt(leaf_hash=r.leaf_hash, index=r.index, proof=tuple(proof), checkpoint=r.checkpoint)
    assert verify_receipt(bad, KEY.public_key).code == "bad_proof"


def test_truncated_proof_is_refused(log: LogWriter) -> None:
    r = _receipt(log)
    bad = Receipt(leaf_hash=r.leaf_hash, index=r.index, proof=r.proof[:-1], checkpoint=r.checkpoint)
    assert verify_receipt(bad, KEY.public_key).code == "bad_proof"


def test_checkpoint_resigned_for_another_root_is_refused(log: LogWriter) -> None:
    r = _receipt(log)
    forged = sign_checkpoint(ORIGIN, 11, bytes(32), OTHER)
    bad = Receipt(leaf_hash=r.leaf_hash, index=r.index, proof=r.proof, checkpoint=forged)
    assert verify_receipt(bad, KEY.public_key).code == "wrong_key"


def test_edited_checkpoint_text_is_refused(log: LogWriter) -> None:
    r = _receipt(log)
    edited = r.checkpoint.replace("\n11\n", "\n12\n", 1)
    result = verify_receipt(
        Receipt(leaf_hash=r.leaf_hash, index=r.index, proof=r.proof, checkpoint=edited),
        KEY.public_key,
    )
    assert result.code == "bad_signature"


def test_witness_quorum(log: LogWriter) -> None:
    r = _receipt(log)
    witness = CosignatureSigner("witness.example/w1", PrivateKey(b"\x07" * 32))
    note = Note.parse(r.checkpoint)
    cosigned = note.with_signatures([witness.cosign(note.text, timestamp=1_800_000_000)]).render()
    r2 = Receipt(leaf_hash=r.leaf_hash, index=r.index, proof=r.proof, checkpoint=cosigned)
    ok = verify_receipt(r2, KEY.public_key, witnesses=[witness.verifier], min_witnesses=1)
    assert ok.ok and ok.cosigners == ("witness.example/w1",)
    few = verify_receipt(r, KEY.public_key, witnesses=[witness.verifier], min_witnesses=1)
    assert few.code == "too_few_witnesses"


def test_malformed_inputs_give_a_result_not_an_exception() -> None:
    for junk in ["", "{}", "not base64!", b"\xff", {"v": "writ-receipt/1"}, 42]:
        result = verify_receipt(junk, KEY.public_key)  # type: ignore[arg-type]
        assert (result.ok, result.code) == (False, "malformed")


def test_index_outside_the_tree_cannot_be_built() -> None:
    note = sign_checkpoint(ORIGIN, 3, bytes(32), KEY)
    with pytest.raises(MalformedError):
        Receipt(leaf_hash=leaf_hash(b"x"), index=3, proof=(), checkpoint=note)


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_receipt_parser_only_raises_malformed(data: str | bytes) -> None:
    try:
        Receipt.load(data)
    except MalformedError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["v", "leaf_hash", "index", "proof", "checkpoint"]),
        st.none() | st.integers() | st.text(max_size=20) | st.lists(st.text()),
    )
)
def test_receipt_json_parser_only_raises_malformed(data: dict[str, object]) -> None:
    try:
        Receipt.from_json(data)
    except MalformedError:
        pass


def test_an_unusable_key_string_is_a_configuration_error(log: LogWriter) -> None:
    with pytest.raises(ConfigurationError):
        verify_receipt(_receipt(log), "example.com/foo+00000000+AAAA")


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_verify_receipt_never_raises_on_hostile_input(data: str | bytes) -> None:
    result = verify_receipt(data, KEY.public_key)
    assert not result.ok and result.code == "malformed"
