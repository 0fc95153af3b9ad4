"""The HTTP reverse proxy: forward an allowed request to the upstream, stream the answer back.

Only requests that ``WritMiddleware`` allowed reach this app. Hop-by-hop headers
(RFC 9110 §7.6.1) and Writ's own headers are not forwarded; the verified identity
is, as ``Writ-Principal``/``Writ-Agent``/``Writ-Purpose``/``Writ-Decision``, when
configured (and any such header from the client is always dropped, so it cannot be
forged). An upstream that does not answer in time gives a clean 504 problem.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import aiohttp

from writ.http._middleware import Receive, Scope, Send

__all__ = ["ReverseProxy"]

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "transfer-encoding", "upgrade", "host",
                         "content-length"})
_WRIT_HEADERS = frozenset({"signature", "signature-input", "writ-chain", "writ-approval",
                           "writ-principal", "writ-agent", "writ-purpose", "writ-decision"})


def _forwardable(headers: list[tuple[bytes, bytes]], drop: frozenset[str]) -> list[tuple[str, str]]:
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    named = {v.strip().lower() for k, value in pairs if k.lower() == "connection"
             for v in value.split(",")}
    return [(k, v) for k, v in pairs if k.lower() not in drop and k.lower() not in named]


class ReverseProxy:
    """An ASGI app that forwards to one upstream origin.

    The upstream client is aiohttp's: the gateway spent most of its CPU in httpx's
    connection-pool bookkeeping under load (benchmarks/README.md), aiohttp's keep-alive
    pool is far lighter. Bodies pass through untouched (no decompression, no added headers).
    """

    def __init__(self, upstream: str, *, timeout: float, forward_identity: bool) -> None:
        self.upstream = upstream
        self.forward_identity = forward_identity
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:  # made inside the running loop
            self._session = aiohttp.ClientSession(
                auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding"),
                connector=aiohttp.TCPConnector(limit=256))
        return self._session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = _forwardable(list(scope["headers"]), _HOP_BY_HOP | _WRIT_HEADERS)
        headers += self._identity(scope.get("writ"))
        client = scope.get("client") or ("", 0)
        headers.append(("x-forwarded-for", str(client[0])))
        raw = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = self.upstream + raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        try:
            async with self._client().request(scope["method"], url, headers=headers, data=body,
                                              allow_redirects=False, timeout=self.timeout) as up:
                out = [(k.encode("latin-1"), v.encode("latin-1"))
                       for k, v in _forwardable(list(up.raw_headers), _HOP_BY_HOP)]
                await send({"type": "http.response.start", "status": up.status, "headers": out})
                async for chunk in up.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (TimeoutError, aiohttp.ServerTimeoutError):
            await _problem(send, 504, "upstream_timeout", "The upstream did not answer in time.")
        except aiohttp.ClientError:
            await _problem(send, 502, "upstream_unavailable", "The upstream could not be reached.")

    def _identity(self, authority: MutableMapping[str, Any] | None) -> list[tuple[str, str]]:
        if not self.forward_identity or not authority:
            return []
        decision = authority["decision"]
        return [("writ-principal", authority["principal"]), ("writ-agent", authority["holder"]),
                ("writ-purpose", (authority.get("purpose") or "").encode("ascii", "replace")
                 .decode("ascii")), ("writ-decision", decision.decision_id or "")]

    async def aclose(self) -> None:
        """Close upstream connections."""
        if self._session is not None:
            await self._session.close()


async def _problem(send: Send, status: int, code: str, title: str) -> None:
    body = json.dumps({"type": f"urn:writ:gateway:{code}", "title": title, "status": status,
                       "code": code}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
