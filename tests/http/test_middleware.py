"""``WritMiddleware`` on a real uvicorn server, called by real httpx clients signing with WritAuth.

Every denial is shown to happen before the handler runs: the side-effect counter stays put.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from _writ_http_server import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from factory import Cast, receiver, verifier
from writ.http import WritAuth
from writ.http._middleware import WritMiddleware

TOOLS = {"scan_host": {"host": {"constraint_type": "cidr", "networks": ["10.20.0.0/16"]},
                       "ports": {"constraint_type": "wildcard"}},
         "exploit_host": {"host": {"constraint_type": "cidr", "networks": ["10.20.0.0/16"]},
                          "ports": {"constraint_type": "wildcard"}}}
ROUTES = {"POST /v1/hosts/{host}/scan": "scan_host", "POST /v1/hosts/{host}/exploit": "exploit_host"}


@dataclass
class Target:
    origin: str
    cast: Cast
    chain: list[str]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(auth=WritAuth(self.chain, self.cast.agents[0]), **kwargs)


def make_target(**receiver_options: Any) -> Iterator[Target]:
    cast = Cast(now=int(time.time()))
    chain = cast.root(TOOLS)
    holder: dict[str, Target] = {}

    async def handle(request: Request) -> JSONResponse:
        body = await request.body()
        holder["t"].calls.append({"path": request.url.path, "body": body.decode()})
        authority = request.scope["writ"]
        return JSONResponse({"ran": True, "principal": authority["principal"],
                             "holder": authority["holder"]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    def make_app(origin: str) -> Any:
        options = {"audience": origin, **receiver_options}
        app = Starlette(routes=[Route("/v1/hosts/{host}/scan", handle, methods=["POST"]),
                                Route("/v1/hosts/{host}/exploit", handle, methods=["POST"]),
                                Route("/health", health)])
        return WritMiddleware(app, verifier=verifier(receiver(cast.principal, **options)),
                              routes=ROUTES, public_paths=["/health"], max_body=4096)

    with serve(make_app) as origin:
        holder["t"] = Target(origin, cast, chain)
        yield holder["t"]


@pytest.fixture
def target() -> Iterator[Target]:
    yield from make_target()


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == "urn:writ:decision:" + body["code"]
    assert body["status"] == response.status_code
    return body


def test_signed_call_runs_with_the_verified_authority(target: Target) -> None:
    with target.client() as client:
        response = client.post(f"{target.origin}/v1/hosts/10.20.0.5/scan", json={"ports": [22]})
    assert response.status_code == 200, response.text
    assert response.json()["principal"] == "https://security.target.example"
    assert response.json()["holder"] == target.cast.agents[0].public_key.thumbprint_uri
    assert target.calls == [{"path": "/v1/hosts/10.20.0.5/scan", "body": '{"ports":[22]}'}]


def test_no_proof_is_challenged_and_never_runs(target: Target) -> None:
    response = httpx.post(f"{target.origin}/v1/hosts/10.20.0.5/scan", json={"ports": [22]})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Writ ")
    assert 'nonce="' in response.headers["www-authenticate"]
    assert problem(response)["code"] == "proof_missing"
    assert target.calls == []


def _signed(target: Target, path: str, body: dict[str, Any]) -> httpx.Request:
    request = httpx.Request("POST", f"{target.origin}{path}", json=body)
    flow = WritAuth(target.chain, target.cast.agents[0]).auth_flow(request)
    return next(flow)


def test_tampered_body_is_denied(target: Target) -> None:
    signed = _signed(target, "/v1/hosts/10.20.0.5/scan", {"ports": [22]})
    forged = httpx.Request("POST", signed.url, headers=signed.headers,
                           content=b'{"ports":[23]}')
    response = httpx.Client().send(forged)
    assert response.status_code == 401 and problem(response)["code"] == "proof_invalid"
    assert target.calls == []


def test_swapped_tool_is_denied(target: Target) -> None:
    signed = _signed(target, "/v1/hosts/10.20.0.5/scan", {"ports": [22]})
    swapped = httpx.Request("POST", f"{target.origin}/v1/hosts/10.20.0.5/exploit",
                            headers=signed.headers, content=signed.content)
    response = httpx.Client().send(swapped)
    assert response.status_code == 401 and problem(response)["code"] == "proof_invalid"
    assert target.calls == []


def test_replayed_signature_is_denied(target: Target) -> None:
    signed = _signed(target, "/v1/hosts/10.20.0.5/scan", {"ports": [22]})
    with httpx.Client() as client:
        first = client.send(signed)
        again = client.send(httpx.Request("POST", signed.url, headers=signed.headers,
                                          content=signed.content))
    assert first.status_code == 200
    assert again.status_code == 401 and problem(again)["code"] == "replayed"
    assert len(target.calls) == 1


def test_out_of_scope_argument_is_forbidden(target: Target) -> None:
    with target.client() as client:
        response = client.post(f"{target.origin}/v1/hosts/10.99.0.1/scan", json={"ports": [22]})
    assert response.status_code == 403 and problem(response)["code"] == "argument_violation"
    assert "detail" not in problem(response)  # the reason stays in the log
    assert target.calls == []


def test_wrong_audience_is_denied() -> None:
    for target in make_target(audiences=["https://api.elsewhere.example"]):
        with target.client() as client:
            response = client.post(f"{target.origin}/v1/hosts/10.20.0.5/scan",
                                   json={"ports": [22]})
        assert response.status_code == 403 and problem(response)["code"] == "audience_mismatch"
        assert target.calls == []


def test_nonce_challenge_is_answered_once_by_the_client() -> None:
    for target in make_target(require_nonce=True):
        with target.client() as client:
            response = client.post(f"{target.origin}/v1/hosts/10.20.0.5/scan",
                                   json={"ports": [22]})
        assert response.status_code == 200, response.text
        assert len(target.calls) == 1


def test_body_limit_unmatched_routes_and_public_paths(target: Target) -> None:
    with target.client() as client:
        big = client.post(f"{target.origin}/v1/hosts/10.20.0.5/scan",
                          json={"ports": list(range(2000))})
        unrouted = client.post(f"{target.origin}/v1/other", json={})
    assert big.status_code == 413 and problem(big)["code"] == "too_large"
    assert unrouted.status_code == 403 and problem(unrouted)["code"] == "tool_not_granted"
    assert httpx.get(f"{target.origin}/health").json() == {"ok": True}
    assert target.calls == []


def test_arguments_given_twice_are_refused(target: Target) -> None:
    with target.client() as client:
        response = client.post(f"{target.origin}/v1/hosts/10.20.0.5/scan",
                               json={"ports": [22], "host": "10.20.0.6"})
    assert response.status_code == 401 and problem(response)["code"] == "proof_invalid"
    assert target.calls == []


def test_async_client_is_signed_too(target: Target) -> None:
    import anyio

    async def go() -> int:
        async with httpx.AsyncClient(auth=WritAuth(target.chain, target.cast.agents[0])) as c:
            response = await c.post(f"{target.origin}/v1/hosts/10.20.0.5/scan",
                                    json={"ports": [443]})
            return response.status_code

    assert anyio.run(go) == 200
    assert json.loads(target.calls[0]["body"]) == {"ports": [443]}
