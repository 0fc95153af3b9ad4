"""Approval gates end to end, over MCP (the guarded SDK server in a subprocess) and over HTTP
(``WritMiddleware`` on uvicorn, ``WritAuth`` with an approval callback).

The gate lives in the writ: ``transfer`` needs 2 of 3 approvers. Each transport shows the
call runs only once the right approvals arrive, and that every wrong set of approvals is
denied ``approval_invalid`` before the handler runs (its side-effect counter is unchanged).
The decision log records the approvals each decision saw.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from _approvals_kit import ARGS, TOOLS
from _mcp_harness import ISS, World, connect
from _writ_http_server import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from factory import Cast, receiver
from writ import ApprovalGate, ApprovalPolicy, PrivateKey, Verifier, grant
from writ._approval_request import args_hash, sign_approval
from writ.http._auth import WritAuth
from writ.http._middleware import WritMiddleware
from writ.log import open_log_reader
from writ.log._decisions import open_decision_log
from writ.mcp import WritDenied
from writ.stores import open_stores

THRESHOLD, MAX_AGE = 2, 300
STRANGER = PrivateKey.generate()

Request_ = Mapping[str, Any]
Forge = Callable[[Request_, Sequence[PrivateKey], Sequence[str]], list[str]]


def approve(request: Request_, key: PrivateKey, *, now: int | None = None) -> str:
    return sign_approval(request, key=key, now=int(time.time()) if now is None else now)


def for_other_arguments(request: Request_, key: PrivateKey) -> str:
    other = copy.deepcopy(dict(request))
    other["binding"]["args_hash"] = args_hash({**ARGS, "amount": "1.00"})
    return approve(other, key)


# Each wrong set has exactly one defect; the log's detail names it.
CASES: dict[str, tuple[Forge, str]] = {
    "approval for other arguments": (
        lambda r, k, used: [approve(r, k[0]), for_other_arguments(r, k[1])], "for another call"),
    "reused approvals": (lambda r, k, used: list(used), "already used"),
    "below the threshold": (lambda r, k, used: [approve(r, k[0])], "1 of 2 distinct"),
    "the same approver twice": (
        lambda r, k, used: [approve(r, k[0]), approve(r, k[0])], "1 of 2 distinct"),
    "approver not in the set": (
        lambda r, k, used: [approve(r, k[0]), approve(r, STRANGER)], "not in the gate's set"),
    "expired approval": (
        lambda r, k, used: [approve(r, k[0]), approve(r, k[1], now=int(time.time()) - MAX_AGE - 5)],
        "expired or not fresh"),
}


@dataclass
class Approvers:
    """The gate's three approvers and what the callback was asked and answered."""

    keys: list[PrivateKey] = field(default_factory=lambda: [PrivateKey.generate()
                                                            for _ in range(3)])
    asked: list[dict[str, Any]] = field(default_factory=list)
    answered: list[list[str]] = field(default_factory=list)

    @property
    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(gates=(ApprovalGate(
            tools=frozenset({"transfer"}), approvers=tuple(k.public_key for k in self.keys),
            threshold=THRESHOLD, max_age=MAX_AGE),))

    def callback(self, forge: Forge, used: Sequence[str] = ()) -> Callable[[Request_], list[str]]:
        def answer(request: Request_) -> list[str]:
            self.asked.append(dict(request))
            self.answered.append(forge(request, self.keys, used))
            return self.answered[-1]
        return answer

    def honest(self) -> Callable[[Request_], list[str]]:
        return self.callback(lambda r, k, used: [approve(r, k[0]), approve(r, k[2])])


def log_records(url: str) -> list[dict[str, Any]]:
    with open_log_reader(url) as reader:
        return [json.loads(e) for e in reader.entries(0, reader.size())]


def check_log(records: list[dict[str, Any]], approvers: Approvers) -> None:
    """Allowed once with the honest approvals; each forged set denied with its reason."""
    transfers = [r for r in records if r["tool"] == "transfer" and r["approvals"]]
    assert [r["decision"] for r in transfers] == ["allow"] + ["deny"] * len(CASES)
    assert transfers[0]["approvals"] == approvers.answered[0]
    for record, answered, (name, (_, reason)) in zip(transfers[1:], approvers.answered[1:],
                                                      CASES.items()):
        assert record["code"] == "approval_invalid", name
        assert record["approvals"] == answered, name
        assert reason in record["detail"], (name, record["detail"])


# --- MCP ---------------------------------------------------------------------------------


