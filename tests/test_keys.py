"""Ed25519 keys against the RFCs: RFC 8032 §7.1, RFC 8037 Appendix A, RFC 7638 §3.1, RFC 9278.

Every vector is read from ``tests/vectors/rfc/`` (see its README for provenance) and
checked three ways where the RFC allows: the public key re-derived from the secret, the
signature reproduced byte for byte (Ed25519 is deterministic, RFC 8032 §5.1.6), and the
signature verified. Then the key file and the JWK parser are pushed with hostile input.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ import ConfigurationError, MalformedError, PrivateKey, PublicKey
from writ._b64 import b64u_decode, b64u_encode
from writ._keys import THUMBPRINT_URI_PREFIX

RFC = Path(__file__).parent / "vectors" / "rfc"
RFC8032 = json.loads((RFC / "rfc8032-ed25519.json").read_text())["tests"]
RFC8037 = json.loads((RFC / "rfc8037-ed25519-jwk.json").read_text())
RFC7638 = json.loads((RFC / "rfc7638-thumbprint.json").read_text())

# RFC 8032 §5.1: the order of the base point; a valid S is below it (§5.1.7 step 1).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493

# RFC 7638 §3.2: the members a thumbprint covers, per key type (RFC 7518 §6, RFC 8037 §2).
REQUIRED_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}


def _hex(lines: list[str]) -> bytes:
    return bytes.fromhex("".join(lines))


def rfc7638_thumbprint(jwk: Mapping[str, Any]) -> str:
    """A reference RFC 7638 thumbprint for any key type, independent of Writ's code."""
    required = {name: jwk[name] for name in REQUIRED_MEMBERS[jwk["kty"]]}
    # §3.3: no whitespace, members in lexicographic order of their names, UTF-8.
    text = json.dumps(required, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64u_encode(hashlib.sha256(text.encode("utf-8")).digest())


# --- RFC 8032 §7.1 ---------------------------------------------------------------------------


def test_rfc8032_suite_is_whole() -> None:
    names = [t["name"] for t in RFC8032]
    assert names == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]
    assert [len(_hex(t["message"])) for t in RFC8032] == [t["message_length"] for t in RFC8032]
    assert [t["message_length"] for t in RFC8032] == [0, 1, 2, 1023, 64]


def test_rfc8032_sha_abc_message_is_sha512_of_abc() -> None:
    # The RFC names the message of its last test by how it was made: SHA-512("abc").
    assert _hex(RFC8032[4]["message"]) == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("vector", RFC8032, ids=[t["name"] for t in RFC8032])
def test_rfc8032_vector(vector: dict[str, Any]) -> None:
    seed, public, message = (
        _hex(vector["secret_key"]),
        _hex(vector["public_key"]),
        _hex(vector["message"]),
    )
    signature = _hex(vector["signature"])
    key = PrivateKey(seed)
    assert key.public_key.raw == public
    assert key.sign(message) == signature
    assert PublicKey(public).verify(signature, message)
    # An independent implementation agrees on the same bytes.
    assert bytes(nacl.signing.SigningKey(seed).verify_key) == public


@pytest.mark.parametrize("vector", RFC8032, ids=[t["name"] for t in RFC8032])
def test_rfc8032_every_single_bit_flip_in_the_signature_fails(vector: dict[str, Any]) -> None:
    public, message = PublicKey(_hex(vector["public_key"])), _hex(vector["message"])
    signature = _hex(vector["signature"])
    for bit in range(len(signature) * 8):
        mutated = bytearray(signature)
        mutated[bit // 8] ^= 1 << (bit % 8)
        assert not public.verify(bytes(mutated), message), bit


@pytest.mark.parametrize("vector", RFC8032, ids=[t["name"] for t in RFC8032])
def test_rfc8032_other_message_or_key_fails(vector: dict[str, Any]) -> None:
    public, message = PublicKey(_hex(vector["public_key"])), _hex(vector["message"])
    signature = _hex(vector["signature"])
    assert not public.verify(signature, message + b"\x00")
    if message:
        assert not public.verify(signature, bytes([message[0] ^ 1]) + message[1:])
        assert not public.verify(signature, message[:-1])
    other = next(t for t in RFC8032 if t is not vector)
    assert not PublicKey(_hex(other["public_key"])).verify(signature, message)


@pytest.mark.parametrize("vector", RFC8032, ids=[t["name"] for t in RFC8032])
def test_rfc8032_non_canonical_s_is_refused(vector: dict[str, Any]) -> None:
    # RFC 8032 §5.1.7 step 1: S must be below L, else S + L would be a second valid
    # signature for the same message (malleability).
    public, message = PublicKey(_hex(vector["public_key"])), _hex(vector["message"])
    signature = _hex(vector["signature"])
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + GROUP_ORDER).to_bytes(32, "little")
    assert not public.verify(malleated, message)


