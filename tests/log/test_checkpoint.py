"""C2SP tlog checkpoints: the spec example, strict parsing, signing and opening."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ._errors import MalformedError
from writ._keys import PrivateKey
from writ.log._checkpoint import Checkpoint, log_verifier, open_checkpoint, sign_checkpoint
from writ.log._merkle import EMPTY_ROOT
from writ.log._note import Ed25519Verifier, Note, NoteSignatureError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "c2sp" / "c2sp-examples.json").read_text()
)
KEY = PrivateKey(b"\x11" * 32)
ROOT = bytes(range(32))
ORIGIN = "writ.example/log"


def test_spec_example_parses() -> None:
    vec = VECTORS["checkpoint_example"]
    cp = Checkpoint.parse(Note.parse(vec["note"]).text)
    assert (cp.origin, cp.size, cp.extensions) == (vec["origin"], vec["size"], ())
    assert cp.root_hash == base64.b64decode(vec["root_b64"])
    assert cp.render() == Note.parse(vec["note"]).text


def test_real_sumdb_checkpoint_opens() -> None:
    vec = VECTORS["sumdb_checkpoint"]
    verifier = Ed25519Verifier.from_vkey(vec["vkey"])
    cp = open_checkpoint(vec["note"], verifier, vec["origin"])
    assert (cp.origin, cp.size) == (vec["origin"], vec["size"])
    # Here the key name is not the origin, so the origin must be given explicitly.
    with pytest.raises(MalformedError, match="origin"):
        open_checkpoint(vec["note"], verifier)


def test_sign_then_open() -> None:
    note = sign_checkpoint(ORIGIN, 42, ROOT, KEY)
    assert note.startswith(f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n\n\u2014 {ORIGIN} ")
    cp = open_checkpoint(note, KEY.public_key, ORIGIN)
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 42, ROOT)
    # A bare key without an origin is named by the checkpoint's own origin line.
    assert open_checkpoint(note, KEY.public_key) == cp
    assert open_checkpoint(note, log_verifier(ORIGIN, KEY.public_key)) == cp


def test_extension_lines_are_signed_and_kept() -> None:
    note = sign_checkpoint(ORIGIN, 1, ROOT, KEY, extensions=["ext one", "ext two"])
    assert open_checkpoint(note, KEY.public_key, ORIGIN).extensions == ("ext one", "ext two")


def test_wrong_key_is_refused() -> None:
    note = sign_checkpoint(ORIGIN, 1, ROOT, KEY)
    with pytest.raises(NoteSignatureError) as err:
        open_checkpoint(note, PrivateKey(b"\x22" * 32).public_key, ORIGIN)
    assert err.value.kind == "no_trusted_signature"


def test_wrong_origin_is_refused() -> None:
    # Signed by the right key under its own name, but for another log's origin.
    note = sign_checkpoint("other.example/log", 1, ROOT, KEY)
    with pytest.raises(MalformedError, match="origin"):
        open_checkpoint(note, log_verifier("other.example/log", KEY.public_key), ORIGIN)


@pytest.mark.parametrize(
    "line, value", [(1, "43"), (2, base64.b64encode(bytes(32)).decode()), (0, "evil.example")]
)
def test_any_changed_line_breaks_the_signature(line: int, value: str) -> None:
    note = sign_checkpoint(ORIGIN, 42, ROOT, KEY)
    lines = note.split("\n")
    lines[line] = value
    with pytest.raises(MalformedError):
        open_checkpoint("\n".join(lines), log_verifier(ORIGIN, KEY.public_key), ORIGIN)


MALFORMED = {
    "two lines": "o\n1\n",
    "leading zero": f"o\n01\n{base64.b64encode(ROOT).decode()}\n",
    "negative": f"o\n-1\n{base64.b64encode(ROOT).decode()}\n",
    "plus sign": f"o\n+1\n{base64.b64encode(ROOT).decode()}\n",
    "short root": f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
    "unpadded root": f"o\n1\n{base64.b64encode(ROOT).decode().rstrip('=')}\n",
    "empty origin": f"\n1\n{base64.b64encode(ROOT).decode()}\n",
    "empty extension": f"o\n1\n{base64.b64encode(ROOT).decode()}\n\n",
    "no final newline": f"o\n1\n{base64.b64encode(ROOT).decode()}",
    "size too large": f"o\n{2**63}\n{base64.b64encode(ROOT).decode()}\n",
    "spaces in size": f"o\n 1\n{base64.b64encode(ROOT).decode()}\n",
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        Checkpoint.parse(text)


def test_empty_tree_checkpoint() -> None:
    cp = Checkpoint(origin=ORIGIN, size=0, root_hash=EMPTY_ROOT)
    assert Checkpoint.parse(cp.render()) == cp


@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_render_parse_round_trip(origin: str, size: int, root: bytes) -> None:
    cp = Checkpoint(origin=origin, size=size, root_hash=root)
    assert Checkpoint.parse(cp.render()) == cp


@given(st.text(max_size=200))
def test_parser_only_raises_malformed(text: str) -> None:
    try:
        Checkpoint.parse(text)
    except MalformedError:
        pass


@given(st.text(max_size=300))
def test_open_only_raises_malformed(text: str) -> None:
    try:
        open_checkpoint(text, KEY.public_key, ORIGIN)
    except MalformedError:
        pass
