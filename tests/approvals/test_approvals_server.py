"""``writ approvals serve`` over real HTTP: its API, its loopback guards, and ``web_callback``
driving WritAuth (sync and async httpx) and WritClientSession (MCP) end to end."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _approvals_kit import ARGS, TOOLS, Gated
from _approvals_proc import approvals_server
from _mcp_harness import ISS, World, connect
from _writ_http_server import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from factory import receiver, verifier
from writ import PrivateKey, grant
from writ._errors import StoreUnavailable
from writ.approvals import TOKEN_HEADER, web_callback
from writ.http._auth import WritAuth
from writ.http._middleware import WritMiddleware


@pytest.fixture
def world(tmp_path: Path) -> Gated:
    gated = Gated()
    gated.keys[0].save(tmp_path / "approver.key")
    return gated


@pytest.fixture
def server(tmp_path: Path, world: Gated) -> Iterator[str]:
    with approvals_server(tmp_path / "approver.key") as url:
        yield url


def token_of(url: str) -> str:
    match = re.search(r'name="writ-token" content="([^"]+)"', httpx.get(url + "/").text)
    assert match is not None
    return match.group(1)


def post(url: str, request: dict[str, Any]) -> str:
    created = httpx.post(url + "/api/requests", json=request)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


class Human(threading.Thread):
    """Decides the next request that arrives, through the API, as the page's buttons do."""

    def __init__(self, url: str, action: str = "approve") -> None:
        super().__init__(daemon=True)
        self.url, self.action, self.token = url, action, token_of(url)
        self.status: int | None = None

    def run(self) -> None:
        version = -1
        with httpx.Client(timeout=70) as client:
            while True:  # long-polls: each returns as soon as the inbox changes
                listed = client.get(f"{self.url}/api/requests",
                                    params={"after": version, "wait": 30}).json()
                version = listed["version"]
                pending = [r for r in listed["requests"] if r["status"] == "pending"]
                if pending:
                    break
            self.status = client.post(f"{self.url}/api/requests/{pending[0]['id']}/"
                                      f"{self.action}", headers={TOKEN_HEADER: self.token}
                                      ).status_code

    def done(self) -> int | None:
        self.join(timeout=30)
        return self.status


# --- the API and its guards ------------------------------------------------------------


def test_decisions_need_the_page_token(server: str, world: Gated) -> None:
    entry = post(server, world.request())
    for headers in ({}, {TOKEN_HEADER: "guess"}, {TOKEN_HEADER: token_of(server) + "x"}):
        refused = httpx.post(f"{server}/api/requests/{entry}/approve", headers=headers)
        assert refused.status_code == 403
    assert httpx.get(f"{server}/api/requests/{entry}").json()["status"] == "pending"


@pytest.mark.parametrize("headers", [{"host": "evil.example"},
                                     {"host": "approvals.evil.example:8790"},
                                     {"origin": "https://evil.example"},
                                     {"origin": "http://127.0.0.1:1"},
                                     {"origin": "null"}])
def test_foreign_hosts_and_origins_are_refused(server: str, world: Gated,
                                               headers: dict[str, str]) -> None:
    # Host: DNS rebinding would make a hostile page same-origin. Origin: cross-site posts.
    assert httpx.get(server + "/", headers=headers).status_code == 403
    refused = httpx.post(server + "/api/requests", json=world.request(), headers=headers)
    assert refused.status_code == 403
    assert httpx.get(server + "/api/requests").json()["requests"] == []


def test_same_origin_posts_and_localhost_are_fine(server: str, world: Gated) -> None:
    port = server.rsplit(":", 1)[1]
    entry = post(server, world.request())
    ok = httpx.post(f"{server}/api/requests/{entry}/deny",
                    headers={TOKEN_HEADER: token_of(server), "origin": server})
    assert ok.status_code == 200 and ok.json()["status"] == "denied"
    assert httpx.get(server + "/", headers={"host": f"localhost:{port}"}).status_code == 200


def test_requests_must_be_json_and_must_add_up(server: str, world: Gated) -> None:
    request = world.request()
    as_text = httpx.post(server + "/api/requests", content=json.dumps(request),
                         headers={"content-type": "text/plain"})
    assert as_text.status_code == 415  # what a cross-site form could send without preflight
    forged = {**request, "args": {**ARGS, "amount": "1.00"}}  # shown ≠ bound
    assert httpx.post(server + "/api/requests", json=forged).status_code == 400
    assert httpx.post(server + "/api/requests", json={"x": 1}).status_code == 400
    assert httpx.post(server + "/api/requests", content=b"{", headers={
        "content-type": "application/json"}).status_code == 400
    huge = {**request, "padding": "x" * 70_000}
    assert httpx.post(server + "/api/requests", json=huge).status_code == 413
    assert httpx.get(server + "/api/requests").json()["requests"] == []


def test_a_request_is_decided_once(server: str, world: Gated) -> None:
    entry = post(server, world.request())
    assert post(server, world.request()) != entry  # a new ask is a new request
    headers = {TOKEN_HEADER: token_of(server)}
    approved = httpx.post(f"{server}/api/requests/{entry}/approve", headers=headers)
    assert approved.status_code == 200 and len(approved.json()["approvals"]) == 1
    again = httpx.post(f"{server}/api/requests/{entry}/deny", headers=headers)
    assert again.status_code == 409
    assert httpx.post(f"{server}/api/requests/nope/approve", headers=headers).status_code == 404
    assert httpx.get(f"{server}/api/requests/nope").status_code == 404