# The eight points of small order (1, 2, 4, 8) on edwards25519, as 32-byte encodings; each was
# checked to satisfy [8]P = identity when these tests were written.
SMALL_ORDER = [
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    )
]


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=[r.hex()[:8] + r.hex()[-2:] for r in SMALL_ORDER])
def test_small_order_keys_verify_nothing(raw: bytes) -> None:
    # With a small-order A, [k]A cycles through at most 8 points, so a naive verifier accepts
    # R = A or R = identity with S = 0 for many messages: anyone could sign for that holder.
    # A delegator can put any 32 bytes in cnf.jwk, so the key check must be in verify.
    key = PublicKey(raw)
    for r in SMALL_ORDER:
        for message in (b"", b"a", b"Example of Ed25519 signing", bytes(range(64))):
            assert not key.verify(r + bytes(32), message)


@pytest.mark.parametrize("length", [0, 1, 63, 65, 128])
def test_verify_refuses_signatures_of_the_wrong_length(length: int) -> None:
    vector = RFC8032[0]
    public = PublicKey(_hex(vector["public_key"]))
    signature = (_hex(vector["signature"]) * 3)[:length]
    assert public.verify(signature, b"") is False


@settings(max_examples=200, deadline=None)
@given(
    raw=st.binary(min_size=32, max_size=32),
    signature=st.binary(min_size=0, max_size=80),
    message=st.binary(max_size=64),
)
def test_verify_never_raises_on_arbitrary_keys_and_signatures(
    raw: bytes, signature: bytes, message: bytes
) -> None:
    # Not every 32-byte string is a curve point; verify must still answer False, not raise.
    assert PublicKey(raw).verify(signature, message) in (True, False)


# --- RFC 8037 Appendix A ---------------------------------------------------------------------


def test_rfc8037_a1_private_key_loads_and_derives_a2() -> None:
    key = PrivateKey.from_jwk(RFC8037["A.1_private_key"])
    assert key.public_key.jwk == RFC8037["A.2_public_key"]
    assert key.private_jwk() == RFC8037["A.1_private_key"]
    # A.1's d is the seed of RFC 8032 TEST 1.
    assert b64u_decode(RFC8037["A.1_private_key"]["d"]) == _hex(RFC8032[0]["secret_key"])


def test_rfc8037_a2_public_key_parses() -> None:
    key = PublicKey.from_jwk(RFC8037["A.2_public_key"])
    assert key.raw == _hex(RFC8032[0]["public_key"])
    assert key.jwk == RFC8037["A.2_public_key"]


def test_rfc8037_a3_thumbprint() -> None:
    key = PublicKey.from_jwk(RFC8037["A.2_public_key"])
    assert key.thumbprint == RFC8037["A.3_thumbprint"]
    assert rfc7638_thumbprint(RFC8037["A.2_public_key"]) == RFC8037["A.3_thumbprint"]
    # A.3 prints the exact JSON that is hashed.
    digest = hashlib.sha256(RFC8037["A.3_thumbprint_input"].encode()).digest()
    assert b64u_encode(digest) == RFC8037["A.3_thumbprint"]


def test_rfc8037_a3_thumbprint_ignores_optional_members() -> None:
    # RFC 7638 §3.2: only the required members are hashed; kid/alg/use change nothing.
    jwk = {**RFC8037["A.2_public_key"], "kid": "x", "alg": "Ed25519", "use": "sig"}
    assert PublicKey.from_jwk(jwk).thumbprint == RFC8037["A.3_thumbprint"]


def test_rfc8037_a4_signature_is_reproduced_and_verifies() -> None:
    key = PrivateKey.from_jwk(RFC8037["A.1_private_key"])
    signing_input = RFC8037["A.4_signing_input"].encode("ascii")
    header_b64, payload_b64, signature_b64 = RFC8037["A.4_jws"].split(".")
    assert b64u_decode(header_b64) == RFC8037["A.4_protected_header"].encode()
    assert b64u_decode(payload_b64) == RFC8037["A.4_payload"].encode()
    assert signing_input == f"{header_b64}.{payload_b64}".encode()
    signature = b64u_decode(signature_b64)
    assert key.sign(signing_input) == signature
    assert key.public_key.verify(signature, signing_input)
    assert not key.public_key.verify(signature, signing_input + b".")


# --- RFC 7638 §3.1 and RFC 9278 ---------------------------------------------------------------


def test_rfc7638_example_with_the_reference_helper() -> None:
    assert rfc7638_thumbprint(RFC7638["jwk"]) == RFC7638["thumbprint"]
    # Changing one required member changes the thumbprint; an optional one does not.
    assert rfc7638_thumbprint({**RFC7638["jwk"], "e": "AQAA"}) != RFC7638["thumbprint"]
    assert rfc7638_thumbprint({**RFC7638["jwk"], "kid": "other"}) == RFC7638["thumbprint"]