@pytest.fixture
def mcp_world(tmp_path: Path) -> tuple[World, Approvers]:
    world, approvers = World(tmp_path, tools=TOOLS), Approvers()
    world.chain = [grant(key=world.principal, iss=ISS, holder=world.agent.public_key,
                         tools=TOOLS, now=int(time.time()), ttl=3600, approval=approvers.policy,
                         purpose="Treasury run ENG-2026-114")]
    return world, approvers


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_mcp_gated_tool_runs_only_with_the_right_approvals(
        transport: str, tmp_path: Path, mcp_world: tuple[World, Approvers]) -> None:
    world, approvers = mcp_world
    log = f"sqlite://{tmp_path}/decisions.db"
    async with connect(transport, world.args(world.config(), "--log", log)) as session:
        with pytest.raises(WritDenied) as caught:
            await world.wrap(session).call_tool("transfer", ARGS)  # no callback: no retry
        assert caught.value.denial.code == "approval_required"
        assert world.counts() == {}
        result = await world.wrap(session, approval=approvers.honest()).call_tool("transfer",
                                                                                ARGS)
        assert json.loads(result.content[0].text)["arguments"] == ARGS  # type: ignore[union-attr]
        assert world.counts() == {"transfer": 1}
        request = approvers.asked[0]
        assert request["binding"]["tool"] == "transfer" and request["args"] == ARGS
        assert request["chain"]["purpose"] == "Treasury run ENG-2026-114"
        for name, (forge, _) in CASES.items():
            agent = world.wrap(session, approval=approvers.callback(forge, approvers.answered[0]))
            with pytest.raises(WritDenied) as caught:
                await agent.call_tool("transfer", ARGS)
            assert caught.value.denial.code == "approval_invalid", name
            assert world.counts() == {"transfer": 1}, name
    check_log(log_records(log), approvers)


async def test_mcp_ungated_tool_needs_no_approval(mcp_world: tuple[World, Approvers]) -> None:
    world, approvers = mcp_world
    async with connect("stdio", world.args(world.config())) as session:
        await world.wrap(session, approval=approvers.honest()).call_tool("echo", {"n": 1})
    assert world.counts() == {"echo": 1} and approvers.asked == []


# --- HTTP --------------------------------------------------------------------------------


@dataclass
class Target:
    """A gated HTTP API: ``POST /v1/transfers`` is the tool ``transfer``."""

    origin: str
    cast: Cast
    chain: list[str]
    log_url: str
    calls: list[dict[str, Any]] = field(default_factory=list)

    def auth(self, **options: Any) -> WritAuth:
        return WritAuth(self.chain, self.cast.agents[0], **options)


@pytest.fixture
def approvers() -> Approvers:
    return Approvers()


@pytest.fixture
def target(tmp_path: Path, approvers: Approvers) -> Iterator[Target]:
    cast = Cast(now=int(time.time()))
    chain = cast.root(TOOLS, approval=approvers.policy, purpose="Treasury run ENG-2026-114")
    log_url = f"sqlite://{tmp_path}/decisions.db"
    holder: dict[str, Any] = {}

    async def transfer(request: Request) -> JSONResponse:
        holder["target"].calls.append(json.loads(await request.body()))
        return JSONResponse({"ran": True, "principal": request.scope["writ"]["principal"]})

    def make_app(origin: str) -> Any:
        config = receiver(cast.principal, audience=origin, log=log_url,
                          log_key=str(tmp_path / "log.key"))
        holder["log"] = open_decision_log(config)
        verifier = Verifier(config, stores=open_stores("memory:"), log=holder["log"])
        app = Starlette(routes=[Route("/v1/transfers", transfer, methods=["POST"]),
                                Route("/v1/echo", transfer, methods=["POST"])])
        return WritMiddleware(app, verifier=verifier, routes={"POST /v1/transfers": "transfer",
                                                              "POST /v1/echo": "echo"})

    with serve(make_app) as origin:
        holder["target"] = Target(origin, cast, chain, log_url)
        yield holder["target"]
    holder["log"].close()


def code_of(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["code"])


