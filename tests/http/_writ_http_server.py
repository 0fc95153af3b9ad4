"""A real uvicorn server on loopback, in a thread, and a small Writ receiver for the HTTP tests.

The listening socket is bound (port 0) and listening before the server thread
starts, so a client can connect at once: the kernel queues the connection until
uvicorn accepts it. Nothing sleeps; ``serve`` waits on an event that uvicorn's
startup sets.

``Receiver`` stands in for the ASGI middleware (a later issue): it checks the RFC
9421 proof with ``parse_http_proof``/``verify_http_proof`` and answers a ``401``
challenge carrying a fresh nonce until a request is signed with one it issued.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from writ._errors import MalformedError
from writ._keys import PublicKey
from writ.http import (
    SignedRequestParts,
    WritChallenge,
    format_challenge,
    parse_http_proof,
    verify_http_proof,
)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@contextmanager
def serve(make_app: Callable[[str], ASGIApp]) -> Iterator[str]:
    """Run ``make_app(origin)`` on 127.0.0.1 and yield its origin, ``http://127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = _Server(uvicorn.Config(make_app(origin), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    if not server.ready.wait(timeout=10):
        raise RuntimeError("the test server did not start")
    try:
        yield origin
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def request_parts(request: Request, origin: str, body: bytes) -> SignedRequestParts:
    """The receiver's view: ``@target-uri`` is its public origin + the raw request target."""
    query = request.scope["query_string"].decode("ascii")
    target = origin + request.scope["raw_path"].decode("ascii") + ("?" + query if query else "")
    headers = [
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
    ]
    return SignedRequestParts(method=request.method, target_uri=target, headers=headers, body=body)


@dataclass
class Receiver:
    """A test receiver: the holder key it trusts, the nonces it issued, and what it decided."""

    origin: str
    holder: PublicKey
    issued: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    decisions: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def app(self) -> Starlette:
        """The Starlette app: every path and method goes through ``handle``."""
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=methods)])

    def _challenge(self, path: str, reason: str, *, nonce: bool = True) -> Response:
        # ``decisions`` keeps the precise reason; the wire carries a stable decision code.
        self.decisions.append((path, reason))
        code = "proof_invalid" if reason == "nonce_not_issued" else reason
        fresh = secrets.token_urlsafe(16) if nonce else None
        if fresh is not None:
            self.issued.add(fresh)
        header = format_challenge(WritChallenge(realm="writ-test", aud=self.origin, nonce=fresh))
        body = {"type": "about:blank", "title": "Unauthorized", "status": 401, "code": code}
        return JSONResponse(
            body, 401, {"WWW-Authenticate": header}, media_type="application/problem+json"
        )

    async def handle(self, request: Request) -> Response:
        """Check the Writ proof; 200 with what was signed, or a 401 challenge."""
        path = request.url.path
        if path == "/challenge-without-nonce":
            return self._challenge(path, "proof_invalid", nonce=False)
        if path == "/malformed-challenge":
            return Response(
                status_code=401, headers={"WWW-Authenticate": 'Writ realm="unterminated'}
            )
        body = await request.body()
        parts = request_parts(request, self.origin, body)
        if parts.field("signature-input") is None:
            return self._challenge(path, "proof_missing")
        try:
            proof = parse_http_proof(parts)
        except MalformedError:
            return self._challenge(path, "proof_invalid")
        now = time.time()
        if not verify_http_proof(proof, self.holder):
            return self._challenge(path, "proof_invalid")
        if proof.origin != self.origin:
            return self._challenge(path, "audience_mismatch")
        if proof.expires < now:
            return self._challenge(path, "expired")
        if proof.nonce not in self.issued:
            return self._challenge(path, "nonce_not_issued")
        if proof.nonce in self.used or path == "/always-401":
            return self._challenge(path, "replayed")
        self.used.add(proof.nonce)
        self.decisions.append((path, "allow"))
        answer = {
            "method": request.method,
            "target": proof.target_uri,
            "chain": list(proof.chain),
            "body": body.decode("latin-1"),
            "nonce": proof.nonce,
            "covered": list(proof.covered),
        }
        return JSONResponse(answer)