def test_rfc9278_uri_form() -> None:
    assert THUMBPRINT_URI_PREFIX == "urn:ietf:params:oauth:jwk-thumbprint:sha-256:"
    assert THUMBPRINT_URI_PREFIX + rfc7638_thumbprint(RFC7638["jwk"]) == RFC7638["rfc9278_uri"]
    key = PublicKey.from_jwk(RFC8037["A.2_public_key"])
    assert key.thumbprint_uri == THUMBPRINT_URI_PREFIX + RFC8037["A.3_thumbprint"]


@settings(max_examples=200, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_writ_thumbprint_matches_the_reference_for_any_key(seed: bytes) -> None:
    public = PrivateKey(seed).public_key
    assert public.thumbprint == rfc7638_thumbprint(public.jwk)
    assert public.thumbprint_uri == THUMBPRINT_URI_PREFIX + public.thumbprint
    assert PublicKey.from_jwk(public.jwk) == public


# --- PublicKey.from_jwk refuses what is not an OKP/Ed25519 public JWK -------------------------

X = RFC8037["A.2_public_key"]["x"]


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "k", "oth"])
def test_from_jwk_refuses_private_members(member: str) -> None:
    with pytest.raises(MalformedError) as caught:
        PublicKey.from_jwk({**RFC8037["A.2_public_key"], member: RFC8037["A.1_private_key"]["d"]})
    assert caught.value.step == "3l"


def test_from_jwk_refuses_the_rfc8037_private_key() -> None:
    with pytest.raises(MalformedError):
        PublicKey.from_jwk(RFC8037["A.1_private_key"])


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "Ed25519", "x": X},
        {"kty": "RSA", "crv": "Ed25519", "x": X},
        {"kty": "oct", "crv": "Ed25519", "x": X},
        {"kty": "okp", "crv": "Ed25519", "x": X},
        {"crv": "Ed25519", "x": X},
        {"kty": "OKP", "crv": "Ed448", "x": X},
        {"kty": "OKP", "crv": "X25519", "x": X},
        {"kty": "OKP", "crv": "ed25519", "x": X},
        {"kty": "OKP", "x": X},
        {"kty": "OKP", "crv": "Ed25519"},
        {"kty": "OKP", "crv": "Ed25519", "x": None},
        {"kty": "OKP", "crv": "Ed25519", "x": 5},
        {"kty": "OKP", "crv": "Ed25519", "x": list(_hex(RFC8032[0]["public_key"]))},
        {"kty": ["OKP"], "crv": "Ed25519", "x": X},
    ],
    ids=lambda jwk: json.dumps(jwk)[:60],
)
def test_from_jwk_refuses_wrong_type_curve_or_x(jwk: dict[str, Any]) -> None:
    with pytest.raises(MalformedError):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize(
    "jwk", [None, "", X, 42, [RFC8037["A.2_public_key"]], json.dumps(RFC8037["A.2_public_key"])]
)
def test_from_jwk_refuses_non_objects(jwk: object) -> None:
    with pytest.raises(MalformedError):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("size", [0, 1, 16, 31, 33, 57, 64])
def test_from_jwk_refuses_wrong_lengths(size: int) -> None:
    raw = (_hex(RFC8032[0]["public_key"]) * 3)[:size]
    with pytest.raises(MalformedError):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(raw)})
    with pytest.raises(MalformedError):
        PublicKey(raw)


def _non_canonical_last_char(text: str) -> str:
    # 32 bytes are 43 base64url characters carrying 258 bits; the last character's two
    # low bits are padding and MUST be zero (RFC 4648 §3.5). Setting one keeps the decoded
    # bytes the same in a lenient decoder, so a lenient parser would give two spellings
    # (and two distinct JSON texts) for one key.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(text[-1])
    assert index % 4 == 0
    return text[:-1] + alphabet[index + 1]


@pytest.mark.parametrize(
    "x",
    [
        X + "=",
        X + "==",
        X.replace("_", "/"),
        X.replace("_", "+"),
        "+" + X[1:],
        "/" + X[1:],
        _non_canonical_last_char(X),
        " " + X,
        X + "\n",
        X[:20] + " " + X[20:],
        X[:-1],
        X + "A",
        X + ".",
        X[:-1] + "\u00e9",
        X[:-1] + "\uff21",
    ],
    ids=[
        "pad1",
        "pad2",
        "slash",
        "plus",
        "lead-plus",
        "lead-slash",
        "trailing-bits",
        "lead-space",
        "newline",
        "inner-space",
        "short",
        "long",
        "dot",
        "non-ascii",
        "fullwidth",
    ],
)
def test_from_jwk_refuses_bad_base64url(x: str) -> None:
    assert x != X
    with pytest.raises(MalformedError):
        PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})


