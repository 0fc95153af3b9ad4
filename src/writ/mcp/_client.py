"""The agent side: a wrapper around the SDK's ``ClientSession`` that signs every call.

The signing and challenge logic is one sans-I/O flow (``proof_flow``), a generator in
the style of ``httpx.Auth.auth_flow``: it yields a ``Send`` (a proof to attach) or an
``Ask`` (an approval request for the callback) and is sent back what happened. The
async driver in ``WritClientSession`` does the I/O. Each call gets a fresh PoP (new
``jti``, ``iat``, ``aat_aud`` = the configured audience, ``hta`` = the arguments); a
denial whose challenge carries a nonce is answered once, re-signed with that nonce,
and an ``approval_required`` denial is answered once through the ``approval`` callback.

The audience always comes from the agent's configuration, never from a challenge: a
server that could choose the audience could have the agent sign a PoP for another
receiver and replay it there.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from writ._keys import PrivateKey
from writ._pop import sign_pop
from writ.mcp import _wire

__all__ = [
    "ApprovalCallback",
    "Ask",
    "Send",
    "Signer",
    "WritClientSession",
    "WritDenied",
    "proof_flow",
]

ApprovalCallback = Callable[[Mapping[str, Any]], Awaitable[Sequence[str]] | Sequence[str]]
"""Given an approval request, return the approval JWSs to present (or ``[]`` to give up)."""

_T = TypeVar("_T")


class WritDenied(MCPError):
    """The server refused the call; ``denial`` holds the stable code, reason and challenge."""

    def __init__(self, denial: _wire.WireDenial, error: MCPError) -> None:
        super().__init__(error.code, error.message, error.data)
        self.denial = denial


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """The leaf holder: its chain (root first), its key, the receiver it addresses."""

    chain: tuple[str, ...]
    key: PrivateKey
    audience: str
    clock: Callable[[], float] = time.time

    def sign(self, tool: str, args: Mapping[str, Any], *, nonce: str | None = None,
             approvals: Sequence[str] = ()) -> _wire.WireProof:
        """A fresh proof for one invocation (AAT draft §5)."""
        pop = sign_pop(key=self.key, leaf=self.chain[-1], tool=tool, args=args,
                       now=int(self.clock()), aud=self.audience, nonce=nonce)
        return _wire.WireProof(chain=self.chain, pop=pop, approvals=tuple(approvals))


@dataclass(frozen=True, slots=True)
class Send:
    """Attach ``proof`` to the request and send it; send back None or the ``WireDenial``."""

    proof: _wire.WireProof


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask the approval callback about ``request``; send back the approvals it returns."""

    request: Mapping[str, Any]


def proof_flow(signer: Signer, tool: str, args: Mapping[str, Any], *,
               can_approve: bool) -> Generator[Send | Ask, Any, None]:
    """Sign, then answer at most one nonce challenge and at most one approval request.

    A nonce is used once (the receiver records it), so answering the approval request
    drops it and allows one more nonce answer: at most four sends in all.
    """
    nonce: str | None = None
    approvals: tuple[str, ...] = ()
    answered_nonce = answered_approval = False
    denial = yield Send(signer.sign(tool, args))
    while isinstance(denial, _wire.WireDenial):
        if denial.nonce is not None and not answered_nonce:
            answered_nonce, nonce = True, denial.nonce
        elif (denial.approval_request is not None and can_approve and not answered_approval
              and _for_us(denial.approval_request, signer, tool, args)):
            answered_approval = True
            approvals = tuple((yield Ask(denial.approval_request)) or ())
            if not approvals:
                return
            nonce, answered_nonce = None, False
        else:
            return
        denial = yield Send(signer.sign(tool, args, nonce=nonce, approvals=approvals))


def _for_us(request: Mapping[str, Any], signer: Signer, tool: str,
            args: Mapping[str, Any]) -> bool:
    """Ask a human only about this agent's own call, at the receiver it addresses: a hostile
    server must not get an approval signed that another agent then spends elsewhere."""
    from writ._approval_request import args_hash

    binding = request.get("binding")
    if not isinstance(binding, Mapping):
        return False
    try:
        expected_args = args_hash(args)
    except Exception:  # noqa: BLE001 - arguments JCS cannot encode: nothing to approve
        return False
    holder = signer.key.public_key.thumbprint_uri
    return (binding.get("agent") == holder and binding.get("tool") == tool
            and binding.get("aud") == signer.audience and binding.get("args_hash") == expected_args)


