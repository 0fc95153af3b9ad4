"""``WritAuth`` against a real uvicorn server on loopback, with sync and async httpx clients."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from _writ_http_server import Receiver, serve

from writ._errors import ConfigurationError
from writ._keys import PrivateKey
from writ.http import WritAuth, content_digest, format_chain_header

HOLDER = PrivateKey(bytes(range(32)))
STRANGER = PrivateKey(bytes(range(2, 34)))
CHAIN = [
    "eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJyb290In0.c2ln",
    "eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJsZWFmIn0.c2ln",
]
OTHER_CHAIN = ["eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJvdGhlciJ9.c2ln"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    def make_app(origin: str) -> object:
        holder.append(Receiver(origin=origin, holder=HOLDER.public_key))
        return holder[0].app()

    with serve(make_app):  # type: ignore[arg-type]
        yield holder[0]


@pytest.fixture
def origin(receiver: Receiver) -> str:
    receiver.decisions.clear()
    return receiver.origin


def _decisions(receiver: Receiver, path: str) -> list[str]:
    return [code for p, code in receiver.decisions if p == path]


# --- the challenge flow -----------------------------------------------------------------


def test_sync_client_answers_the_challenge_once(receiver: Receiver, origin: str) -> None:
    with httpx.Client(auth=WritAuth(CHAIN, HOLDER)) as client:
        response = client.post(f"{origin}/v1/orders/42/refund?dry=1", json={"amount": "12.50"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["target"] == f"{origin}/v1/orders/42/refund?dry=1"
    assert answer["chain"] == CHAIN
    assert answer["body"] == '{"amount":"12.50"}'
    assert answer["nonce"] in receiver.issued
    assert answer["covered"] == [
        "@method",
        "@target-uri",
        "content-digest",
        "content-type",
        "writ-chain",
    ]
    assert _decisions(receiver, "/v1/orders/42/refund") == ["nonce_not_issued", "allow"]


async def test_async_client_answers_the_challenge_once(receiver: Receiver, origin: str) -> None:
    async with httpx.AsyncClient(auth=WritAuth(CHAIN, HOLDER)) as client:
        response = await client.post(
            f"{origin}/async", content=b"raw bytes", headers={"content-type": "text/plain"}
        )
        empty = await client.get(f"{origin}/async-get")
    assert response.status_code == 200, response.text
    assert response.json()["body"] == "raw bytes"
    assert empty.status_code == 200
    assert empty.json()["covered"] == ["@method", "@target-uri", "content-digest", "writ-chain"]
    assert _decisions(receiver, "/async") == ["nonce_not_issued", "allow"]


@pytest.mark.parametrize(
    "path", ["/always-401", "/challenge-without-nonce", "/malformed-challenge"]
)
def test_the_flow_never_loops(receiver: Receiver, origin: str, path: str) -> None:
    with httpx.Client(auth=WritAuth(CHAIN, HOLDER)) as client:
        response = client.get(origin + path)
    assert response.status_code == 401
    expected = {
        "/always-401": [
            "nonce_not_issued",
            "replayed",
        ],  # answered once, the second 401 is returned
        "/challenge-without-nonce": ["proof_invalid"],  # nothing to answer with
        "/malformed-challenge": [],  # unreadable challenge: not answered
    }[path]
    assert _decisions(receiver, path) == expected


async def test_the_async_flow_never_loops(receiver: Receiver, origin: str) -> None:
    async with httpx.AsyncClient(auth=WritAuth(CHAIN, HOLDER)) as client:
        response = await client.get(origin + "/always-401")
    assert response.status_code == 401
    assert response.json()["code"] == "replayed"
    assert _decisions(receiver, "/always-401") == ["nonce_not_issued", "replayed"]


def test_the_server_nonce_is_what_gets_signed(receiver: Receiver, origin: str) -> None:
    nonces = iter(["client-nonce-1", "client-nonce-2"])
    auth = WritAuth(CHAIN, HOLDER, nonce_factory=lambda: next(nonces))
    with httpx.Client(auth=auth) as client:
        first = client.get(origin + "/a")
        second = client.get(origin + "/b")
    assert first.json()["nonce"] != "client-nonce-1" and first.json()["nonce"] in receiver.issued
    assert second.json()["nonce"] != "client-nonce-2"


def test_a_streamed_body_is_read_once_and_signed(receiver: Receiver, origin: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    with httpx.Client(auth=WritAuth(CHAIN, HOLDER)) as client:
        response = client.put(
            origin + "/stream", content=chunks(), headers={"content-type": "text/plain"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["body"] == "part one, part two"


# --- tampering in transit: a transport alters a copy of the request WritAuth signed -----

Tamper = Callable[
    [str, httpx.URL, dict[str, str], bytes], tuple[str, httpx.URL, dict[str, str], bytes]
]


class _ManInTheMiddle(httpx.HTTPTransport):
    """Sends a tampered copy; the client's own request object stays as WritAuth signed it."""

    def __init__(self, tamper: Tamper) -> None:
        super().__init__()
        self._tamper = tamper

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        method, url, headers, body = self._tamper(
            request.method, request.url, dict(request.headers), request.read()
        )
        headers["content-length"] = str(len(body))
        return super().handle_request(httpx.Request(method, url, headers=headers, content=body))


