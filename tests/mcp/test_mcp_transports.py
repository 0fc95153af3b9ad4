"""The guard and the client over real transports: stdio and streamable HTTP, real subprocesses.

Every denial is checked for its exact JSON-RPC error (code and ``data``) and for the
side-effect counter the server's handlers write: a denied call must not have run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from _mcp_harness import AUD, World, connect
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from writ import CODES, PrivateKey, sign_pop
from writ.mcp import DENIED, PROOF_KEY, RECEIPT_KEY, WritClientSession, WritDenied

pytestmark = pytest.mark.parametrize("transport", ["stdio", "http"])

ARGS = {"to": "acct-7", "amount": "12.50"}
WITH_NONCE = {"nonce", "aud"}


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def pop_for(world: World, tool: str, args: dict[str, Any], *, aud: str = AUD) -> str:
    return sign_pop(
        key=world.agent, leaf=world.chain[-1], tool=tool, args=args, now=int(time.time()), aud=aud
    )


def proof_meta(world: World, pop: str) -> Any:
    return {PROOF_KEY: {"chain": world.chain, "pop": pop}}


async def denied(send: Any) -> dict[str, Any]:
    """Await ``send``; it must fail with a Writ denial. Return the error data."""
    with pytest.raises(MCPError) as caught:
        await send
    assert caught.value.code == DENIED
    data = caught.value.data
    assert set(data) == {"code", "reason", "challenge", "decision_id"}
    assert data["reason"] == CODES[data["code"]][1]
    assert caught.value.message == data["reason"]
    return dict(data)


def seen(result: Any) -> dict[str, Any]:
    """What the test server's handler reported it received."""
    return dict(json.loads(result.content[0].text))


async def test_legitimate_calls_run_with_exactly_the_signed_arguments(
    transport: str, world: World
) -> None:
    async with connect(transport, world.args(world.config())) as session:
        agent = world.wrap(session)
        report = seen(await agent.call_tool("transfer", ARGS))
        assert report["arguments"] == ARGS
        assert PROOF_KEY not in report["meta_keys"]
        assert report["principal"] == "https://security.target.example"
        resource = await agent.read_resource("file:///reports/q3.txt")
        assert resource.contents[0].text == "contents of file:///reports/q3.txt"  # type: ignore[union-attr]
        prompt = await agent.get_prompt("summary", {"topic": "q3"})
        assert prompt.messages[0].content.text == '{"topic": "q3"}'  # type: ignore[union-attr]
    assert world.counts() == {"transfer": 1, "resource": 1, "prompt": 1}


async def test_denied_before_the_handler_runs(transport: str, world: World) -> None:
    async with connect(transport, world.args(world.config())) as session:
        # No proof at all: 401-style, with a nonce challenge.
        data = await denied(session.call_tool("transfer", ARGS))
        assert data["code"] == "proof_missing" and set(data["challenge"]) == WITH_NONCE
        assert data["challenge"]["aud"] == AUD
        # A PoP over other arguments (an attacker edits the amount in flight).
        pop = pop_for(world, "transfer", ARGS)
        data = await denied(
            session.call_tool(
                "transfer", {**ARGS, "amount": "9999.00"}, meta=proof_meta(world, pop)
            )
        )
        assert data["code"] == "proof_invalid" and set(data["challenge"]) == WITH_NONCE
        # A PoP for one granted tool presented for another granted tool.
        pop = pop_for(world, "transfer", ARGS)
        data = await denied(session.call_tool("echo", ARGS, meta=proof_meta(world, pop)))
        assert data["code"] == "proof_invalid"
        # A PoP addressed to another receiver.
        pop = pop_for(world, "transfer", ARGS, aud="https://other.example")
        data = await denied(session.call_tool("transfer", ARGS, meta=proof_meta(world, pop)))
        assert data == {**data, "code": "audience_mismatch", "challenge": None}
        # Signed correctly, but outside what the writ grants.
        wide = {"to": "mallory", "amount": "1.00"}
        data = await denied(
            session.call_tool(
                "transfer", wide, meta=proof_meta(world, pop_for(world, "transfer", wide))
            )
        )
        assert data == {**data, "code": "argument_violation", "challenge": None}
        # A tool the writ does not name at all.
        data = await denied(
            session.call_tool(
                "delete_all", {}, meta=proof_meta(world, pop_for(world, "delete_all", {}))
            )
        )
        assert data == {**data, "code": "tool_not_granted", "challenge": None}
        # Resources and prompts are guarded too.
        data = await denied(session.read_resource("file:///reports/q3.txt"))
        assert data["code"] == "proof_missing"
        agent = world.wrap(session)
        with pytest.raises(WritDenied) as caught:
            await agent.read_resource("file:///etc/passwd")
        assert caught.value.denial.code == "argument_violation"
        data = await denied(session.get_prompt("summary", {"topic": "q3"}))
        assert data["code"] == "proof_missing"
    assert world.counts() == {}