def test_posting_the_same_request_twice_is_one_entry(server: str, world: Gated) -> None:
    request = world.request()
    assert post(server, request) == post(server, request)
    assert len(httpx.get(server + "/api/requests").json()["requests"]) == 1


def test_a_key_outside_the_gate_cannot_approve(tmp_path: Path, world: Gated) -> None:
    PrivateKey.generate().save(tmp_path / "stranger.key")
    with approvals_server(tmp_path / "stranger.key") as url:
        entry = post(url, world.request())
        listed = httpx.get(url + "/api/requests").json()["requests"]
        assert listed[0]["may_sign"] is False
        refused = httpx.post(f"{url}/api/requests/{entry}/approve",
                             headers={TOKEN_HEADER: token_of(url)})
        assert refused.status_code == 403


def test_the_page_cannot_be_framed_and_is_not_cached(server: str) -> None:
    page = httpx.get(server + "/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert httpx.get(server + "/static/app.js").headers["content-type"].startswith(
        "text/javascript")
    assert httpx.get(server + "/static/../_server.py").status_code == 404


def test_serve_refuses_a_non_loopback_host(tmp_path: Path, world: Gated) -> None:
    import subprocess
    import sys

    from _approvals_proc import LAUNCHER

    done = subprocess.run([sys.executable, LAUNCHER, "approvals", "serve", "--key",
                           str(tmp_path / "approver.key"), "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "loopback" in done.stderr and "Traceback" not in done.stderr


# --- web_callback -----------------------------------------------------------------------


def test_the_waiting_agent_gets_the_approval_then_nothing_when_denied(server: str,
                                                                      world: Gated) -> None:
    human = Human(server)
    human.start()
    [approval] = web_callback(server, timeout=30).wait(world.request())
    assert human.done() == 200
    assert world.ask(approvals=[approval]).allowed
    human = Human(server, "deny")
    human.start()
    assert web_callback(server, timeout=30).wait(world.request({**ARGS, "to": "acct-9"})) == []
    assert human.done() == 200


async def test_inside_an_event_loop_it_is_a_coroutine(server: str, world: Gated) -> None:
    human = Human(server)
    human.start()
    waiting = web_callback(server, timeout=30)(world.request())
    assert asyncio.iscoroutine(waiting)
    [approval] = await waiting
    assert world.ask(approvals=[approval]).allowed
    assert human.done() == 200


def test_nobody_deciding_times_out_to_nothing(server: str, world: Gated) -> None:
    started = time.monotonic()
    assert web_callback(server, timeout=1).wait(world.request()) == []
    assert time.monotonic() - started < 10


def test_an_unreachable_server_is_a_writ_error(world: Gated) -> None:
    with pytest.raises(StoreUnavailable):
        web_callback("http://127.0.0.1:9", timeout=2).wait(world.request())
    with pytest.raises(ValueError):
        web_callback("127.0.0.1:8790")


# --- end to end: agent → receiver → approvals page → receiver ----------------------------


@pytest.fixture
def http_target(world: Gated) -> Iterator[tuple[str, list[Any]]]:
    calls: list[Any] = []

    async def transfer(request: Request) -> JSONResponse:
        calls.append(json.loads(await request.body()))
        return JSONResponse({"ran": True})

    def make_app(origin: str) -> Any:
        app = Starlette(routes=[Route("/v1/transfers", transfer, methods=["POST"])])
        return WritMiddleware(app, verifier=verifier(receiver(world.cast.principal,
                                                              audience=origin)),
                              routes={"POST /v1/transfers": "transfer"})

    with serve(make_app) as origin:
        yield origin, calls


@pytest.mark.parametrize("client", ["sync", "async"])
async def test_http_agent_waits_for_the_page(server: str, world: Gated, client: str,
                                             http_target: tuple[str, list[Any]]) -> None:
    origin, calls = http_target
    auth = WritAuth(world.chain, world.agent, approval=web_callback(server, timeout=30))
    human = Human(server)
    human.start()
    if client == "sync":
        response = await asyncio.to_thread(
            lambda: httpx.Client(auth=auth).post(origin + "/v1/transfers", json=ARGS))
    else:
        async with httpx.AsyncClient(auth=auth) as session:
            response = await session.post(origin + "/v1/transfers", json=ARGS)
    assert response.status_code == 200, response.text
    assert calls == [ARGS] and human.done() == 200


async def test_mcp_agent_waits_for_the_page(tmp_path: Path, server: str, world: Gated) -> None:
    mcp = World(tmp_path / "mcp", tools=TOOLS)
    mcp.root.mkdir()
    mcp.chain = [grant(key=mcp.principal, iss=ISS, holder=mcp.agent.public_key, tools=TOOLS,
                       now=int(time.time()), ttl=3600, approval=world.policy)]
    human = Human(server)
    human.start()
    async with connect("stdio", mcp.args(mcp.config())) as session:
        agent = mcp.wrap(session, approval=web_callback(server, timeout=30))
        await agent.call_tool("transfer", ARGS)
    assert mcp.counts() == {"transfer": 1} and human.done() == 200
