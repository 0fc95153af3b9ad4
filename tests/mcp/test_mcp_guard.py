"""The guard's logic in process: the SDK's own in-memory transport, a real Verifier.

The transport tests cover the wire; these pin the edges: malformed proof objects, two
proofs for one call, the reserved namespace, the high-level ``MCPServer``, the worker
thread, and approvals passed through to ``Verifier.check``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import anyio
import mcp_types as types
import pytest
from _mcp_harness import AUD, ISS, World
from mcp.client import Client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from writ import CODES, Decision, ReceiverConfig, Verifier, sign_pop
from writ.mcp import DENIED, PROOF_KEY, WritDenied, WritGuard, current_decision, protect
from writ.stores import open_stores

ARGS = {"to": "acct-7", "amount": "1.00"}


def config(world: World, **options: Any) -> ReceiverConfig:
    return ReceiverConfig.from_json(
        {
            "audience": AUD,
            **options,
            "trust_anchors": [{"iss": ISS, "jwk": world.principal.public_key.jwk}],
        }
    )


class Recorder:
    """A low-level server whose handlers record what they received."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.decisions: list[Decision | None] = []
        self.listings: list[Decision | None] = []

    def server(self) -> Server[Any]:
        async def call_tool(
            ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            self.calls.append(dict(params.arguments or {}))
            self.decisions.append(current_decision())
            return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])

        async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
            self.listings.append(current_decision())
            return types.ListToolsResult(tools=[])

        return Server("recorder", on_call_tool=call_tool, on_list_tools=list_tools)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def pop(world: World, tool: str, args: dict[str, Any]) -> str:
    return sign_pop(
        key=world.agent, leaf=world.chain[-1], tool=tool, args=args, now=int(time.time()), aud=AUD
    )


async def refused(send: Any) -> dict[str, Any]:
    with pytest.raises(MCPError) as caught:
        await send
    assert caught.value.code == DENIED
    return dict(caught.value.data)


@pytest.mark.parametrize(
    "bad",
    [
        "not an object",
        {"chain": "one token"},
        {"chain": [""]},
        ["chain"],
        {"chain": ["x"], "pop": ""},
        {"chain": ["x"], "pop": 7},
        {"chain": ["x"], "extra": 1},
        {"chain": ["x"] * 65},
        {"chain": ["x"], "approvals": "yes"},
    ],
)
async def test_a_malformed_proof_object_is_proof_invalid(world: World, bad: Any) -> None:
    recorder = Recorder()
    server = recorder.server()
    protect(server, Verifier(config(world)))
    async with Client(server) as client:
        data = await refused(client.session.call_tool("echo", {}, meta={PROOF_KEY: bad}))
        assert data["code"] == "proof_invalid"
        assert data["reason"] == CODES["proof_invalid"][1]
        assert set(data["challenge"]) == {"nonce", "aud"}
        data = await refused(client.session.call_tool("echo", {"_writ": bad}))
        assert data["code"] == "proof_invalid"
    assert recorder.calls == []


async def test_two_proofs_for_one_call_are_refused(world: World) -> None:
    recorder = Recorder()
    server = recorder.server()
    protect(server, Verifier(config(world)))
    proof = {"chain": world.chain, "pop": pop(world, "echo", {})}
    async with Client(server) as client:
        data = await refused(
            client.session.call_tool("echo", {"_writ": proof}, meta={PROOF_KEY: proof})
        )
    assert data["code"] == "proof_invalid"
    assert recorder.calls == []


async def test_a_tool_cannot_borrow_the_resource_namespace(world: World) -> None:
    recorder = Recorder()
    server = recorder.server()
    protect(server, Verifier(config(world)))
    args = {"uri": "file:///reports/q3.txt"}
    proof = {"chain": world.chain, "pop": pop(world, "resources/read", args)}
    async with Client(server) as client:
        data = await refused(
            client.session.call_tool("resources/read", args, meta={PROOF_KEY: proof})
        )
    decision_id = data.pop("decision_id")
    assert data == {
        "code": "tool_not_granted",
        "reason": CODES["tool_not_granted"][1],
        "challenge": None,
    }
    assert isinstance(decision_id, str)  # refused before the verifier, and still logged
    assert recorder.calls == []


async def test_the_decision_is_visible_to_the_handler_only(world: World) -> None:
    recorder = Recorder()
    server = recorder.server()
    protect(server, Verifier(config(world)))
    async with Client(server) as client:
        agent = world.wrap(client.session)
        await agent.call_tool("echo", {"n": 1})
        await client.session.list_tools()
    [allowed] = recorder.decisions
    assert allowed is not None and allowed.allowed and allowed.tool == "echo"
    assert recorder.listings and set(recorder.listings) == {None}
    assert current_decision() is None