async def test_a_replayed_proof_is_refused(transport: str, world: World) -> None:
    async with connect(transport, world.args(world.config())) as session:
        meta = proof_meta(world, pop_for(world, "transfer", ARGS))
        await session.call_tool("transfer", ARGS, meta=meta)
        data = await denied(session.call_tool("transfer", ARGS, meta=meta))
        assert data["code"] == "replayed" and set(data["challenge"]) == WITH_NONCE
    assert world.counts() == {"transfer": 1}


async def test_the_writ_argument_fallback(transport: str, world: World) -> None:
    async with connect(transport, world.args(world.config())) as session:
        agent = world.wrap(session, proof_in_arguments=True)
        report = seen(await agent.call_tool("transfer", ARGS))
        assert report["arguments"] == ARGS  # the tool never sees `_writ`
        prompt = await agent.get_prompt("summary", {"topic": "q3"})
        assert prompt.messages[0].content.text == '{"topic": "q3"}'  # type: ignore[union-attr]
        # By hand: the proof object as the `_writ` argument, no `_meta`.
        proof = {"chain": world.chain, "pop": pop_for(world, "echo", {"x": 1})}
        report = seen(await session.call_tool("echo", {"x": 1, "_writ": proof}))
        assert report["arguments"] == {"x": 1}
        # `_writ` is not an argument the PoP may cover: signed with it, the call is refused.
        signed_with = {"x": 2, "_writ": "anything"}
        proof = {"chain": world.chain, "pop": pop_for(world, "echo", signed_with)}
        data = await denied(session.call_tool("echo", {"x": 2, "_writ": proof}))
        assert data["code"] == "proof_invalid"
    assert world.counts() == {"transfer": 1, "prompt": 1, "echo": 1}


async def test_a_nonce_challenge_is_answered_once(transport: str, world: World) -> None:
    async with connect(transport, world.args(world.config(require_nonce=True))) as session:
        counting = _Counting(session)
        agent = world.wrap(counting)  # type: ignore[arg-type]
        report = seen(await agent.call_tool("transfer", ARGS))
        assert report["arguments"] == ARGS
        assert counting.calls == 2  # refused without a nonce, then re-signed with it
        # A key that is not the holder's keeps drawing challenges: answered once only.
        counting.calls = 0
        impostor = WritClientSession(
            counting,
            chain=world.chain,  # type: ignore[arg-type]
            key=PrivateKey.generate(),
            audience=AUD,
        )
        with pytest.raises(WritDenied) as caught:
            await impostor.call_tool("transfer", ARGS)
        assert caught.value.denial.code == "proof_invalid"
        assert counting.calls == 2
    assert world.counts() == {"transfer": 1}


async def test_listing_is_filtered_and_receipts_are_returned(transport: str, world: World) -> None:
    log = f"sqlite:///{world.root / 'log.db'}"
    args = world.args(world.config(), "--filter-tools", "--log", log)
    async with connect(transport, args) as session:
        agent = world.wrap(session)
        listed = await agent.list_tools()
        assert sorted(t.name for t in listed.tools) == ["echo", "transfer"]
        assert (await session.list_tools()).tools == []  # no chain presented: nothing listed
        result = await agent.call_tool("echo", {"n": 1})
        receipt = (result.meta or {})[RECEIPT_KEY]
        assert isinstance(receipt, dict) and receipt
        assert world.counts() == {"echo": 1}


class _Counting:
    """A session that counts the tools/call requests it sends."""

    def __init__(self, session: ClientSession) -> None:
        self.session, self.calls = session, 0

    async def call_tool(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await self.session.call_tool(*args, **kwargs)
