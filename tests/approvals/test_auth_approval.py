"""``WritAuth``'s approval flow against a receiver that misbehaves: it asks only about its own
call, only on a real ``approval_required`` problem, and once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _writ_http_server import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from writ import PrivateKey
from writ.http._auth import WritAuth

AGENT = PrivateKey.generate()
CHAIN = ["eyJhbGciOiJFZDI1NTE5In0.eyJqdGkiOiJyb290In0.c2ln"]
PROBLEM = "application/problem+json"


def approval_problem(agent: str, *, code: str = "approval_required",
                     media: str = PROBLEM, status: int = 403) -> Response:
    body = {"code": code, "approval_request": {"type": "writ-approval-request",
                                               "binding": {"agent": agent, "tool": "t"}}}
    return JSONResponse(body, status, media_type=media)


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    seen: dict[str, list[str | None]] = {}

    async def handle(request: Request) -> Response:
        path = request.url.path
        seen.setdefault(path, []).append(request.headers.get("writ-approval"))
        me = AGENT.public_key.thumbprint_uri
        if request.headers.get("writ-approval") == "a.b.c":
            return JSONResponse({"ok": True})
        return {
            "/mine": lambda: approval_problem(me),
            "/someone-else": lambda: approval_problem(PrivateKey.generate().public_key
                                                      .thumbprint_uri),
            "/other-code": lambda: approval_problem(me, code="argument_violation"),
            "/not-a-problem": lambda: approval_problem(me, media="application/json"),
            "/status-401": lambda: approval_problem(me, status=401),
        }[path]()

    async def seen_route(request: Request) -> Response:
        return JSONResponse(seen)

    def make_app(origin: str) -> Any:
        return Starlette(routes=[Route("/_seen", seen_route),
                                 Route("/{path:path}", handle, methods=["GET", "POST"])])

    with serve(make_app) as url:
        yield url


def run(origin: str, path: str) -> tuple[httpx.Response, list[Any], list[str | None]]:
    asked: list[Any] = []

    def callback(request: Any) -> list[str]:
        asked.append(request)
        return ["a.b.c"]

    with httpx.Client(auth=WritAuth(CHAIN, AGENT, approval=callback)) as client:
        response = client.get(origin + path)
        sent = client.get(origin + "/_seen").json().get(path, [])
    return response, asked, sent


def test_it_asks_about_its_own_call_and_sends_the_approvals(origin: str) -> None:
    response, asked, sent = run(origin, "/mine")
    assert response.status_code == 200 and len(asked) == 1 and sent == [None, "a.b.c"]


@pytest.mark.parametrize("path", ["/someone-else", "/other-code", "/not-a-problem",
                                  "/status-401"])
def test_it_never_asks_about_anything_else(origin: str, path: str) -> None:
    response, asked, sent = run(origin, path)
    assert asked == [] and sent == [None] and response.status_code in (401, 403)
