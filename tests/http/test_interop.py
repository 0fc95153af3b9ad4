"""Interop with ``http-message-signatures`` (3.x), both ways.

* Requests signed by ``WritAuth`` verify under that library's ``HTTPMessageVerifier``
  (Ed25519, tag ``writ``, the profile's components required, body digest checked).
* Requests signed by that library's ``HTTPMessageSigner`` with the profile's
  components and parameters pass ``parse_http_proof`` + ``verify_http_proof``.

The library reads the wall clock when it verifies, so these tests sign with the real
time. ``WritAuth.auth_flow`` is sans-I/O: driving the generator by hand gives the exact
request an httpx client would send. One test also goes over a real loopback server.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import httpx
import pytest
from _writ_http_server import request_parts, serve
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from writ._b64 import b64u_decode
from writ._errors import MalformedError
from writ._keys import PrivateKey
from writ.http import (
    SignedRequestParts,
    WritAuth,
    format_chain_header,
    parse_http_proof,
    profile_components,
    verify_http_proof,
)

HOLDER = PrivateKey(bytes(range(32)))
KEYID = HOLDER.public_key.thumbprint_uri
CHAIN = [
    "eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJyb290In0.c2ln",
    "eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJsZWFmIn0.c2ln",
]
BODY_PROFILE = ("@method", "@target-uri", "content-digest", "content-type", "writ-chain")
EMPTY_PROFILE = ("@method", "@target-uri", "content-digest", "writ-chain")


def _library_keys() -> MappingKeyResolver:
    seed = b64u_decode(HOLDER.private_jwk()["d"])
    return MappingKeyResolver(
        public_keys={KEYID: Ed25519PublicKey.from_public_bytes(HOLDER.public_key.raw)},
        private_keys={KEYID: Ed25519PrivateKey.from_private_bytes(seed)},
    )


def _library_verify(request: httpx.Request, covered: tuple[str, ...]) -> None:
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_library_keys()
    )
    [result] = verifier.verify(
        request,
        expect_tag="writ",
        expect_label="writ",
        require_components=covered,
        body=request.content,
    )
    assert result.label == "writ"
    assert result.parameters["keyid"] == KEYID
    assert tuple(name.strip('"') for name in result.covered_components)[:-1] == covered


def _signed_by_writauth(request: httpx.Request) -> httpx.Request:
    request.read()
    flow = WritAuth(CHAIN, HOLDER).auth_flow(request)
    return next(flow)


# --- Writ signs, the library verifies ----------------------------------------------------


def test_writauth_with_body_verifies_under_the_library() -> None:
    request = httpx.Request(
        "POST", "https://api.example.com/v1/orders/42/refund?dry=1", json={"amount": "1"}
    )
    _library_verify(_signed_by_writauth(request), BODY_PROFILE)


def test_writauth_without_body_verifies_under_the_library() -> None:
    request = httpx.Request("GET", "https://api.example.com:8443/v1/orders?page=2&q=%20x")
    _library_verify(_signed_by_writauth(request), EMPTY_PROFILE)


def test_the_library_notices_tampering_of_a_writauth_request() -> None:
    signed = _signed_by_writauth(httpx.Request("DELETE", "https://api.example.com/v1/orders/42"))
    signed.headers["Writ-Chain"] = format_chain_header(CHAIN[:1])
    with pytest.raises(InvalidSignature):
        _library_verify(signed, EMPTY_PROFILE)


_paths = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~", max_size=10), max_size=4
)


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=_paths,
    body=st.binary(max_size=200),
    query=st.sampled_from(["", "?a=1", "?a=1&b=%2F", "?"]),
)
def test_writauth_to_library_property(
    method: str, path: list[str], body: bytes, query: str
) -> None:
    headers = {"content-type": "application/octet-stream"} if body else {}
    url = "https://api.example.com/" + "/".join(path) + query
    request = httpx.Request(method, url, content=body, headers=headers)
    _library_verify(_signed_by_writauth(request), BODY_PROFILE if body else EMPTY_PROFILE)


# --- the library signs, Writ verifies ----------------------------------------------------


def _library_sign(
    request: httpx.Request,
    *,
    covered: tuple[str, ...],
    include_alg: bool = True,
    nonce: str = "library-nonce",
    lifetime: int = 60,
    tag: str = "writ",
) -> httpx.Request:
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_library_keys())
    now = datetime.datetime.fromtimestamp(int(time.time()), tz=datetime.UTC)
    signer.sign(
        request,
        key_id=KEYID,
        created=now,
        expires=now + datetime.timedelta(seconds=lifetime),
        nonce=nonce,
        label="writ",
        tag=tag,
        include_alg=include_alg,
        covered_component_ids=covered,
        body=request.content,
    )
    return request


def _parts(request: httpx.Request) -> SignedRequestParts:
    return SignedRequestParts(
        method=request.method,
        target_uri=str(request.url),
        headers=request.headers.multi_items(),
        body=request.content,
    )


@pytest.mark.parametrize("include_alg", [True, False])
def test_library_signed_request_with_body_verifies_under_writ(include_alg: bool) -> None:
    request = httpx.Request(
        "POST",
        "https://api.example.com/v1/orders/42/refund",
        json={"amount": "12.50"},
        headers={"Writ-Chain": format_chain_header(CHAIN)},
    )
    proof = parse_http_proof(
        _parts(_library_sign(request, covered=BODY_PROFILE, include_alg=include_alg))
    )
    assert proof.covered == BODY_PROFILE
    assert proof.nonce == "library-nonce"
    assert proof.chain == tuple(CHAIN)
    assert verify_http_proof(proof, HOLDER.public_key)


def test_library_signed_request_without_body_verifies_under_writ() -> None:
    request = httpx.Request(
        "GET",
        "https://api.example.com/v1/orders?page=2",
        headers={"Writ-Chain": format_chain_header(CHAIN)},
    )
    proof = parse_http_proof(_parts(_library_sign(request, covered=EMPTY_PROFILE)))
    assert verify_http_proof(proof, HOLDER.public_key)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"covered": ("@method", "@authority", "@target-uri")}, "not the profile"),
        ({"covered": BODY_PROFILE[:3] + BODY_PROFILE[4:]}, "content-type is not covered"),
        ({"covered": BODY_PROFILE, "lifetime": 300}, "at most 60"),
        ({"covered": BODY_PROFILE, "tag": "other"}, "tag is not"),
    ],
)
def test_library_signatures_outside_the_profile_are_refused(
    options: dict[str, object], message: str
) -> None:
    request = httpx.Request(
        "POST",
        "https://api.example.com/x",
        json={"a": 1},
        headers={"Writ-Chain": format_chain_header(CHAIN)},
    )
    with pytest.raises(MalformedError, match=message):
        parse_http_proof(_parts(_library_sign(request, **options)))  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=_paths,
    body=st.binary(max_size=200),
    query=st.sampled_from(["", "?a=1", "?a=1&b=%2F"]),
)
def test_library_to_writ_property(method: str, path: list[str], body: bytes, query: str) -> None:
    headers = {"Writ-Chain": format_chain_header(CHAIN)}
    if body:
        headers["content-type"] = "application/octet-stream"
    request = httpx.Request(
        method, "https://api.example.com/" + "/".join(path) + query, content=body, headers=headers
    )
    parts = _parts(request)
    signed = _library_sign(request, covered=profile_components(parts))
    assert verify_http_proof(parse_http_proof(_parts(signed)), HOLDER.public_key)


# --- over the wire: WritAuth -> uvicorn -> the library's verifier ------------------------


@pytest.fixture(scope="module")
def library_receiver() -> Iterator[str]:
    def make_app(origin: str) -> Starlette:
        async def endpoint(request: Request) -> Response:
            body = await request.body()
            parts = request_parts(request, origin, body)
            message = httpx.Request(
                parts.method, parts.target_uri, headers=list(parts.headers), content=body
            )
            try:
                _library_verify(message, profile_components(parts))
            except InvalidSignature as exc:
                return JSONResponse({"ok": False, "why": str(exc)}, 401)
            proof = parse_http_proof(parts)
            return JSONResponse({"ok": verify_http_proof(proof, HOLDER.public_key)})

        return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])

    with serve(make_app) as origin:
        yield origin


def test_over_the_wire_both_verifiers_agree(library_receiver: str) -> None:
    with httpx.Client(auth=WritAuth(CHAIN, HOLDER)) as client:
        posted = client.post(
            library_receiver + "/v1/orders/42/refund?dry=1", json={"amount": "12.50"}
        )
        got = client.get(library_receiver + "/v1/orders")
    assert posted.json() == {"ok": True}, posted.text
    assert got.json() == {"ok": True}, got.text
