"""Timestamped Ed25519 cosignatures (tlog-cosignature v1): the spec example and mutations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ._errors import MalformedError
from writ._keys import PrivateKey
from writ.log._checkpoint import log_signer, sign_checkpoint
from writ.log._cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    check_cosignatures,
    cosigned_message,
)
from writ.log._note import Ed25519Verifier, Note, NoteSignature, compute_key_id, verify_note

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "c2sp" / "c2sp-examples.json").read_text()
)
ORIGIN = "writ.example/log"
LOG_KEY = PrivateKey(b"\x01" * 32)
W_KEY = PrivateKey(b"\x02" * 32)
NOTE = sign_checkpoint(ORIGIN, 9, bytes(range(32)), LOG_KEY)
TEXT = Note.parse(NOTE).text
T = 1_700_000_000


def test_spec_example_signature_layout() -> None:
    vec = VECTORS["cosignature_example"]
    note = Note.parse(vec["note"])
    cosig = next(s for s in note.signatures if s.name == vec["witness_name"])
    assert f"{cosig.key_id:08x}" == vec["witness_key_id"]
    # timestamped_signature: u64 big-endian timestamp, then the 64-byte Ed25519 signature.
    assert len(cosig.signature) == 72
    assert int.from_bytes(cosig.signature[:8], "big") == vec["timestamp"]


def test_spec_example_signed_message() -> None:
    vec = VECTORS["cosignature_example"]
    text = Note.parse(vec["note"]).text
    assert cosigned_message(text, vec["timestamp"]) == vec["signed_message"].encode()


def test_cosign_and_check() -> None:
    witness = CosignatureSigner("witness.example/w1", W_KEY)
    note = Note.parse(NOTE).with_signatures([witness.cosign(TEXT, timestamp=T)])
    result = check_cosignatures(note, [witness.verifier])
    assert [(c.name, c.timestamp) for c in result.valid] == [("witness.example/w1", T)]
    assert result.invalid == () and result.future == ()
    # The note still verifies for the log; the cosignature is just another signature.
    verify_note(note, [log_signer(ORIGIN, LOG_KEY).verifier])


def test_key_id_uses_type_byte_4() -> None:
    witness = CosignatureVerifier("w.example", W_KEY.public_key)
    assert witness.key_id == compute_key_id("w.example", 0x04, W_KEY.public_key.raw)
    assert witness.key_id != Ed25519Verifier("w.example", W_KEY.public_key).key_id
    assert CosignatureVerifier.from_vkey(witness.vkey).key_id == witness.key_id


def test_changed_timestamp_is_invalid() -> None:
    witness = CosignatureSigner("w.example", W_KEY)
    sig = witness.cosign(TEXT, timestamp=T)
    moved = NoteSignature(
        name=sig.name,
        key_id=sig.key_id,
        signature=(T + 1).to_bytes(8, "big") + sig.signature[8:],
    )
    result = check_cosignatures(Note.parse(NOTE).with_signatures([moved]), [witness.verifier])
    assert result.valid == () and result.invalid == ("w.example",)


def test_cosignature_over_another_checkpoint_is_invalid() -> None:
    witness = CosignatureSigner("w.example", W_KEY)
    other = Note.parse(sign_checkpoint(ORIGIN, 10, bytes(32), LOG_KEY))
    sig = witness.cosign(other.text, timestamp=T)
    result = check_cosignatures(Note.parse(NOTE).with_signatures([sig]), [witness.verifier])
    assert result.invalid == ("w.example",)


def test_plain_note_signature_by_the_witness_key_is_not_a_cosignature() -> None:
    # Domain separation: a type-0x01 signature by the same key and name has another key ID.
    plain = Note.parse(sign_checkpoint("w.example", 9, bytes(range(32)), W_KEY)).signatures[0]
    result = check_cosignatures(
        Note.parse(NOTE).with_signatures([plain]),
        [CosignatureVerifier("w.example", W_KEY.public_key)],
    )
    assert result.valid == () and result.invalid == ()


def test_future_timestamps_are_set_apart_when_now_is_given() -> None:
    witness = CosignatureSigner("w.example", W_KEY)
    note = Note.parse(NOTE).with_signatures([witness.cosign(TEXT, timestamp=T)])
    assert check_cosignatures(note, [witness.verifier], now=T - 1).future
    assert check_cosignatures(note, [witness.verifier], now=T).valid


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_timestamp_range(timestamp: int) -> None:
    with pytest.raises(MalformedError):
        cosigned_message(TEXT, timestamp)


@given(st.binary(max_size=100))
def test_verifier_never_raises_on_junk_signatures(junk: bytes) -> None:
    assert not CosignatureVerifier("w.example", W_KEY.public_key).verify(TEXT.encode(), junk)
