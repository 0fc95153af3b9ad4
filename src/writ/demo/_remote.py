"""The demo's agents on real transports: MCP over streamable HTTP to the guarded tool
server, and HTTP (RFC 9421) through ``writ gateway`` to the customer API."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar, cast

import httpx
import mcp_types as types
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from writ._errors import StoreUnavailable
from writ.demo._cast import Agent
from writ.demo._channel import Outcome
from writ.demo._stack import Stack
from writ.http import WritAuth
from writ.mcp import _wire
from writ.mcp._client import Signer

__all__ = ["RemoteChannel"]

_T = TypeVar("_T")
HTTP_TOOLS = {"read_customer": ("GET", "/customers/{id}"), "export_customers": ("POST", "/export")}


class RemoteChannel:
    """Calls tools as an agent would; every call crosses a real socket."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._http = httpx.Client(timeout=30)
        # One MCP session for every agent: the proof, not the connection, says who asks.
        # A single owner task enters and exits the client, as anyio's scopes require.
        self._session: ClientSession | None = None
        self._ready = threading.Event()
        self._closing: asyncio.Event | None = None
        self._owner = asyncio.run_coroutine_threadsafe(self._own_session(), self._loop)
        if not self._ready.wait(timeout=30):
            raise StoreUnavailable("could not open an MCP session to the tool server")

    async def _own_session(self) -> None:
        self._closing = asyncio.Event()
        try:
            async with Client(self.stack.mcp_url) as client:
                self._session = client.session
                self._ready.set()
                await self._closing.wait()
        finally:
            self._ready.set()

    def _run(self, coro: Awaitable[_T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]


    def call(self, agent: Agent, tool: str, args: dict[str, Any], *,
             approvals: Sequence[str] = (), replay: Any = None) -> Outcome:
        """Route HTTP tools through the gateway, the rest over MCP."""
        if tool in HTTP_TOOLS:
            return self._http_call(agent, tool, args, replay)
        return self._run(self._mcp_call(agent, tool, args, approvals, replay))

    async def _mcp_call(self, agent: Agent, tool: str, args: dict[str, Any],
                        approvals: Sequence[str], replay: Any) -> Outcome:
        session = self._session
        assert session is not None
        signer = Signer(chain=tuple(agent.chain), key=agent.key, audience=self.stack.mcp_audience)
        proof = replay or signer.sign(tool, args, approvals=approvals)
        try:
            meta = cast(types.RequestParamsMeta, _wire.with_proof(None, proof))
            result = await session.call_tool(tool, args, meta=meta)
        except MCPError as error:
            denial = _wire.WireDenial.from_error(error.code, error.data)
            if denial is None:
                raise
            return Outcome(allowed=False, code=denial.code, reason=denial.reason,
                           challenge=dict(denial.challenge or {}), proof=proof)
        content = result.content[0] if result.content else None
        text = getattr(content, "text", "{}")
        return Outcome(allowed=True, code=None, reason="allowed", result=json.loads(text),
                       proof=proof)

    def call_many(self, agent: Agent, tool: str, args_list: Sequence[dict[str, Any]], *,
                  concurrency: int = 32) -> list[Outcome]:
        """Many MCP calls at machine speed, ``concurrency`` in flight at once."""
        async def burst() -> list[Outcome]:
            gate = asyncio.Semaphore(concurrency)

            async def one(args: dict[str, Any]) -> Outcome:
                async with gate:
                    return await self._mcp_call(agent, tool, args, (), None)

            return list(await asyncio.gather(*(one(a) for a in args_list)))

        return self._run(burst())

    def _http_call(self, agent: Agent, tool: str, args: dict[str, Any], replay: Any) -> Outcome:
        method, template = HTTP_TOOLS[tool]
        url = self.stack.gateway + template.format(**args)
        body = {k: v for k, v in args.items() if "{" + k + "}" not in template}
        if replay is not None:
            response = self._http.send(httpx.Request(replay.method, replay.url,
                                                     headers=replay.headers,
                                                     content=replay.content))
            request = replay
        else:
            request = self._http.build_request(method, url, json=body if method == "POST" else None)
            auth = WritAuth(agent.chain, agent.key)
            flow = auth.auth_flow(request)
            request = next(flow)
            response = self._http.send(request)
        if response.status_code < 400:
            return Outcome(allowed=True, code=None, reason="allowed", result=response.json(),
                           proof=request)
        problem = response.json()
        return Outcome(allowed=False, code=problem.get("code"), reason=problem.get("title", ""),
                       challenge=problem.get("approval_request") and
                       {"approval_request": problem["approval_request"]}, proof=request)

    def revoke(self, statement: str) -> None:
        """Load the statement into the shared receiver state (both receivers read it)."""
        from writ._config import ReceiverConfig
        from writ._revocation import parse_revocation
        from writ.stores import open_stores

        config = ReceiverConfig.load(self.stack.receivers["mcp"])
        stores = open_stores(config.state)
        try:
            stores.revocations.add(parse_revocation(statement))
        finally:
            stores.close()

    def close(self) -> None:
        """Close sessions and the loop."""
        if self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        self._owner.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._http.close()
