"""RFC 9530 Content-Digest: published values, strict parsing, mutations and properties."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ._errors import ConfigurationError, MalformedError
from writ.http._digest import (
    DIGEST_ALGORITHMS,
    check_content_digest,
    content_digest,
    parse_content_digest,
)

VECTORS = Path(__file__).parent.parent / "vectors"
RFC9530 = json.loads((VECTORS / "rfc9530" / "digests.json").read_text())
APPENDIX_D = RFC9530["appendix_d"]
HELLO = APPENDIX_D["input"].encode()


def _sf_bytes(value: str) -> bytes:
    assert value.startswith(":") and value.endswith(":")
    return base64.b64decode(value[1:-1], validate=True)


@pytest.mark.parametrize("algorithm", ["sha-256", "sha-512"])
def test_appendix_d_values_are_computed(algorithm: str) -> None:
    expected = f"{algorithm}={APPENDIX_D['values'][algorithm]}"
    assert content_digest(HELLO, algorithm=algorithm) == expected
    check_content_digest(expected, HELLO)
    assert parse_content_digest(expected) == {algorithm: _sf_bytes(APPENDIX_D["values"][algorithm])}


def test_appendix_d_all_members_together_check_the_known_ones() -> None:
    field = ", ".join(f"{name}={value}" for name, value in APPENDIX_D["values"].items())
    assert set(parse_content_digest(field)) == {"sha-256", "sha-512"}
    check_content_digest(field, HELLO)
    with pytest.raises(MalformedError, match="does not match"):
        check_content_digest(field, HELLO + b"\n")


@pytest.mark.parametrize("case", RFC9530["appendix_b"], ids=lambda c: c["section"][:3])
def test_appendix_b_content_digests(case: dict[str, str]) -> None:
    content = case["content"].encode()
    assert content_digest(content) == case["content_digest"]
    check_content_digest(case["content_digest"], content)


def test_rfc9421_test_request_digest_is_the_appendix_d_sha512() -> None:
    request = json.loads((VECTORS / "rfc9421" / "b26-ed25519.json").read_text())["request"]
    field = dict(request["headers"])["Content-Digest"]
    check_content_digest(field, request["body"].encode())


def test_empty_content_has_a_digest() -> None:
    assert content_digest(b"") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"


def test_only_sha256_and_sha512_are_known() -> None:
    assert frozenset({"sha-256", "sha-512"}) == DIGEST_ALGORITHMS
    with pytest.raises(ConfigurationError):
        content_digest(b"", algorithm="md5")


@pytest.mark.parametrize("name", ["md5", "sha", "unixsum", "unixcksum", "adler", "crc32c"])
def test_unknown_algorithm_alone_is_refused(name: str) -> None:
    with pytest.raises(MalformedError, match="no sha-256 or sha-512"):
        parse_content_digest(f"{name}={APPENDIX_D['values'][name]}")


def test_unknown_members_of_any_type_are_ignored() -> None:
    sha = content_digest(HELLO)
    check_content_digest(f'x-future="text", {sha}, other=?1;p=2', HELLO)


def test_every_known_digest_must_match() -> None:
    good_256 = content_digest(HELLO)
    bad_512 = content_digest(HELLO + b"x", algorithm="sha-512")
    with pytest.raises(MalformedError, match="sha-512 does not match"):
        check_content_digest(f"{good_256}, {bad_512}", HELLO)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("", "no sha-256"),
        ("sha-256", "not a byte sequence"),
        ("sha-256=1", "not a byte sequence"),
        ('sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="', "not a byte sequence"),
        ("sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE", "not a byte sequence"),
        ("sha-256=:AAAA:", "wrong length"),
        ("sha-512=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", "wrong length"),
        ("SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", "structured dictionary"),
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:,", "structured dictionary"),
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=: junk", "structured dictionary"),
        ("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPÉ=:", "not ASCII"),
        (
            (
                "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, "
                "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
            ),
            "duplicate",
        ),
    ],
)
def test_malformed_fields_are_refused(field: str, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        check_content_digest(field, HELLO)


def test_missing_base64_padding_is_accepted() -> None:
    # RFC 8941 §4.2.7: parsers SHOULD NOT fail when "=" padding is absent.
    check_content_digest("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE:", HELLO)


def test_a_flipped_bit_is_refused() -> None:
    digest = bytearray(hashlib.sha256(HELLO).digest())
    for bit in (0, 77, 255):
        mutated = bytearray(digest)
        mutated[bit // 8] ^= 1 << (bit % 8)
        field = "sha-256=:" + base64.b64encode(bytes(mutated)).decode() + ":"
        with pytest.raises(MalformedError, match="does not match"):
            check_content_digest(field, HELLO)


@given(body=st.binary(max_size=2048), algorithm=st.sampled_from(sorted(DIGEST_ALGORITHMS)))
def test_roundtrip(body: bytes, algorithm: str) -> None:
    field = content_digest(body, algorithm=algorithm)
    assert parse_content_digest(field) == {
        algorithm: hashlib.new(algorithm.replace("-", ""), body).digest()
    }
    check_content_digest(field, body)


@given(body=st.binary(max_size=512), other=st.binary(max_size=512))
def test_a_different_body_is_refused(body: bytes, other: bytes) -> None:
    field = content_digest(body)
    if other == body:
        check_content_digest(field, other)
    else:
        with pytest.raises(MalformedError):
            check_content_digest(field, other)


_pieces = st.lists(
    st.sampled_from(
        [
            "sha-256",
            "sha-512",
            "md5",
            "=",
            ":",
            "AAAA",
            "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
            ", ",
            ",",
            ";",
            "q=1",
            '"',
            "?1",
            "1",
            "(",
            ")",
            " ",
            "é",
        ]
    ),
    max_size=16,
).map("".join)


@given(field=_pieces | st.text(max_size=60))
def test_hostile_fields_raise_only_malformed(field: str) -> None:
    try:
        check_content_digest(field, HELLO)
    except MalformedError:
        pass