async def test_the_verifier_runs_off_the_event_loop(world: World) -> None:
    """A verifier blocked in its log append does not stop the server answering others."""
    release, threads, released = threading.Event(), [], []

    class SlowLog:
        def append(self, leaf: bytes) -> dict[str, Any]:
            threads.append(threading.get_ident())
            # Were the loop blocked, nothing would set the event: the wait times out.
            released.append(release.wait(timeout=10))
            return {"index": 0}

    recorder = Recorder()
    server = recorder.server()
    protect(server, Verifier(config(world), stores=open_stores("memory:"), log=SlowLog()))
    async with Client(server) as client, anyio.create_task_group() as group:
        agent = world.wrap(client.session)
        group.start_soon(agent.call_tool, "echo", {"n": 1})
        await client.session.list_tools()  # answered while the call waits for its log entry
        release.set()
    assert recorder.calls == [{"n": 1}]
    assert released == [True]
    assert threads and threads[0] != threading.get_ident()


async def test_without_offload_the_check_runs_on_the_event_loop(world: World) -> None:
    threads: list[int] = []

    class Recording(Verifier):
        def check(self, **kwargs: Any) -> Decision:
            threads.append(threading.get_ident())
            return super().check(**kwargs)

    recorder = Recorder()
    server = recorder.server()
    protect(server, Recording(config(world)), offload=False)
    async with Client(server) as client:
        await world.wrap(client.session).call_tool("echo", {"n": 1})
    assert threads == [threading.get_ident()]
    assert recorder.calls == [{"n": 1}]


async def test_mcpserver_is_protected_by_one_line(world: World) -> None:
    app = MCPServer("payments")
    ran: list[tuple[str, str]] = []

    @app.tool()
    def transfer(to: str, amount: str) -> str:
        ran.append((to, amount))
        return "sent"

    protect(app, Verifier(config(world)))
    async with Client(app) as client:
        with pytest.raises(MCPError):
            await client.call_tool("transfer", ARGS)
        result = await world.wrap(client.session).call_tool("transfer", ARGS)
    assert result.content[0].text == "sent"  # type: ignore[union-attr]
    assert ran == [("acct-7", "1.00")]


def test_protect_needs_an_mcp_server(world: World) -> None:
    with pytest.raises(TypeError):
        protect(object(), Verifier(config(world)))
    server = Recorder().server()
    guard = protect(server, Verifier(config(world)))
    assert isinstance(guard, WritGuard) and server.middleware[-1] is guard


class ApprovingVerifier(Verifier):
    """Stands in for the approval step (a later issue): approval_required until approved."""

    seen: ClassVar[list[tuple[str, ...]]] = []

    def check(self, *, approvals: Sequence[str] = (), **kwargs: Any) -> Decision:
        type(self).seen.append(tuple(approvals))
        decision = super().check(approvals=approvals, **kwargs)
        if decision.allowed and tuple(approvals) != ("approved-by-alice",):
            from writ import Writ
            from writ._approval_request import args_hash

            chain = kwargs["chain"]
            holder = Writ.parse_unverified(chain[-1], root=len(chain) == 1).holder
            binding = {"tool": kwargs["tool"], "args_hash": args_hash(kwargs["args"]),
                       "aud": self.config.audiences[0], "agent": holder.thumbprint_uri,
                       "request": "r-1"}
            return Decision(
                allowed=False,
                code="approval_required",
                reason=CODES["approval_required"][1],
                challenge={"approval_request": {"binding": binding}},
            )
        return decision


async def test_approvals_reach_the_verifier_and_are_asked_once(world: World) -> None:
    recorder = Recorder()
    server = recorder.server()
    protect(server, ApprovingVerifier(config(world)))
    asked: list[Any] = []

    async def approve(request: Any) -> list[str]:
        asked.append(request)
        return ["approved-by-alice"]

    async with Client(server) as client:
        await world.wrap(client.session, approval=approve).call_tool("echo", {"n": 1})
        with pytest.raises(WritDenied) as caught:
            await world.wrap(client.session, approval=lambda r: ["forged"]).call_tool("echo", {})
        assert caught.value.denial.code == "approval_required"
        with pytest.raises(WritDenied):
            await world.wrap(client.session).call_tool("echo", {})  # no callback: no retry
    assert len(asked) == 1 and asked[0]["binding"]["tool"] == "echo"
    assert ApprovingVerifier.seen == [(), ("approved-by-alice",), (), ("forged",), ()]
    assert recorder.calls == [{"n": 1}]