def test_http_gated_route_runs_only_with_the_right_approvals(target: Target,
                                                            approvers: Approvers) -> None:
    url = target.origin + "/v1/transfers"
    with httpx.Client(auth=target.auth()) as client:
        refused = client.post(url, json=ARGS)  # no callback: the 403 comes back as it is
    assert refused.status_code == 403 and code_of(refused) == "approval_required"
    assert refused.json()["approval_request"]["args"] == ARGS and target.calls == []
    with httpx.Client(auth=target.auth(approval=approvers.honest())) as client:
        done = client.post(url, json=ARGS)
    assert done.status_code == 200, done.text
    assert done.json() == {"ran": True, "principal": "https://security.target.example"}
    assert target.calls == [ARGS] and len(approvers.asked) == 1
    assert approvers.asked[0]["binding"]["aud"] == target.origin
    for name, (forge, _) in CASES.items():
        auth = target.auth(approval=approvers.callback(forge, approvers.answered[0]))
        with httpx.Client(auth=auth) as client:
            response = client.post(url, json=ARGS)
        assert response.status_code == 403 and code_of(response) == "approval_invalid", name
        assert target.calls == [ARGS], name
    check_log(log_records(target.log_url), approvers)


async def test_http_async_client_with_a_blocking_and_an_async_callback(
        target: Target, approvers: Approvers) -> None:
    url = target.origin + "/v1/transfers"
    blocking = approvers.honest()  # a plain function: WritAuth runs it in a worker thread

    async def awaited(request: Request_) -> list[str]:
        return blocking(request)

    for callback in (blocking, awaited):
        async with httpx.AsyncClient(auth=target.auth(approval=callback)) as client:
            response = await client.post(url, json=ARGS)
        assert response.status_code == 200, response.text
    assert target.calls == [ARGS, ARGS] and len(approvers.asked) == 2


def test_http_giving_up_returns_the_403_after_one_question(target: Target) -> None:
    asked: list[Request_] = []
    auth = target.auth(approval=lambda r: asked.append(r) or [])
    with httpx.Client(auth=auth) as client:
        response = client.post(target.origin + "/v1/transfers", json=ARGS)
        ungated = client.post(target.origin + "/v1/echo", json={"n": 1})
    assert code_of(response) == "approval_required" and len(asked) == 1
    assert ungated.status_code == 200 and len(asked) == 1
    assert target.calls == [{"n": 1}]


def test_http_approval_is_asked_once_per_request(target: Target, approvers: Approvers) -> None:
    # Approvals that fail are not a reason to ask again: the flow never loops.
    forge, _ = CASES["below the threshold"]
    auth = target.auth(approval=approvers.callback(forge))
    with httpx.Client(auth=auth) as client:
        response = client.post(target.origin + "/v1/transfers", json=ARGS)
    assert code_of(response) == "approval_invalid" and len(approvers.asked) == 1


class _SwapApprovals(httpx.HTTPTransport):
    """An on-path attacker that drops or replaces the Writ-Approval header of a copy it sends."""

    def __init__(self, replace: Callable[[], str | None]) -> None:
        super().__init__()
        self.replace = replace

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        if "writ-approval" in headers:
            replacement = self.replace()
            del headers["writ-approval"]
            if replacement is not None:
                headers["writ-approval"] = replacement
        copy_ = httpx.Request(request.method, request.url, headers=headers,
                              content=request.read())
        return super().handle_request(copy_)


@pytest.mark.parametrize("attack", ["drop", "replace"])
def test_http_the_signature_covers_the_approvals(target: Target, approvers: Approvers,
                                                 attack: str) -> None:
    def replacement() -> str | None:
        if attack == "drop":
            return None
        # Valid approvals for this very call, by other approvers than the ones signed over.
        asked = approvers.asked[-1]
        return ",".join([approve(asked, approvers.keys[0]), approve(asked, approvers.keys[1])])

    auth = target.auth(approval=approvers.honest())
    with httpx.Client(auth=auth, transport=_SwapApprovals(replacement)) as client:
        response = client.post(target.origin + "/v1/transfers", json=ARGS)
    assert response.status_code == 401 and code_of(response) == "proof_invalid"
    assert target.calls == []


def test_http_a_callback_that_answers_nonsense_is_the_callers_error(target: Target) -> None:
    from writ._errors import ConfigurationError

    for answer in ("one.string.jws", [b"bytes"], ["not a jws"], [1]):
        with httpx.Client(auth=target.auth(approval=lambda r, a=answer: a)) as client, \
                pytest.raises(ConfigurationError):
            client.post(target.origin + "/v1/transfers", json=ARGS)

    async def coroutine(request: Request_) -> list[str]:
        return []

    with httpx.Client(auth=target.auth(approval=coroutine)) as client, \
            pytest.raises(ConfigurationError, match="AsyncClient"):
        client.post(target.origin + "/v1/transfers", json=ARGS)
    assert target.calls == []
