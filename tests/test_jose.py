"""The strict JWS compact serialisation (RFC 7515) Writ's tokens and proofs ride on.

The header is checked before anything else: ``alg`` pinned to ``Ed25519`` (RFC 9864;
``none``, ``EdDSA`` and MAC algorithms refused, AAT §8.13), an explicit ``typ``
(RFC 8725 §3.11), no ``crit`` (RFC 7515 §4.1.11). Then one flipped bit anywhere in a
token must make it fail to parse or fail to verify.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ import MalformedError, PrivateKey
from writ._b64 import b64u_decode, b64u_encode
from writ._jose import ALG, Jws, sign_compact
from writ._json import canonical
from writ._pop import POP_TYP
from writ._token import AAT_TYP

RFC8037 = json.loads((Path(__file__).parent / "vectors/rfc/rfc8037-ed25519-jwk.json").read_text())
KEY = PrivateKey(bytes(range(32)))
OTHER = PrivateKey(bytes(range(1, 33)))
TYP = "aat+jwt"
MAX = 65_536
PAYLOAD: dict[str, Any] = {
    "jti": "0191b5e4-0000-7000-8000-000000000000",
    "iat": 1704067200,
    "n": [1, 2.5, None, True],
    "s": "caf\u00e9 \U0001f600",
}


def _segment(obj: Any) -> str:
    return b64u_encode(json.dumps(obj, separators=(",", ":")).encode())


def _signed(
    header: Any,
    payload: Any = PAYLOAD,
    *,
    key: PrivateKey = KEY,
    raw_header: str | None = None,
    raw_payload: str | None = None,
) -> str:
    """A compact JWS with an arbitrary header, correctly signed, to isolate header checks."""
    h = b64u_encode(raw_header.encode()) if raw_header is not None else _segment(header)
    p = b64u_encode(raw_payload.encode()) if raw_payload is not None else _segment(payload)
    return f"{h}.{p}.{b64u_encode(key.sign(f'{h}.{p}'.encode()))}"


def _refused(compact: object, typ: str = TYP, max_size: int = MAX) -> None:
    with pytest.raises(MalformedError):
        Jws.parse(compact, typ=typ, max_size=max_size)


# --- Round trip -------------------------------------------------------------------------------


def test_sign_parse_verify_round_trip() -> None:
    compact = sign_compact(PAYLOAD, typ=TYP, key=KEY)
    jws = Jws.parse(compact, typ=TYP, max_size=MAX)
    assert jws.header == {"alg": "Ed25519", "typ": TYP}
    assert jws.verify(KEY.public_key)
    assert not jws.verify(OTHER.public_key)
    assert jws.payload() == PAYLOAD
    assert jws.compact == compact
    header_b64, payload_b64, signature_b64 = compact.split(".")
    assert jws.signing_input == f"{header_b64}.{payload_b64}".encode()
    assert jws.payload_b64 == payload_b64
    assert jws.signature == b64u_decode(signature_b64) and len(jws.signature) == 64


def test_header_and_payload_are_jcs_encoded() -> None:
    # AAT §3/§5.2: both parts are the RFC 8785 form, so every signer produces one byte string.
    header_b64, payload_b64, _ = sign_compact(PAYLOAD, typ=TYP, key=KEY).split(".")
    assert b64u_decode(header_b64) == canonical({"alg": ALG, "typ": TYP})
    assert b64u_decode(payload_b64) == canonical(PAYLOAD)


def test_signing_is_deterministic_and_the_hash_names_the_signing_input() -> None:
    a = Jws.parse(sign_compact(PAYLOAD, typ=TYP, key=KEY), typ=TYP, max_size=MAX)
    b = Jws.parse(
        sign_compact(dict(reversed(PAYLOAD.items())), typ=TYP, key=KEY), typ=TYP, max_size=MAX
    )
    assert a.compact == b.compact
    assert a.signing_input_hash == b64u_encode(hashlib.sha256(a.signing_input).digest())


@settings(max_examples=100, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(max_size=8),
        st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8) | st.booleans() | st.none(),
        max_size=6,
    )
)
def test_round_trip_for_any_payload(payload: dict[str, Any]) -> None:
    # Hypothesis' text may hold lone surrogates; those have no JCS form and refuse to sign.
    try:
        compact = sign_compact(payload, typ=POP_TYP, key=KEY)
    except MalformedError:
        assert any(
            "\ud800" <= c <= "\udfff"
            for k, v in payload.items()
            for c in k + (v if isinstance(v, str) else "")
        )
        return
    jws = Jws.parse(compact, typ=POP_TYP, max_size=MAX)
    assert jws.verify(KEY.public_key) and jws.payload() == payload


# --- Header checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alg",
    [
        "none",
        "None",
        "NONE",
        "EdDSA",
        "HS256",
        "RS256",
        "ES256",
        "ed25519",
        "Ed25519 ",
        "Ed448",
        "",
        None,
        0,
        ["Ed25519"],
        {"alg": "Ed25519"},
    ],
)
def test_any_alg_but_ed25519_is_refused(alg: Any) -> None:
    _refused(_signed({"alg": alg, "typ": TYP}))


def test_a_missing_alg_is_refused() -> None:
    _refused(_signed({"typ": TYP}))


def test_alg_none_with_an_empty_signature_is_refused() -> None:
    h, p = _segment({"alg": "none", "typ": TYP}), _segment(PAYLOAD)
    _refused(f"{h}.{p}.")


def test_rfc8037_a4_eddsa_example_is_refused() -> None:
    # RFC 9864 deprecates the polymorphic "EdDSA"; the signature is valid, the alg is not.
    jws = RFC8037["A.4_jws"]
    _refused(jws, typ="JWT")
    for typ in (TYP, POP_TYP):
        _refused(jws, typ=typ)


@pytest.mark.parametrize(
    "typ", [None, "", "JWT", "jwt", "aat-pop+jwt", "at+jwt", "dpop+jwt", "aat+jwt ", 1, ["aat+jwt"]]
)
def test_a_wrong_typ_is_refused(typ: Any) -> None:
    _refused(_signed({"alg": ALG, "typ": typ}))


def test_a_missing_typ_is_refused() -> None:
    _refused(_signed({"alg": ALG}))


def test_tokens_of_one_type_do_not_parse_as_another() -> None:
    # RFC 8725 §2.8, §3.11: a writ must not be accepted where a proof is expected, or back.
    writ = sign_compact(PAYLOAD, typ=AAT_TYP, key=KEY)
    proof = sign_compact(PAYLOAD, typ=POP_TYP, key=KEY)
    _refused(writ, typ=POP_TYP)
    _refused(proof, typ=AAT_TYP)


@pytest.mark.parametrize("crit", [[], ["exp"], ["b64"], "b64", None, [1]])
def test_crit_is_refused_in_any_form(crit: Any) -> None:
    _refused(_signed({"alg": ALG, "typ": TYP, "crit": crit, "b64": False, "exp": 1}))


@pytest.mark.parametrize(
    "raw",
    [
        '["Ed25519","aat+jwt"]',
        '"Ed25519"',
        "null",
        "1",
        "{",
        "",
        '{"alg":"Ed25519","typ":"aat+jwt","alg":"Ed25519"}',
        '{"alg":"none","typ":"aat+jwt","alg":"Ed25519"}',
        '{"alg":"Ed25519","typ":"aat+jwt"} x',
        '{"alg":"Ed25519","typ":"aat+jwt","n":NaN}',
    ],
    ids=[
        "array",
        "string",
        "null",
        "number",
        "truncated",
        "empty",
        "dup-alg",
        "dup-alg-none",
        "trailing",
        "nan",
    ],
)
def test_a_header_that_is_not_one_strict_json_object_is_refused(raw: str) -> None:
    _refused(_signed(None, raw_header=raw))


def test_extra_header_members_do_not_choose_the_key() -> None:
    # An embedded jwk/kid/jku (CVE-2018-0114 style) is never used: the caller names the key.
    attacker = OTHER
    compact = _signed(
        {
            "alg": ALG,
            "typ": TYP,
            "jwk": attacker.public_key.jwk,
            "kid": KEY.public_key.thumbprint,
            "jku": "https://evil.example/",
        },
        key=attacker,
    )
    jws = Jws.parse(compact, typ=TYP, max_size=MAX)
    assert not jws.verify(KEY.public_key)


def test_payload_is_parsed_strictly_only_when_asked() -> None:
    # The payload stays opaque in parse (AAT §7); payload() applies the strict parser.
    compact = _signed({"alg": ALG, "typ": TYP}, raw_payload='{"path":"/ok","path":"/etc"}')
    jws = Jws.parse(compact, typ=TYP, max_size=MAX)
    assert jws.verify(KEY.public_key)
    with pytest.raises(MalformedError):
        jws.payload()


# --- Shape checks -----------------------------------------------------------------------------

GOOD = sign_compact(PAYLOAD, typ=TYP, key=KEY)
H, P, S = GOOD.split(".")


@pytest.mark.parametrize(
    "compact",
    [
        "",
        ".",
        "..",
        "...",
        f"{H}.{P}",
        f"{H}.{P}.{S}.{S}",
        f"{H}.{P}.{S}.",
        f"{H}",
        f"{H}.{P}.{S}..",
        f".{H}.{P}.{S}",
        f"{H}..{P}.{S}",
    ],
    ids=[
        "empty",
        "1dot",
        "2dots",
        "3dots",
        "2seg",
        "4seg",
        "4seg-empty",
        "1seg",
        "5seg",
        "lead",
        "inner",
    ],
)
def test_anything_but_three_segments_is_refused(compact: str) -> None:
    _refused(compact)


@pytest.mark.parametrize(
    "compact",
    [
        f"{H}=.{P}.{S}",
        f"{H}==.{P}.{S}",
        f"{H}.{P}.{S}=",
        f"{H}.{P}.{S}==",
        f"{H}.{P}.{S[:10]}+{S[11:]}",
        f"{H}.{P}.{S[:10]}/{S[11:]}",
        f"{H[:4]}+{H[5:]}.{P}.{S}",
        f"{H}.{P}. {S}",
        f"{H}.{P}.{S}\n",
        f" {GOOD}",
    ],
    ids=[
        "pad-h",
        "pad2-h",
        "pad-s",
        "pad2-s",
        "plus-s",
        "slash-s",
        "plus-h",
        "space",
        "newline",
        "lead-space",
    ],
)
def test_padding_other_alphabets_and_whitespace_are_refused(compact: str) -> None:
    _refused(compact)


@pytest.mark.parametrize(
    "bad",
    [P + "=", P + "==", P.replace("-", "+").replace("_", "/"), P[:-1] + "*", P + "\t"],
    ids=["pad", "pad2", "std-alphabet", "star", "tab"],
)
def test_a_payload_segment_that_is_not_base64url_never_yields_claims(bad: str) -> None:
    # parse leaves the payload opaque (AAT §7: nothing is read before the signature). Even
    # when its holder signs the odd spelling, the strict decoder refuses it in payload().
    assert bad != P
    compact = f"{H}.{bad}.{b64u_encode(KEY.sign(f'{H}.{bad}'.encode()))}"
    try:
        jws = Jws.parse(compact, typ=TYP, max_size=MAX)
    except MalformedError:
        return
    assert jws.verify(KEY.public_key)
    with pytest.raises(MalformedError):
        jws.payload()
    # Under the original signature the altered spelling never verifies.
    assert not _still_valid(f"{H}.{bad}.{S}")


@pytest.mark.parametrize("where", [0, len(H) + 3, len(GOOD) - 1])
@pytest.mark.parametrize("char", ["\u00e9", "\u200b", "\uff0e", "\U0001f600", "\x80"])
def test_non_ascii_anywhere_is_refused(where: int, char: str) -> None:
    _refused(GOOD[:where] + char + GOOD[where:])


def test_the_size_limit_is_inclusive() -> None:
    assert Jws.parse(GOOD, typ=TYP, max_size=len(GOOD)).verify(KEY.public_key)
    _refused(GOOD, max_size=len(GOOD) - 1)
    _refused(GOOD + "A" * 10_000_000, max_size=MAX)


@pytest.mark.parametrize(
    "compact",
    [
        None,
        b"a.b.c",
        GOOD.encode(),
        3,
        ["a", "b", "c"],
        {"protected": H, "payload": P, "signature": S},
    ],
)
def test_a_compact_jws_is_a_str(compact: object) -> None:
    _refused(compact)


def test_json_serialisation_is_refused() -> None:
    _refused(json.dumps({"protected": H, "payload": P, "signature": S}))


@pytest.mark.parametrize(
    "signature", ["", b64u_encode(bytes(63)), b64u_encode(bytes(65)), b64u_encode(bytes(64))]
)
def test_a_wrong_signature_parses_but_never_verifies(signature: str) -> None:
    jws = Jws.parse(f"{H}.{P}.{signature}", typ=TYP, max_size=MAX)
    assert jws.verify(KEY.public_key) is False


# --- Mutations --------------------------------------------------------------------------------


def _flip(compact: str, bit: int) -> str:
    data = bytearray(compact.encode("ascii"))
    data[bit // 8] ^= 1 << (bit % 8)
    return data.decode("latin-1")


def _still_valid(compact: str, typ: str = TYP) -> bool:
    try:
        jws = Jws.parse(compact, typ=typ, max_size=MAX)
    except MalformedError:
        return False
    return jws.verify(KEY.public_key)


@pytest.mark.parametrize("typ", [AAT_TYP, POP_TYP])
def test_every_single_bit_flip_fails_parse_or_verify(typ: str) -> None:
    compact = sign_compact(PAYLOAD, typ=typ, key=KEY)
    assert _still_valid(compact, typ)
    failures = [bit for bit in range(len(compact) * 8) if _still_valid(_flip(compact, bit), typ)]
    assert failures == []


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_truncations_and_splices_fail(data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(GOOD) - 1))
    assert not _still_valid(GOOD[:cut])
    insert_at = data.draw(st.integers(0, len(GOOD)))
    junk = data.draw(st.text(alphabet="ABCabc012-_.=", min_size=1, max_size=4))
    assert not _still_valid(GOOD[:insert_at] + junk + GOOD[insert_at:])


@settings(max_examples=400, deadline=None)
@given(
    compact=st.text(max_size=200)
    | st.from_regex(r"[A-Za-z0-9_-]{0,40}(\.[A-Za-z0-9_=-]{0,40}){0,4}", fullmatch=True)
)
def test_parse_raises_only_malformed(compact: str) -> None:
    try:
        jws = Jws.parse(compact, typ=TYP, max_size=MAX)
    except MalformedError:
        return
    assert jws.verify(KEY.public_key) is False
