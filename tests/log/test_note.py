"""C2SP signed notes: the spec's examples, strict parsing, and mutations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ._errors import MalformedError
from writ._keys import PrivateKey
from writ.log._note import (
    MAX_SIGNATURES,
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    NoteSignature,
    NoteSignatureError,
    VerifierKey,
    compute_key_id,
    sign_note,
    verify_note,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "c2sp" / "c2sp-examples.json").read_text()
)
EM = "\u2014"


def _key(n: int) -> PrivateKey:
    return PrivateKey(bytes([n]) * 32)


# --- the published examples ---------------------------------------------------------------


def test_spec_vkey_example_verifies() -> None:
    vec = VECTORS["signed_note_vkey_example"]
    verifier = Ed25519Verifier.from_vkey(vec["vkey"])
    note = Note.parse(vec["note"])
    assert note.text == vec["text"]
    assert verify_note(note, [verifier]) == note.signatures
    assert verifier.vkey == vec["vkey"]  # the vkey renders back byte for byte
    assert note.render() == vec["note"]


def test_spec_key_id_is_sha256_of_name_newline_type_key() -> None:
    vec = VECTORS["signed_note_vkey_example"]
    parsed = VerifierKey.parse(vec["vkey"])
    assert parsed.key_id == 0x530D903A == compute_key_id(parsed.name, 0x01, parsed.key)


def test_spec_intro_example_parses() -> None:
    vec = VECTORS["signed_note_intro_example"]
    note = Note.parse(vec["note"])
    # The text keeps its own blank line: the separator is the *last* empty line.
    assert note.text == vec["text"]
    (sig,) = note.signatures
    assert sig.name == vec["key_name"] and f"{sig.key_id:08x}" == vec["key_id"]
    assert note.render() == vec["note"]


def test_real_sumdb_note_verifies_and_vkey_base64_may_hold_plus() -> None:
    vec = VECTORS["sumdb_checkpoint"]
    assert vec["vkey"].count("+") > 2
    verify_note(Note.parse(vec["note"]), [Ed25519Verifier.from_vkey(vec["vkey"])])


def test_example_refused_by_a_different_key_with_the_same_name() -> None:
    vec = VECTORS["signed_note_vkey_example"]
    other = Ed25519Verifier("example.com/foo", _key(1).public_key)
    with pytest.raises(NoteSignatureError) as err:
        verify_note(vec["note"], [other])
    assert err.value.kind == "no_trusted_signature"


# --- mutations of the published example ------------------------------------------------------


def _mutations(note: str) -> list[str]:
    text, sig = note.split("\n\n", 1)
    name_end = sig.index(" ", 2)
    blob = sig[name_end + 1 : -1]
    flipped = blob[:10] + ("A" if blob[10] != "A" else "B") + blob[11:]
    return [
        text.replace("example", "exampIe") + "\n\n" + sig,  # text altered
        text + "\n\n" + sig[: name_end + 1] + flipped + "\n",  # signature byte altered
    ]


@pytest.mark.parametrize("index", [0, 1])
def test_mutated_example_is_rejected(index: int) -> None:
    vec = VECTORS["signed_note_vkey_example"]
    verifier = Ed25519Verifier.from_vkey(vec["vkey"])
    with pytest.raises(NoteSignatureError) as err:
        verify_note(_mutations(vec["note"])[index], [verifier])
    assert err.value.kind == "bad_signature"


def test_key_id_mismatch_means_unknown_key_not_bad_signature() -> None:
    vec = VECTORS["signed_note_vkey_example"]
    verifier = Ed25519Verifier.from_vkey(vec["vkey"])
    note = Note.parse(vec["note"])
    sig = note.signatures[0]
    moved = NoteSignature(name=sig.name, key_id=sig.key_id ^ 1, signature=sig.signature)
    with pytest.raises(NoteSignatureError) as err:
        verify_note(Note(text=note.text, signatures=(moved,)), [verifier])
    assert err.value.kind == "no_trusted_signature"


# --- signing and multiple signatures ---------------------------------------------------------


def test_sign_and_verify_round_trip_with_several_signatures() -> None:
    a, b = Ed25519Signer("a.example/log", _key(1)), Ed25519Signer("b.example/w", _key(2))
    note = sign_note("hello\nworld\n", [a, b])
    parsed = Note.parse(note.render())
    assert parsed == note
    assert [s.name for s in verify_note(parsed, [a.verifier, b.verifier])] == [
        "a.example/log",
        "b.example/w",
    ]
    assert verify_note(parsed, [b.verifier]) == (note.signatures[1],)  # others ignored


def test_unknown_signatures_are_ignored_but_a_bad_known_one_rejects_the_note() -> None:
    a, b = Ed25519Signer("a.example", _key(1)), Ed25519Signer("b.example", _key(2))
    good = sign_note("msg\n", [a])
    forged = NoteSignature(name="b.example", key_id=b.key_id, signature=bytes(64))
    stranger = NoteSignature(name="c.example", key_id=7, signature=bytes(64))
    assert verify_note(good.with_signatures([stranger]), [a.verifier]) == good.signatures
    with pytest.raises(NoteSignatureError) as err:
        verify_note(good.with_signatures([forged]), [a.verifier, b.verifier])
    assert err.value.kind == "bad_signature"


def test_accepts_at_least_sixteen_signatures() -> None:
    signers = [Ed25519Signer(f"k{i}.example", _key(i + 1)) for i in range(16)]
    note = sign_note("many\n", signers)
    assert len(verify_note(note.render(), [s.verifier for s in signers])) == 16


def test_refuses_too_many_signatures() -> None:
    line = f"{EM} k.example AAAAAAE=\n"
    with pytest.raises(MalformedError):
        Note.parse("t\n\n" + line * (MAX_SIGNATURES + 1))


# --- strict parsing -------------------------------------------------------------------------

SIG = f"{EM} k.example AAAAAAE="

MALFORMED = {
    "no blank line": f"text\n{SIG}\n",
    "no final newline": f"text\n\n{SIG}",
    "no signatures": "text\n\n",
    "empty signature line": f"text\n\n{SIG}\n\n",
    "hyphen instead of em dash": "text\n\n- k.example AAAAAAE=\n",
    "no space after dash": f"text\n\n{EM}k.example AAAAAAE=\n",
    "empty key name": f"text\n\n{EM}  AAAAAAE=\n",
    "plus in key name": f"text\n\n{EM} k+x AAAAAAE=\n",
    "unpadded base64": f"text\n\n{EM} k.example AAAAAAE\n",
    "urlsafe base64": f"text\n\n{EM} k.example AAAA_-E=\n",
    "signature too short": f"text\n\n{EM} k.example AAAAAA==\n",
    "trailing garbage": f"text\n\n{SIG} x\n",
    "carriage return": f"text\r\n\n{SIG}\n",
    "tab in text": f"te\txt\n\n{SIG}\n",
    "nul": f"te\x00xt\n\n{SIG}\n",
    "non-canonical base64": f"text\n\n{EM} k.example AAAAAAF=\n",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_notes_are_refused(data: str) -> None:
    with pytest.raises(MalformedError):
        Note.parse(data)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(MalformedError):
        Note.parse(b"caf\xe9\n\n" + SIG.encode() + b"\n")


def test_unicode_space_in_key_name_is_refused() -> None:
    with pytest.raises(MalformedError):
        Note.parse(f"text\n\n{EM} k\u00a0x AAAAAAE=\n")


VKEYS_BAD = {
    "two parts": "example.com/foo+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "uppercase hex": "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "wrong id": "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "wrong name": "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "short hex": "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "empty": "",
}


@pytest.mark.parametrize("vkey", VKEYS_BAD.values(), ids=VKEYS_BAD.keys())
def test_malformed_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(MalformedError):
        Ed25519Verifier.from_vkey(vkey)


def test_cosignature_vkey_is_not_a_log_vkey() -> None:
    pub = _key(3).public_key.raw
    vkey = VerifierKey(
        name="w.example", key_id=compute_key_id("w.example", 0x04, pub), sig_type=0x04, key=pub
    ).render()
    with pytest.raises(MalformedError):
        Ed25519Verifier.from_vkey(vkey)


# --- properties ----------------------------------------------------------------------------


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_parser_only_raises_malformed(data: str) -> None:
    try:
        Note.parse(data)
    except MalformedError:
        pass


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=80
    ).map(lambda s: s + "\n")
)
def test_parse_render_round_trip(text: str) -> None:
    note = sign_note(text, [Ed25519Signer("k.example", _key(5))])
    assert Note.parse(note.render()) == note


@given(st.binary(min_size=1, max_size=200))
def test_parser_only_raises_malformed_on_bytes(data: bytes) -> None:
    try:
        Note.parse(data)
    except MalformedError:
        pass


@given(st.text(max_size=120))
def test_vkey_parser_only_raises_malformed(data: str) -> None:
    try:
        VerifierKey.parse(data)
    except MalformedError:
        pass
