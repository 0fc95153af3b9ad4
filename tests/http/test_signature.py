"""RFC 9421 base builder (Appendix B.2.6 vector) and Writ's HTTP signature profile."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import http_sf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ._errors import ConfigurationError, MalformedError
from writ._keys import PrivateKey
from writ.http._signature import (
    MAX_LIFETIME,
    SignedRequestParts,
    build_signature_base,
    format_chain_header,
    origin_of,
    parse_chain_header,
    parse_http_proof,
    profile_components,
    sign_request,
    verify_http_proof,
)

VECTOR = json.loads(
    (Path(__file__).parent.parent / "vectors" / "rfc9421" / "b26-ed25519.json").read_text()
)
HOLDER = PrivateKey(bytes(range(32)))
OTHER = PrivateKey(bytes(range(1, 33)))
CHAIN = [
    "eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJyb290In0.c2ln",
    "eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJsZWFmIn0.c2ln",
]
CHAIN_HEADER = format_chain_header(CHAIN)
NOW = 1_800_000_000


def _pem_body(pem: str) -> bytes:
    return base64.b64decode("".join(line for line in pem.splitlines() if "-----" not in line))


def _rfc_key() -> PrivateKey:
    # RFC 8410 §7: PKCS #8 for Ed25519 is a fixed 16-byte prefix and the 32-byte seed;
    # SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte public key.
    private = _pem_body(VECTOR["key"]["private_pem"])
    public = _pem_body(VECTOR["key"]["public_pem"])
    assert private[:16] == bytes.fromhex("302e020100300506032b657004220420")
    assert public[:12] == bytes.fromhex("302a300506032b6570032100")
    key = PrivateKey(private[16:])
    assert key.public_key.raw == public[12:]
    return key


def _vector_parts() -> SignedRequestParts:
    request = VECTOR["request"]
    return SignedRequestParts(
        method=request["method"],
        target_uri=request["target_uri"],
        headers=[tuple(pair) for pair in request["headers"]],
        body=request["body"].encode(),
    )


# --- RFC 9421 Appendix B.2.6 ------------------------------------------------------------


def test_b26_signature_base_is_reproduced_byte_for_byte() -> None:
    base, params = build_signature_base(_vector_parts(), VECTOR["covered"], VECTOR["params"])
    assert base == VECTOR["signature_base"].encode()
    assert f"{VECTOR['label']}={params}" == VECTOR["signature_input"]


def test_b26_published_signature_verifies_and_is_reproduced() -> None:
    key = _rfc_key()
    base, _ = build_signature_base(_vector_parts(), VECTOR["covered"], VECTOR["params"])
    parsed = http_sf.parse(VECTOR["signature"].encode(), tltype="dictionary")
    assert isinstance(parsed, dict)
    signature = parsed[VECTOR["label"]][0]
    assert isinstance(signature, bytes)
    assert key.public_key.verify(signature, base)
    assert key.sign(base) == signature
    assert f"{VECTOR['label']}={http_sf.ser((key.sign(base), {}))}" == VECTOR["signature"]


def test_b26_mutations_do_not_verify() -> None:
    key = _rfc_key()
    good = _vector_parts()
    signature = key.sign(build_signature_base(good, VECTOR["covered"], VECTOR["params"])[0])
    mutants = [
        SignedRequestParts(method="PUT", target_uri=good.target_uri, headers=good.headers),
        SignedRequestParts(
            method="POST", target_uri="https://example.org/foo", headers=good.headers
        ),
        SignedRequestParts(
            method="POST", target_uri="https://example.com/fo", headers=good.headers
        ),
        good.replace_fields({"Content-Length": "19"}),
        good.replace_fields({"Date": "Tue, 20 Apr 2021 02:07:56 GMT"}),
    ]
    for mutant in mutants:
        base, _ = build_signature_base(mutant, VECTOR["covered"], VECTOR["params"])
        assert not key.public_key.verify(signature, base)
    other_params = {**VECTOR["params"], "created": VECTOR["params"]["created"] + 1}
    base, _ = build_signature_base(good, VECTOR["covered"], other_params)
    assert not key.public_key.verify(signature, base)


# --- RFC 9421 §2.1 and §2.2 component values --------------------------------------------


def _value(name: str, target_uri: str, method: str = "GET", headers: object = ()) -> str:
    parts = SignedRequestParts(
        method=method,
        target_uri=target_uri,
        headers=headers,  # type: ignore[arg-type]
    )
    base, _ = build_signature_base(parts, [name], {})
    return base.decode().split("\n")[0].split(": ", 1)[1]


@pytest.mark.parametrize(
    ("name", "target_uri", "expected"),
    [
        (
            "@target-uri",
            "https://www.example.com/path?param=value",
            "https://www.example.com/path?param=value",
        ),
        ("@target-uri", "https://u:p@www.example.com/path#frag", "https://www.example.com/path"),
        ("@target-uri", "http://example.com", "http://example.com/"),
        ("@authority", "https://WWW.Example.com:443/", "www.example.com"),
        ("@authority", "http://example.com:80/", "example.com"),
        ("@authority", "http://example.com:8080/", "example.com:8080"),
        ("@authority", "https://example.com:80/", "example.com:80"),
        ("@authority", "http://[::1]:80/", "[::1]"),
        ("@authority", "http://[::1]/", "[::1]"),
        ("@scheme", "HTTPS://example.com/", "https"),
        ("@request-target", "https://example.com/path?param=value", "/path?param=value"),
        ("@request-target", "https://example.com", "/"),
        ("@path", "https://example.com/path/a%2Fb?x", "/path/a%2Fb"),
        ("@path", "https://example.com?x=1", "/"),
        (
            "@query",
            "https://example.com/path?param=value&foo=bar&baz=batman",
            "?param=value&foo=bar&baz=batman",
        ),
        ("@query", "https://example.com/path?queryString", "?queryString"),
        ("@query", "https://example.com/path", "?"),
        ("@query", "https://example.com/path?", "?"),
    ],
)
def test_derived_components(name: str, target_uri: str, expected: str) -> None:
    assert _value(name, target_uri) == expected


def test_method_is_taken_as_sent() -> None:
    assert _value("@method", "https://example.com/", method="POST") == "POST"


def test_field_lines_are_trimmed_and_combined() -> None:
    headers = [
        ("Cache-Control", "  max-age=60 "),
        ("X-Other", "x"),
        ("cache-control", "must-revalidate\t"),
    ]
    assert (
        _value("cache-control", "https://example.com/", headers=headers)
        == "max-age=60, must-revalidate"
    )
    assert _value("cache-control", "https://e.com/", headers={"Cache-Control": "a"}) == "a"


@pytest.mark.parametrize(
    ("components", "target_uri", "headers", "message"),
    [
        (["@method", "@method"], "https://e.com/", [], "twice"),
        (["date"], "https://e.com/", [], "not in the request"),
        (["Date"], "https://e.com/", [("Date", "x")], "lowercase"),
        (["@status"], "https://e.com/", [], "unsupported derived"),
        (["@query-param"], "https://e.com/", [], "unsupported derived"),
        (["x"], "https://e.com/", [("X", "a\nb")], "line break"),
        (["x"], "https://e.com/", [("X", "caf\u00e9")], "not ASCII"),
        (["@path"], "/relative", [], "absolute"),
        (["@path"], "https://e.com/a b", [], "absolute"),
        (["@path"], "https:///nohost", [], "no authority"),
        (["@path"], "https://e.com/caf\u00e9", [], "absolute"),
    ],
)
def test_base_builder_refusals(
    components: list[str], target_uri: str, headers: list[tuple[str, str]], message: str
) -> None:
    parts = SignedRequestParts(method="GET", target_uri=target_uri, headers=headers)
    with pytest.raises(MalformedError, match=message):
        build_signature_base(parts, components, {})


@pytest.mark.parametrize(
    ("target_uri", "origin"),
    [
        ("https://API.example.com:443/v1?x", "https://api.example.com"),
        ("HTTP://example.com:8080", "http://example.com:8080"),
        ("http://127.0.0.1:80/", "http://127.0.0.1"),
        ("https://user@example.com/", "https://example.com"),
    ],
)
def test_origin_of(target_uri: str, origin: str) -> None:
    assert origin_of(target_uri) == origin


# --- the Writ profile -------------------------------------------------------------------


def _request(
    *,
    method: str = "POST",
    target_uri: str = "https://api.example.com/v1/orders/42/refund?dry=1",
    body: bytes = b'{"amount":"12.50"}',
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),),
) -> SignedRequestParts:
    return SignedRequestParts(
        method=method,
        target_uri=target_uri,
        headers=(("Host", "api.example.com"), *headers),
        body=body,
    )


def _signed(
    parts: SignedRequestParts | None = None, *, key: PrivateKey = HOLDER, **kw: object
) -> SignedRequestParts:
    parts = parts or _request()
    options: dict[str, object] = {"created": NOW, "expires": NOW + 60, "nonce": "n-0123456789"}
    options.update(kw)
    added = sign_request(
        parts,
        key=key,
        chain_header=CHAIN_HEADER,
        **options,  # type: ignore[arg-type]
    )
    return parts.replace_fields(added)


def _with(parts: SignedRequestParts, **fields: str) -> SignedRequestParts:
    return parts.replace_fields({name.replace("_", "-"): value for name, value in fields.items()})


def test_profile_roundtrip_with_body() -> None:
    signed = _signed()
    proof = parse_http_proof(signed)
    assert proof.covered == (
        "@method",
        "@target-uri",
        "content-digest",
        "content-type",
        "writ-chain",
    )
    assert proof.keyid == HOLDER.public_key.thumbprint_uri
    assert (proof.created, proof.expires, proof.nonce) == (NOW, NOW + 60, "n-0123456789")
    assert proof.chain == tuple(CHAIN)
    assert proof.origin == "https://api.example.com"
    assert proof.target_uri == "https://api.example.com/v1/orders/42/refund?dry=1"
    assert verify_http_proof(proof, HOLDER.public_key)
    assert not verify_http_proof(proof, OTHER.public_key)
    assert proof.signature_base.endswith(proof.signature_input.encode())
    assert b'"@signature-params": ' in proof.signature_base


def test_signed_headers_are_exactly_the_profile() -> None:
    added = sign_request(
        _request(),
        key=HOLDER,
        chain_header=CHAIN_HEADER,
        created=NOW,
        expires=NOW + 30,
        nonce="abc",
    )
    assert set(added) == {"Content-Digest", "Writ-Chain", "Signature-Input", "Signature"}
    assert added["Signature-Input"] == (
        'writ=("@method" "@target-uri" "content-digest" "content-type" "writ-chain")'
        f';created={NOW};expires={NOW + 30};nonce="abc"'
        f';keyid="{HOLDER.public_key.thumbprint_uri}";alg="ed25519";tag="writ"'
    )
    assert added["Writ-Chain"] == ",".join(CHAIN)


def test_empty_body_still_covers_a_digest_and_not_content_type() -> None:
    signed = _signed(_request(method="GET", body=b"", headers=()))
    proof = parse_http_proof(signed)
    assert proof.covered == ("@method", "@target-uri", "content-digest", "writ-chain")
    assert (
        signed.field("content-digest") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
    )
    assert verify_http_proof(proof, HOLDER.public_key)


def test_an_approval_header_is_covered_when_present() -> None:
    parts = _request(headers=(("Content-Type", "application/json"), ("Writ-Approval", "a.b.c")))
    assert profile_components(parts)[-1] == "writ-approval"
    proof = parse_http_proof(_signed(parts))
    assert proof.covered[-1] == "writ-approval"
    assert verify_http_proof(proof, HOLDER.public_key)
    signed = _signed(parts)
    kept = [(k, v) for k, v in signed.headers if k != "writ-approval"]  # type: ignore[misc]
    with pytest.raises(MalformedError, match="not the profile's"):
        parse_http_proof(_rebuild(signed, headers=kept))


def test_signing_replaces_existing_signature_fields() -> None:
    once = _signed(nonce="first")
    twice = _signed(once, nonce="second")
    assert len([k for k, _ in twice.headers if k == "signature-input"]) == 1  # type: ignore[misc]
    assert parse_http_proof(twice).nonce == "second"


def test_other_signatures_are_ignored() -> None:
    signed = _signed()
    extra = SignedRequestParts(
        method=signed.method,
        target_uri=signed.target_uri,
        headers=[
            ("Signature-Input", 'proxy=("@method");created=1;keyid="p"'),
            *signed.headers,
            ("Signature", "proxy=:AAAA:"),
        ],
        body=signed.body,
    )
    assert verify_http_proof(parse_http_proof(extra), HOLDER.public_key)


# --- tampering: every covered thing is bound --------------------------------------------


def _rebuild(signed: SignedRequestParts, **changes: object) -> SignedRequestParts:
    values: dict[str, object] = {
        "method": signed.method,
        "target_uri": signed.target_uri,
        "headers": signed.headers,
        "body": signed.body,
    }
    values.update(changes)
    return SignedRequestParts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: _rebuild(s, method="PUT"), id="method"),
        pytest.param(
            lambda s: _rebuild(s, target_uri="https://api.example.com/v1/orders/43/refund?dry=1"),
            id="path",
        ),
        pytest.param(
            lambda s: _rebuild(s, target_uri="https://api.example.com/v1/orders/42/refund?dry=0"),
            id="query",
        ),
        pytest.param(
            lambda s: _rebuild(s, target_uri="https://evil.example.com/v1/orders/42/refund?dry=1"),
            id="host",
        ),
        pytest.param(
            lambda s: _rebuild(s, target_uri="http://api.example.com/v1/orders/42/refund?dry=1"),
            id="scheme",
        ),
        pytest.param(lambda s: _with(s, Writ_Chain=CHAIN[0]), id="chain-truncated"),
        pytest.param(lambda s: _with(s, Writ_Chain=",".join(reversed(CHAIN))), id="chain-swapped"),
        pytest.param(lambda s: _with(s, Content_Type="text/plain"), id="content-type"),
        pytest.param(
            lambda s: _with(
                _rebuild(s, body=b'{"amount":"99"}'),
                Content_Digest="sha-256=:iuJJdrPJ6tSbSHVbsJ/jH1CHa8G4nZNqCbzYrnMqahU=:",
            ),
            id="body-and-digest",
        ),
    ],
)
def test_tampering_breaks_the_signature(tamper: object) -> None:
    signed = _signed()
    tampered = tamper(signed)  # type: ignore[operator]
    try:
        proof = parse_http_proof(tampered)
    except MalformedError:
        return  # refused before the signature check: also a failure for the attacker
    assert not verify_http_proof(proof, HOLDER.public_key)


def _resign_input(signed: SignedRequestParts, old: str, new: str) -> SignedRequestParts:
    value = signed.field("signature-input")
    assert value is not None and old in value
    return _with(signed, Signature_Input=value.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('nonce="n-0123456789"', 'nonce="n-0123456788"'),
        (f"created={NOW}", f"created={NOW + 1}"),
        (f"expires={NOW + 60}", f"expires={NOW + 59}"),
    ],
)
def test_parameters_are_covered(old: str, new: str) -> None:
    tampered = _resign_input(_signed(), old, new)
    assert not verify_http_proof(parse_http_proof(tampered), HOLDER.public_key)


def test_changed_body_is_a_digest_mismatch() -> None:
    with pytest.raises(MalformedError, match="does not match"):
        parse_http_proof(_rebuild(_signed(), body=b'{"amount":"99.00"}'))


def test_keyid_must_name_the_verifying_key() -> None:
    signed = _signed()
    forged = _resign_input(
        signed, HOLDER.public_key.thumbprint_uri, OTHER.public_key.thumbprint_uri
    )
    proof = parse_http_proof(forged)
    assert not verify_http_proof(proof, HOLDER.public_key)
    assert not verify_http_proof(proof, OTHER.public_key)


# --- strict parsing ---------------------------------------------------------------------

_INPUT = 'writ=("@method" "@target-uri" "content-digest" "content-type" "writ-chain")'
_KEYID = HOLDER.public_key.thumbprint_uri
_PARAMS = f';created={NOW};expires={NOW + 60};nonce="n1";keyid="{_KEYID}";tag="writ"'


@pytest.mark.parametrize(
    ("signature_input", "message"),
    [
        ('sig1=("@method");created=1;keyid="k"', "no 'writ' member"),
        (_INPUT + _PARAMS + ", " + _INPUT + _PARAMS, "duplicate dictionary"),
        (_INPUT + _PARAMS.replace('tag="writ"', 'tag="other"'), "tag is not"),
        (_INPUT + _PARAMS.replace(';tag="writ"', ""), r"missing \['tag'\]"),
        (_INPUT + _PARAMS.replace(f";created={NOW}", ""), r"missing \['created'\]"),
        (_INPUT + _PARAMS.replace(';nonce="n1"', ""), r"missing \['nonce'\]"),
        (_INPUT + _PARAMS.replace(f";expires={NOW + 60}", ""), r"missing \['expires'\]"),
        (_INPUT + _PARAMS + ';aud="https://api.example.com"', r"unknown \['aud'\]"),
        (_INPUT + _PARAMS + ';tag="writ"', "duplicate parameter"),
        (_INPUT + _PARAMS.replace(f"created={NOW}", "created=?1"), "created is not"),
        (_INPUT + _PARAMS.replace(f"created={NOW}", f"created={NOW}.0"), "created is not"),
        (_INPUT + _PARAMS.replace(f"created={NOW}", f'created="{NOW}"'), "created is not"),
        (_INPUT + _PARAMS.replace(f"created={NOW}", f"created=-{NOW}"), "created is negative"),
        (_INPUT + _PARAMS.replace(f"expires={NOW + 60}", f"expires={NOW + 61}"), "at most 60"),
        (_INPUT + _PARAMS.replace(f"expires={NOW + 60}", f"expires={NOW}"), "after created"),
        (_INPUT + _PARAMS.replace('nonce="n1"', "nonce=n1"), "nonce is not"),
        (_INPUT + _PARAMS.replace('nonce="n1"', 'nonce=""'), "nonce has"),
        (_INPUT + _PARAMS.replace('nonce="n1"', 'nonce="a b"'), "nonce has"),
        (_INPUT + _PARAMS.replace(_KEYID, "test-key-ed25519"), "thumbprint URI"),
        (_INPUT + _PARAMS + ';alg="rsa-pss-sha512"', "alg is not"),
        (_INPUT + _PARAMS + ";alg=ed25519", "alg is not a structured-field str"),
        ("writ=:AAAA:", "not an inner list"),
        ("writ", "not an inner list"),
        (
            'writ=("@method" "@target-uri" "content-digest" "writ-chain")' + _PARAMS,
            "content-type is not covered",
        ),
        (
            'writ=("@target-uri" "@method" "content-digest" "content-type" "writ-chain")' + _PARAMS,
            "not the profile",
        ),
        (_INPUT.replace(")", ' "date")') + _PARAMS, "not the profile"),
        (_INPUT.replace('"content-type"', '"content-type";sf') + _PARAMS, "carries parameters"),
        (_INPUT.replace('"@method"', "method") + _PARAMS, "not a string"),
        (_INPUT + _PARAMS + " garbage", "not a structured dictionary"),
        (_INPUT + _PARAMS.replace("n1", "n\u00e91"), "not ASCII"),
    ],
)
def test_malformed_signature_input_is_refused(signature_input: str, message: str) -> None:
    signed = _with(_signed(), Signature_Input=signature_input)
    with pytest.raises(MalformedError, match=message):
        parse_http_proof(signed)


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("sig1=:AAAA:", "no 'writ' member"),
        ("writ=:AAAA:", "64-byte"),
        ('writ="AAAA"', "64-byte"),
        ("writ=:" + "A" * 86 + "==:;x=1", "64-byte"),
        ("writ=:" + "A" * 86 + "==:, writ=:" + "A" * 86 + "==:", "duplicate"),
    ],
)
def test_malformed_signature_is_refused(signature: str, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        parse_http_proof(_with(_signed(), Signature=signature))


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("signature-input", "no signature-input"),
        ("signature", "no signature field"),
        ("writ-chain", "no writ-chain field"),
        ("content-digest", "no content-digest field"),
    ],
)
def test_missing_fields_are_refused(field: str, message: str) -> None:
    signed = _signed()
    kept = [(k, v) for k, v in signed.headers if k != field]  # type: ignore[misc]
    with pytest.raises(MalformedError, match=message):
        parse_http_proof(_rebuild(signed, headers=kept))


def test_body_without_content_type_coverage_is_refused() -> None:
    signed = _signed(_request(method="GET", body=b"", headers=()))
    smuggled = _with(_rebuild(signed, body=b"{}"), Content_Type="application/json")
    with pytest.raises(MalformedError, match="content-type is not covered"):
        parse_http_proof(smuggled)


def test_signature_fields_may_span_several_lines() -> None:
    signed = _signed()
    value = signed.field("signature-input")
    kept = [(k, v) for k, v in signed.headers if k != "signature-input"]  # type: ignore[misc]
    lines = [
        ("Signature-Input", 'other=("@method");created=1;keyid="x"'),
        ("Signature-Input", value),
    ]
    proof = parse_http_proof(_rebuild(signed, headers=[*kept, *lines]))
    assert verify_http_proof(proof, HOLDER.public_key)


def test_alg_is_optional_on_receipt() -> None:
    parts = _request()
    signed = _signed(parts)
    params = {
        "created": NOW,
        "expires": NOW + 60,
        "nonce": "n-0123456789",
        "keyid": _KEYID,
        "tag": "writ",
    }
    base, signature_params = build_signature_base(signed, profile_components(signed), params)
    no_alg = _with(
        signed,
        Signature_Input=f"writ={signature_params}",
        Signature=f"writ={http_sf.ser((HOLDER.sign(base), {}))}",
    )
    assert verify_http_proof(parse_http_proof(no_alg), HOLDER.public_key)


def test_chain_header_format() -> None:
    assert parse_chain_header(" a.b.c ,d.e.f") == ("a.b.c", "d.e.f")
    for bad in ["", "a.b", "a.b.c,", "a.b.c,,d.e.f", "a.b.c d.e.f", "a.b.c.d"]:
        with pytest.raises(MalformedError):
            parse_chain_header(bad)
    for chain in [[], "a.b.c", ["a.b"], [1]]:
        with pytest.raises(ConfigurationError):
            format_chain_header(chain)  # type: ignore[arg-type]


# --- signing-side misuse ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expires": NOW + MAX_LIFETIME + 1}, "at most 60"),
        ({"expires": NOW}, "after created"),
        ({"created": float(NOW)}, "integer"),
        ({"created": True, "expires": 30}, "integer"),
        ({"nonce": ""}, "nonce"),
        ({"nonce": 'a"b'}, "nonce"),
        ({"nonce": "x" * 257}, "nonce"),
    ],
)
def test_sign_refuses_bad_options(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _signed(**changes)


def test_sign_refuses_a_body_without_content_type() -> None:
    with pytest.raises(ConfigurationError, match="Content-Type"):
        _signed(_request(headers=()))


def test_sign_refuses_a_bad_chain_header() -> None:
    with pytest.raises(ConfigurationError):
        sign_request(
            _request(),
            key=HOLDER,
            chain_header="not a chain",
            created=NOW,
            expires=NOW + 1,
            nonce="n",
        )


@settings(max_examples=200)
@given(
    components=st.lists(st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True), unique=True, max_size=6),
    params=st.dictionaries(
        st.from_regex(r"[a-z*][a-z0-9_.*-]{0,8}", fullmatch=True),
        st.integers(-999_999_999_999_999, 999_999_999_999_999)
        | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
        max_size=6,
    ),
)
def test_signature_params_serialisation_matches_http_sf(
    components: list[str], params: dict[str, object]
) -> None:
    from http_sf.innerlist import ser_innerlist

    parts = SignedRequestParts(
        method="GET", target_uri="https://e.com/", headers=[(c, "v") for c in components]
    )
    _, serialised = build_signature_base(parts, components, params)  # type: ignore[arg-type]
    expected = ser_innerlist(([(c, {}) for c in components], params))  # type: ignore[arg-type]
    assert serialised == expected


@pytest.mark.parametrize(
    "params", [{"Key": 1}, {"k": 10**15}, {"k": "caf\u00e9"}, {"k": True}, {"k": 1.5}]
)
def test_signature_params_outside_structured_fields_are_refused(params: dict[str, object]) -> None:
    parts = SignedRequestParts(method="GET", target_uri="https://e.com/", headers=[])
    with pytest.raises(MalformedError):
        build_signature_base(parts, ["@method"], params)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------

_methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
_segments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%", min_size=0, max_size=12)
_nonces = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60)
@given(
    method=_methods,
    segments=st.lists(_segments, max_size=4),
    body=st.binary(max_size=256),
    nonce=_nonces,
    lifetime=st.integers(1, MAX_LIFETIME),
)
def test_sign_then_verify_and_any_flipped_signature_bit_fails(
    method: str, segments: list[str], body: bytes, nonce: str, lifetime: int
) -> None:
    parts = _request(
        method=method, target_uri="https://api.example.com/" + "/".join(segments), body=body
    )
    signed = _signed(parts, nonce=nonce, expires=NOW + lifetime)
    proof = parse_http_proof(signed)
    assert verify_http_proof(proof, HOLDER.public_key)
    assert proof.covered == profile_components(signed)
    for bit in (0, 255, 511):
        flipped = bytearray(proof.signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        forged = type(proof)(**{**proof.__dict__, "signature": bytes(flipped)})
        assert not verify_http_proof(forged, HOLDER.public_key)


# --- hostile input: only MalformedError, never another exception ------------------------

_field_text = st.text(alphabet=st.characters(min_codepoint=0x09, max_codepoint=0x7F), max_size=80)
_sf_like = st.lists(
    st.sampled_from(
        [
            "writ=",
            "(",
            ")",
            '"@method"',
            '"content-type"',
            ";created=",
            ";expires=",
            ";nonce=",
            ";keyid=",
            ";tag=",
            '"writ"',
            "1",
            "-1",
            "?1",
            "1.5",
            ":AAAA:",
            ", ",
            "sig=",
            "x",
            " ",
            '"',
            "\\",
            "=",
            ";",
            "*",
            _KEYID,
        ]
    ),
    max_size=24,
).map("".join)


@settings(max_examples=300)
@given(
    signature_input=_sf_like | _field_text,
    signature=_sf_like | _field_text,
    digest=_sf_like | _field_text,
    chain=_field_text,
    target=st.sampled_from(["https://e.com/", "https://e.com/a?b"]) | _field_text,
)
def test_hostile_fields_raise_only_malformed(
    signature_input: str, signature: str, digest: str, chain: str, target: str
) -> None:
    headers = [
        ("Signature-Input", signature_input),
        ("Signature", signature),
        ("Content-Digest", digest),
        ("Writ-Chain", chain),
    ]
    try:
        parts = SignedRequestParts(method="GET", target_uri=target, headers=headers)
        proof = parse_http_proof(parts)
    except MalformedError:
        return
    assert not verify_http_proof(proof, HOLDER.public_key)