class WritClientSession:
    """Wraps an ``mcp`` ``ClientSession`` (or ``Client.session``): every call carries a proof."""

    def __init__(self, session: ClientSession, *, chain: Sequence[str], key: PrivateKey,
                 audience: str, approval: ApprovalCallback | None = None,
                 proof_in_arguments: bool = False, clock: Callable[[], float] = time.time) -> None:
        if not chain or not all(isinstance(t, str) for t in chain):
            raise ValueError("chain is a non-empty list of compact writs, root first")
        self.session = session
        self.signer = Signer(chain=tuple(chain), key=key, audience=audience.rstrip("/"),
                             clock=clock)
        self.approval = approval
        self.proof_in_arguments = proof_in_arguments

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None,
                        **options: Any) -> types.CallToolResult:
        """``tools/call`` with a proof; raises ``WritDenied`` when the server refuses."""
        args = _json_arguments(arguments)
        meta = options.pop("meta", None)

        async def send(proof: _wire.WireProof) -> types.CallToolResult:
            if self.proof_in_arguments:
                sent = _wire.with_proof(args, proof, in_arguments=True)
                result = await self.session.call_tool(name, sent, meta=meta, **options)
            else:
                result = await self.session.call_tool(name, args, meta=_meta(meta, proof),
                                                      **options)
            return cast(types.CallToolResult, result)

        return await self._drive(name, args, send)

    async def read_resource(self, uri: str, **options: Any) -> types.ReadResourceResult:
        """``resources/read`` with a proof in ``_meta`` (resources have no arguments to carry it)."""
        meta = options.pop("meta", None)

        async def send(proof: _wire.WireProof) -> types.ReadResourceResult:
            result = await self.session.read_resource(uri, meta=_meta(meta, proof), **options)
            return cast(types.ReadResourceResult, result)

        return await self._drive(_wire.RESOURCE_TOOL, {"uri": uri}, send)

    async def get_prompt(self, name: str, arguments: Mapping[str, str] | None = None,
                         **options: Any) -> types.GetPromptResult:
        """``prompts/get`` with a proof; in arguments it travels as JSON text (prompt args are strings)."""
        args = dict(arguments or {})
        meta = options.pop("meta", None)

        async def send(proof: _wire.WireProof) -> types.GetPromptResult:
            if self.proof_in_arguments:
                sent = _wire.with_proof(args, proof, in_arguments=True, as_text=True)
                result = await self.session.get_prompt(name, sent, meta=meta, **options)
            else:
                result = await self.session.get_prompt(name, args, meta=_meta(meta, proof),
                                                       **options)
            return cast(types.GetPromptResult, result)

        return await self._drive(_wire.prompt_tool(name), args, send)

    async def list_tools(self) -> types.ListToolsResult:
        """``tools/list`` presenting the chain, so a filtering server lists what it grants."""
        listing = _wire.WireProof(chain=self.signer.chain)
        params = types.PaginatedRequestParams.model_validate(
            {"_meta": _wire.with_proof(None, listing)}, by_name=False)
        return await self.session.list_tools(params=params)

    async def _drive(self, tool: str, args: Mapping[str, Any],
                     send: Callable[[_wire.WireProof], Awaitable[_T]]) -> _T:
        flow = proof_flow(self.signer, tool, args, can_approve=self.approval is not None)
        step = next(flow)
        while True:
            if isinstance(step, Ask):
                step = flow.send(await self._ask(step.request))
                continue
            try:
                return await send(step.proof)
            except MCPError as error:
                denial = _wire.WireDenial.from_error(error.code, error.data)
                if denial is None:
                    raise
                try:
                    step = flow.send(denial)
                except StopIteration:
                    raise WritDenied(denial, error) from None

    async def _ask(self, request: Mapping[str, Any]) -> tuple[str, ...]:
        assert self.approval is not None
        answer = self.approval(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return tuple(answer)


def _meta(meta: Mapping[str, Any] | None, proof: _wire.WireProof) -> types.RequestParamsMeta:
    return cast(types.RequestParamsMeta, _wire.with_proof(meta, proof))


def _json_arguments(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments as the server will parse them: what the PoP's ``hta`` must sign."""
    if not arguments:
        return {}
    if not isinstance(arguments, Mapping):
        raise TypeError("tool arguments are a mapping")
    loaded = json.loads(json.dumps(dict(arguments), allow_nan=False))
    return cast(dict[str, Any], loaded)