def test_the_canonical_spelling_is_the_one_accepted() -> None:
    assert _non_canonical_last_char(X) != X
    assert PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": X}).jwk["x"] == X


@settings(max_examples=300, deadline=None)
@given(x=st.text(max_size=60))
def test_from_jwk_raises_only_malformed(x: str) -> None:
    try:
        key = PublicKey.from_jwk({"kty": "OKP", "crv": "Ed25519", "x": x})
    except MalformedError:
        return
    # Accepted: then the spelling was the one canonical encoding of 32 bytes.
    assert key.jwk["x"] == x and len(key.raw) == 32


# --- PrivateKey.from_jwk ----------------------------------------------------------------------


def test_private_from_jwk_refuses_a_mismatched_x() -> None:
    other = PrivateKey(_hex(RFC8032[1]["secret_key"])).public_key.jwk["x"]
    with pytest.raises(ConfigurationError):
        PrivateKey.from_jwk({**RFC8037["A.1_private_key"], "x": other})


@pytest.mark.parametrize(
    "jwk",
    [
        RFC8037["A.2_public_key"],
        {**RFC8037["A.1_private_key"], "kty": "EC"},
        {**RFC8037["A.1_private_key"], "crv": "Ed448"},
        {**RFC8037["A.1_private_key"], "d": RFC8037["A.1_private_key"]["d"] + "="},
        {**RFC8037["A.1_private_key"], "d": RFC8037["A.1_private_key"]["d"][:-2]},
        {**RFC8037["A.1_private_key"], "d": 7},
    ],
    ids=["public", "kty", "crv", "padded-d", "short-d", "int-d"],
)
def test_private_from_jwk_refuses_what_is_not_an_ed25519_private_key(jwk: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        PrivateKey.from_jwk(jwk)


# --- Key files and printing -------------------------------------------------------------------


@pytest.fixture
def wide_umask() -> Iterator[None]:
    # A permissive umask must not leak into the key file's mode.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_save_writes_mode_0600_even_with_a_permissive_umask(
    tmp_path: Path, wide_umask: None
) -> None:
    path = tmp_path / "key.jwk"
    key = PrivateKey.from_jwk(RFC8037["A.1_private_key"])
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == RFC8037["A.1_private_key"]
    loaded = PrivateKey.load(path)
    assert loaded.public_key == key.public_key
    assert loaded.sign(b"m") == key.sign(b"m")


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.jwk"
    PrivateKey.generate().save(path)
    before = path.read_bytes()
    with pytest.raises(ConfigurationError):
        PrivateKey.generate().save(path)
    assert path.read_bytes() == before


def test_save_refuses_to_follow_a_symlink(tmp_path: Path) -> None:
    # A dangling link planted where the key goes must not redirect the secret elsewhere.
    target = tmp_path / "elsewhere.jwk"
    link = tmp_path / "key.jwk"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError):
        PrivateKey.generate().save(link)
    assert not target.exists()


@pytest.mark.parametrize(
    "content", ["", "not json", "[]", '"x"', json.dumps(RFC8037["A.2_public_key"])]
)
def test_load_refuses_what_is_not_a_private_jwk(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key.jwk"
    path.write_text(content)
    with pytest.raises(ConfigurationError):
        PrivateKey.load(path)


def test_load_of_a_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "key.jwk"
    path.write_bytes(b"\xff\xfe" + json.dumps(RFC8037["A.1_private_key"]).encode())
    with pytest.raises(ConfigurationError):
        PrivateKey.load(path)


def test_load_of_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        PrivateKey.load(tmp_path / "absent.jwk")


def test_repr_and_str_never_show_the_private_key() -> None:
    key = PrivateKey.from_jwk(RFC8037["A.1_private_key"])
    d = RFC8037["A.1_private_key"]["d"]
    seed_hex = _hex(RFC8032[0]["secret_key"]).hex()
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert d not in text and seed_hex not in text
        assert RFC8037["A.3_thumbprint"] in text
    assert d not in repr(key.public_key) and d not in str(key.public_key)


def test_a_private_key_has_no_instance_dict_to_leak() -> None:
    # __slots__: no __dict__ for vars()/pickling helpers to dump the seed from.
    key = PrivateKey.generate()
    assert not hasattr(key, "__dict__")


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_private_key_seed_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ConfigurationError):
        PrivateKey(bytes(size))


def test_generated_keys_differ() -> None:
    keys = {PrivateKey.generate().public_key.raw for _ in range(16)}
    assert len(keys) == 16
