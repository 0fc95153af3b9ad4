"""``WritMiddleware``: a pure ASGI middleware that decides every request before the app runs.

    app = WritMiddleware(app, verifier=verifier, routes={"POST /v1/orders/{id}/refund":
                                                         "refund_order"})

The request body is read once (up to ``max_body``), checked, and handed to the app
unchanged. On allow, ``scope["writ"]`` holds the verified authority; on deny the app
never runs and the client gets an RFC 9457 problem (401 with a ``WWW-Authenticate:
Writ`` challenge when the proof is missing or stale, 403 or 429 otherwise).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

import anyio.to_thread

from writ._decision import Decision
from writ._errors import ConfigurationError, MalformedError
from writ._verify import Verifier
from writ.http._holder import HttpHolderProof
from writ.http._problem import problem, receipt_header
from writ.http._routes import RouteTable, call_arguments
from writ.http._signature import SignedRequestParts, origin_of, parse_http_proof

__all__ = ["WritMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WritMiddleware:
    """Verify each routed request with a ``Verifier`` before the wrapped app sees it."""

    def __init__(self, app: ASGIApp, *, verifier: Verifier, routes: Mapping[str, str],
                 unmatched: str = "deny", public_paths: Sequence[str] = (),
                 max_body: int = 1 << 20, realm: str = "writ") -> None:
        if unmatched not in ("deny", "pass"):
            raise ConfigurationError("unmatched is 'deny' or 'pass'")
        self.app = app
        self.verifier = verifier
        self.routes = RouteTable(routes)
        self.unmatched = unmatched
        self.public_paths = tuple(public_paths)
        self.max_body = max_body
        self.realm = realm
        self._hosts = {origin_of(a).split("://", 1)[1]: a for a in verifier.config.audiences}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        route = self.routes.match(scope["method"], path)
        if route is None:
            if self.unmatched == "pass" or self._public(path):
                await self.app(scope, receive, send)
                return
            await self._deny(send, self._local("tool_not_granted", "no route for this request"))
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            await self._deny(send, self._local("too_large", "the body exceeds max_body"))
            return
        decision = await anyio.to_thread.run_sync(self._decide, scope, body, *route)
        if not decision.allowed:
            await self._deny(send, decision)
            return
        scope["writ"] = _authority(decision)
        await self.app(scope, _replay(body, receive), _with_receipt(send, decision))

    def _decide(self, scope: Scope, body: bytes, tool: str, params: dict[str, str]) -> Decision:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        lookup = {k.lower(): v for k, v in headers}
        if "signature" not in lookup and "writ-chain" not in lookup:
            return self.verifier.decide(chain=(), proof=None, tool=tool, args={})
        try:
            args = call_arguments(params, scope.get("query_string", b""), body,
                                  lookup.get("content-type"))
            parts = SignedRequestParts(method=scope["method"], target_uri=self._target(scope,
                                       lookup), headers=headers, body=body)
            proof = parse_http_proof(parts)
        except MalformedError as exc:
            return self._local("proof_invalid", str(exc))
        approvals = [a.strip() for a in lookup.get("writ-approval", "").split(",") if a.strip()]
        return self.verifier.decide(chain=proof.chain, proof=HttpHolderProof(proof), tool=tool,
                                    args=args, approvals=approvals)

    def _target(self, scope: Scope, headers: Mapping[str, str]) -> str:
        # The public origin the client addressed: the configured audience whose authority is
        # this request's Host. Behind a TLS-terminating proxy the scheme comes from config.
        origin = self._hosts.get(headers.get("host", "").lower())
        if origin is None:
            origin = f"{scope.get('scheme', 'http')}://{headers.get('host', 'unknown')}"
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        return str(origin) + raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")

    def _public(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.public_paths)

    def _local(self, code: str, detail: str) -> Decision:
        """A denial decided before the verifier could run; still logged when a log is set."""
        return self.verifier.deny(code, detail)

    async def _deny(self, send: Send, decision: Decision) -> None:
        status, headers, body = problem(decision, realm=self.realm)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _authority(decision: Decision) -> dict[str, Any]:
    chain = decision.chain
    assert chain is not None
    return {"principal": chain.principal, "purpose": chain.purpose, "holder": chain.agent,
            "chain": chain, "decision": decision}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_receipt(send: Send, decision: Decision) -> Send:
    if decision.receipt is None:
        return send
    value = receipt_header(decision.receipt)

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"writ-receipt", value)]}
        await send(message)

    return wrapped
