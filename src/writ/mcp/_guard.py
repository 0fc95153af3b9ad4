"""The MCP server guard: a ``Server.middleware`` entry that decides every call first.

The official SDK (``mcp`` 2.x) runs ``Server.middleware`` around every inbound request
with the raw params, before params validation and before the handler. The guard
verifies ``tools/call``, ``resources/read`` and ``prompts/get`` there, refuses with a
JSON-RPC error, or passes on the params with the proof removed, so the handler
receives exactly the arguments the agent signed. Protecting a server is one line::

    server.middleware.append(WritGuard(verifier))     # or: protect(server, verifier)

``Verifier.check`` is synchronous and may wait for a durable log append (DESIGN §5),
so it runs in a worker thread and the event loop keeps serving other connections.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

import anyio.to_thread
import mcp_types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from writ._decision import Decision, Denial
from writ._errors import MalformedError
from writ._verify import Verifier
from writ.mcp import _wire

__all__ = ["WritGuard", "current_decision", "protect"]

_T = TypeVar("_T")
_CURRENT: ContextVar[Decision | None] = ContextVar("writ_mcp_decision", default=None)


def current_decision() -> Decision | None:
    """The allow decision of the request being handled (principal, purpose, chain), if any."""
    return _CURRENT.get()


@contextmanager
def _bound(decision: Decision) -> Iterator[None]:
    token = _CURRENT.set(decision)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class WritGuard:
    """Verifies each guarded MCP request before its handler runs; denies with a JSON-RPC error.

    ``filter_tools``: answer ``tools/list`` with only the tools the chain presented in
    ``_meta["writ/proof"]`` grants (no chain, or one that does not verify: no tools).
    Listing is a convenience, not a boundary: every call is still verified.

    ``offload``: run ``Verifier.check`` in a worker thread (the default). Turn it off only
    for a verifier whose stores are in memory and which has no decision log: its check
    never waits on I/O, and running it inline saves the thread hop (docs/mcp.md, "Cost").
    """

    def __init__(self, verifier: Verifier, *, filter_tools: bool = False,
                 offload: bool = True) -> None:
        self.verifier = verifier
        self.filter_tools = filter_tools
        self.offload = offload

    async def _run(self, check: Callable[[], _T]) -> _T:
        return await anyio.to_thread.run_sync(check) if self.offload else check()

    async def __call__(self, ctx: ServerRequestContext[Any, Any],
                       call_next: CallNext) -> HandlerResult:
        """The ``ServerMiddleware`` entry point."""
        if ctx.request_id is None:
            return await call_next(ctx)  # notifications run nothing a writ grants
        if ctx.method in _wire.GUARDED_METHODS:
            return await self._guarded(ctx, call_next)
        if ctx.method == "tools/list" and self.filter_tools:
            return await self._listing(ctx, call_next)
        return await call_next(ctx)

    async def _guarded(self, ctx: ServerRequestContext[Any, Any],
                       call_next: CallNext) -> HandlerResult:
        try:
            call = _wire.invocation_for(ctx.method, ctx.params)
        except _wire.ReservedName as exc:
            raise self._refusal(await self._local("tool_not_granted", str(exc))) from None
        except MalformedError as exc:
            raise self._refusal(await self._local("proof_invalid", str(exc))) from None
        proof = call.proof
        decision = await self._run(functools.partial(
            self.verifier.check, chain=proof.chain if proof else (),
            pop=proof.pop if proof else None, tool=call.tool, args=call.args,
            approvals=proof.approvals if proof else ()))
        if not decision.allowed:
            raise self._refusal(decision)
        meta = call.params.get("_meta")
        with _bound(decision):
            result = await call_next(dataclasses.replace(
                ctx, params=call.params,
                meta=cast(types.RequestParamsMeta, meta) if isinstance(meta, dict) else None))
        return _with_receipt(result, decision)

    async def _local(self, code: str, detail: str) -> Decision:
        """A denial decided before the verifier could run (the request cannot even carry a
        proof); logged like every other decision, with a fresh nonce for proof_invalid."""
        return await self._run(functools.partial(self.verifier.deny, code,
                                                 f"MCP request: {detail}"))

    @staticmethod
    def _refusal(decision: Decision) -> MCPError:
        return MCPError(code=_wire.DENIED, message=decision.reason,
                        data=_wire.denial_data(decision))

    async def _listing(self, ctx: ServerRequestContext[Any, Any],
                       call_next: CallNext) -> HandlerResult:
        chain = _wire.listing_chain(ctx.params)
        granted = await self._run(functools.partial(self._granted, chain))
        result = _as_dict(await call_next(ctx))
        tools = result.get("tools")
        if isinstance(tools, list):
            result["tools"] = [t for t in tools if isinstance(t, dict) and t.get("name") in granted]
        return result

    def _granted(self, chain: tuple[str, ...] | None) -> frozenset[str]:
        """Tool names every token of a verifying chain grants; empty when it does not verify."""
        if not chain:
            return frozenset()
        try:
            # The chain-only steps (signatures, links, anchor, ceiling, time): a listing
            # carries no PoP, so it proves nothing about the caller and reveals only names.
            verified = self.verifier.verify_chain(chain)
        except (Denial, MalformedError, ValueError, TypeError, KeyError):
            return frozenset()
        names: frozenset[str] | None = None
        for writ in verified.writs:
            mine = frozenset(writ.tools or ())
            names = mine if names is None else names & mine
        return names or frozenset()


def _as_dict(result: HandlerResult) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(result or {})


def _with_receipt(result: HandlerResult, decision: Decision) -> HandlerResult:
    if decision.receipt is None:
        return result
    out = _as_dict(result)
    meta = out.get("_meta")
    out["_meta"] = {**(meta if isinstance(meta, dict) else {}),
                    _wire.RECEIPT_KEY: _wire.receipt_json(decision.receipt)}
    return out


def protect(server: Server[Any] | MCPServer[Any], verifier: Verifier, *,
            filter_tools: bool = False, offload: bool = True) -> WritGuard:
    """Guard an ``mcp`` ``Server`` or ``MCPServer``: append a ``WritGuard`` to its middleware."""
    middleware = getattr(server, "middleware", None)
    if not isinstance(middleware, list):
        raise TypeError("protect() needs an mcp Server or MCPServer (mcp >= 2) with .middleware")
    guard = WritGuard(verifier, filter_tools=filter_tools, offload=offload)
    middleware.append(guard)
    return guard