def _method(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    return "PUT", u, h, b


def _path(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    return m, u.copy_with(path="/v1/orders/43/refund"), h, b


def _query(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    return m, u.copy_with(query=b"dry=0"), h, b


def _chain(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    return m, u, {**h, "writ-chain": format_chain_header(OTHER_CHAIN)}, b


def _body(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    return m, u, h, b'{"amount":"9999.00"}'


def _body_and_digest(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    body = b'{"amount":"9999.00"}'
    return m, u, {**h, "content-digest": content_digest(body)}, body


def _nonce(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    value = h["signature-input"]
    start = value.index('nonce="') + len('nonce="')
    changed = "y" if value[start] == "x" else "x"
    return m, u, {**h, "signature-input": value[:start] + changed + value[start + 1 :]}, b


def _content_type(
    m: str, u: httpx.URL, h: dict[str, str], b: bytes
) -> tuple[str, httpx.URL, dict[str, str], bytes]:
    return m, u, {**h, "content-type": "text/plain"}, b


@pytest.mark.parametrize(
    "tamper", [_method, _path, _query, _chain, _body, _body_and_digest, _nonce, _content_type]
)
def test_tampering_in_transit_is_refused(receiver: Receiver, origin: str, tamper: Tamper) -> None:
    with httpx.Client(auth=WritAuth(CHAIN, HOLDER), transport=_ManInTheMiddle(tamper)) as client:
        response = client.post(f"{origin}/v1/orders/42/refund?dry=1", json={"amount": "12.50"})
    assert response.status_code == 401
    assert response.json()["code"] == "proof_invalid"
    assert [code for _, code in receiver.decisions] == ["proof_invalid", "proof_invalid"]


def test_the_untampered_transport_is_allowed(receiver: Receiver, origin: str) -> None:
    def identity(
        m: str, u: httpx.URL, h: dict[str, str], b: bytes
    ) -> tuple[str, httpx.URL, dict[str, str], bytes]:
        return m, u, h, b

    with httpx.Client(auth=WritAuth(CHAIN, HOLDER), transport=_ManInTheMiddle(identity)) as client:
        response = client.post(f"{origin}/v1/orders/42/refund?dry=1", json={"amount": "12.50"})
    assert response.status_code == 200


def test_an_expired_signature_is_refused(receiver: Receiver, origin: str) -> None:
    auth = WritAuth(CHAIN, HOLDER, clock=lambda: time.time() - 120)
    with httpx.Client(auth=auth) as client:
        response = client.get(origin + "/old")
    assert response.status_code == 401
    assert _decisions(receiver, "/old") == ["expired", "expired"]


def test_another_holder_is_refused(receiver: Receiver, origin: str) -> None:
    with httpx.Client(auth=WritAuth(CHAIN, STRANGER)) as client:
        response = client.get(origin + "/stranger")
    assert response.status_code == 401
    assert _decisions(receiver, "/stranger") == ["proof_invalid", "proof_invalid"]


def test_a_request_signed_for_another_origin_is_refused(receiver: Receiver, origin: str) -> None:
    # The agent signs for https://api.other.example; the request is delivered here instead.
    # The receiver rebuilds @target-uri from its own origin, so the signature cannot match.
    def redirect(
        m: str, u: httpx.URL, h: dict[str, str], b: bytes
    ) -> tuple[str, httpx.URL, dict[str, str], bytes]:
        return m, httpx.URL(origin).copy_with(raw_path=u.raw_path), h, b

    auth = WritAuth(CHAIN, HOLDER)
    with httpx.Client(auth=auth, transport=_ManInTheMiddle(redirect)) as client:
        response = client.get("https://api.other.example/elsewhere")
    assert response.status_code == 401
    assert _decisions(receiver, "/elsewhere") == ["proof_invalid", "proof_invalid"]


# --- configuration ----------------------------------------------------------------------


def test_body_size_limit(origin: str) -> None:
    auth = WritAuth(CHAIN, HOLDER, max_body_bytes=8)
    with (
        httpx.Client(auth=auth) as client,
        pytest.raises(ConfigurationError, match="max_body_bytes"),
    ):
        client.post(origin + "/big", content=b"123456789", headers={"content-type": "text/plain"})


def test_body_without_content_type_is_refused_before_sending(origin: str) -> None:
    auth = WritAuth(CHAIN, HOLDER)
    with httpx.Client(auth=auth) as client, pytest.raises(ConfigurationError, match="Content-Type"):
        client.post(origin + "/untyped", content=b"x")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (([], HOLDER), {}),
        ((["not-a-jws"], HOLDER), {}),
        (("a.b.c", HOLDER), {}),
        ((CHAIN, HOLDER.public_key), {}),
        ((CHAIN, HOLDER), {"lifetime": 61}),
        ((CHAIN, HOLDER), {"lifetime": 0}),
        ((CHAIN, HOLDER), {"max_body_bytes": -1}),
        ((CHAIN, HOLDER), {"max_body_bytes": 1.5}),
    ],
)
def test_construction_is_checked(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        WritAuth(*args, **kwargs)  # type: ignore[arg-type]


def test_repr_shows_no_secret() -> None:
    assert repr(WritAuth(CHAIN, HOLDER)) == f"WritAuth(holder={HOLDER.public_key.thumbprint_uri})"


def test_public_api_is_sorted_and_resolves() -> None:
    import writ.http

    assert writ.http.__all__ == sorted(writ.http.__all__)
    for name in writ.http.__all__:
        assert getattr(writ.http, name).__doc__
