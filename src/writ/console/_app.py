"""The console's Starlette app: static page plus a read-only JSON API over log, archive, witness.

Every endpoint is GET and reads only. Proof material is served raw (leaf bytes,
audit path, the signed checkpoint note and the log's public key) so that the
page can check the inclusion proof itself (RFC 9162 §2.1.3.2, C2SP signed-note)
rather than trust a server's "verified" flag. Responses carry a strict CSP, and
only loopback Host headers (or the configured host) are answered, which keeps a
DNS-rebinding page from reading the log through a browser.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from writ._errors import MalformedError, StoreUnavailable
from writ._json import loads_strict
from writ._keys import PrivateKey, PublicKey
from writ.console._archive import ChainArchive, token_view
from writ.log._checkpoint import Checkpoint
from writ.log._note import Note
from writ.log._storage import LogReader, StoredCheckpoint

__all__ = ["ConsoleSources", "build_app"]

STATIC = Path(__file__).parent / "static"
MAX_PAGE = 500  # decisions per /api/decisions answer
REFRESH_S = 2.0  # the latest checkpoint is re-read at most this often

_HEADERS = [
    (b"content-security-policy",
     (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class _SecurityHeaders:
    """Adds the CSP and friends to every HTTP response (plain ASGI, as STYLE asks)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class ConsoleSources:
    """What the console reads: the log, the chain archive, optionally a witness and log key."""

    reader: LogReader
    archive: ChainArchive
    witness_path: str | None = None
    log_key: PublicKey | None = None
    log_key_name: str | None = None  # None: the checkpoint's origin (the log's key name)
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _latest: StoredCheckpoint | None = None
    _read_at: tuple[int, float] = (-1, -REFRESH_S)  # (log size, clock) of the last read

    def latest_checkpoint(self, covering: int = -1) -> StoredCheckpoint | None:
        """The newest signed checkpoint, re-read at most every REFRESH_S seconds.

        The read API lists every stored checkpoint (one per committed batch), so on a
        busy log the list is long: it is re-read only when the log grew, no more often
        than REFRESH_S, or when the cached one does not cover entry ``covering``.
        """
        with self._lock:
            cached, (size_then, at) = self._latest, self._read_at
            fresh = cached is not None and cached.size > covering
            if fresh and self.clock() - at < REFRESH_S:
                return cached
            size = self.reader.size()
            if size == size_then and fresh:
                return cached
            signed = [c for c in self.reader.checkpoints() if c.note]
            self._latest = signed[-1] if signed else None
            self._read_at = (size, self.clock())
            return self._latest

    def close(self) -> None:
        """Release the log reader and the archive."""
        self.reader.close()
        self.archive.close()


def _summary(index: int, leaf: bytes) -> dict[str, Any]:
    try:
        record = loads_strict(leaf)
    except MalformedError:
        return {"index": index, "error": "not a JSON decision record"}
    if not isinstance(record, dict):
        return {"index": index, "error": "not a JSON decision record"}
    raw_chain = record.get("chain")
    chain: dict[str, Any] = raw_chain if isinstance(raw_chain, dict) else {}
    holders = chain.get("holders")
    return {"index": index, "id": record.get("id"), "time_ms": record.get("time_ms"),
            "tool": record.get("tool"), "decision": record.get("decision"),
            "code": record.get("code"), "step": record.get("step"),
            "detail": record.get("detail"), "agent": chain.get("agent"),
            "principal": chain.get("principal"), "purpose": chain.get("purpose"),
            "depth": len(holders) if isinstance(holders, list) else None}


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None


class _BadRequest(Exception):
    pass


def decisions(src: ConsoleSources, request: Request) -> dict[str, Any]:
    """GET /api/decisions?after=IDX (newer) or ?before=IDX (older) &limit=N, newest first."""
    limit = min(max(_int_param(request, "limit", 200), 1), MAX_PAGE)
    size = src.reader.size()
    if "before" in request.query_params:
        stop = min(max(_int_param(request, "before", size), 0), size)
        start = max(stop - limit, 0)
    else:
        stop = size
        start = max(_int_param(request, "after", -1) + 1, size - limit, 0)
    leaves = src.reader.entries(start, stop) if start < stop else []
    rows = [_summary(start + i, leaf) for i, leaf in enumerate(leaves)]
    return {"size": size, "decisions": rows[::-1]}


def _index(request: Request, src: ConsoleSources) -> int:
    try:
        index = int(request.path_params["index"])
    except ValueError:
        raise _BadRequest("the index is an integer") from None
    if not 0 <= index < src.reader.size():
        raise LookupError(f"no entry {index} in the log")
    return index


def decision(src: ConsoleSources, request: Request) -> dict[str, Any]:
    """GET /api/decision/IDX: the record and the archived tokens of its chain."""
    index = _index(request, src)
    leaf = src.reader.entry(index)
    try:
        record: Any = loads_strict(leaf)
    except MalformedError:
        record = None
    chain = record.get("chain") if isinstance(record, dict) else None
    hashes = chain.get("token_hashes") if isinstance(chain, dict) else None
    tokens: list[dict[str, Any]] = []
    if isinstance(hashes, list) and all(isinstance(h, str) for h in hashes):
        found = src.archive.lookup(hashes)
        tokens = [{**token_view(found[h], root=i == 0), "compact": found[h]} if h in found
                  else {"hash": h, "error": "not in the chain archive"}
                  for i, h in enumerate(hashes)]
    return {"index": index, "record": record, "leaf_b64": _b64(leaf), "tokens": tokens}


def proof(src: ConsoleSources, request: Request) -> dict[str, Any]:
    """GET /api/proof/IDX: raw material for the page's own inclusion and signature check."""
    index = _index(request, src)
    checkpoint = src.latest_checkpoint(covering=index)
    if checkpoint is None or checkpoint.size <= index or checkpoint.note is None:
        raise LookupError(f"no signed checkpoint covers entry {index} yet")
    leaf = src.reader.entry(index)
    path = src.reader.inclusion_proof(index, checkpoint.size)
    return {"index": index, "tree_size": checkpoint.size, "leaf_b64": _b64(leaf),
            "leaf_hash_b64": _b64(src.reader.leaf_hash(index)),
            "audit_path": [_b64(h) for h in path],
            "checkpoint": checkpoint.note.decode("utf-8"), "log_key": _key_json(src)}


def _key_json(src: ConsoleSources) -> dict[str, Any] | None:
    if src.log_key is None:
        return None
    return {"name": src.log_key_name, "public_key_b64": _b64(src.log_key.raw)}


def graph(src: ConsoleSources, request: Request) -> dict[str, Any]:
    """GET /api/graph: archived tokens as a forest, principal -> agents -> sub-agents."""
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for token in src.archive.tokens():
        node = {**token_view(token.compact, root=token.parent is None), "hash": token.hash,
                "children": []}
        nodes[token.hash] = node
        parent = nodes.get(token.parent) if token.parent else None
        (parent["children"] if parent is not None else roots).append(node)
    principals: dict[str, list[dict[str, Any]]] = {}
    for root in roots:
        principals.setdefault(str(root.get("iss")), []).append(root)
    return {"principals": [{"iss": iss, "tokens": tokens} for iss, tokens in principals.items()]}


def status(src: ConsoleSources, request: Request) -> dict[str, Any]:
    """GET /api/status: log size, latest checkpoint, witness state, archive counts."""
    checkpoint = src.latest_checkpoint()
    cp: dict[str, Any] | None = None
    origin: str | None = None
    if checkpoint is not None and checkpoint.note is not None:
        origin = Checkpoint.parse(Note.parse(checkpoint.note).text).origin
        cp = {"size": checkpoint.size, "root_b64": _b64(checkpoint.root),
              "created": checkpoint.created, "origin": origin}
    chains, tokens = src.archive.counts()
    return {"log": {"size": src.reader.size(), "checkpoint": cp},
            "log_key": _key_json(src), "archive": {"chains": chains, "tokens": tokens},
            "witness": _witness(src.witness_path, origin) if src.witness_path else None}


def _witness(path: str, origin: str | None) -> dict[str, Any]:
    from writ.log._witness import Witness

    # Only the state is read; the key is a throwaway because nothing is cosigned here.
    witness = Witness(path, name="writ-console", key=PrivateKey.generate(), logs={})
    try:
        note = witness.latest(origin) if origin else None
        evidence = witness.evidence(origin) if origin else witness.evidence()
    finally:
        witness.close()
    latest = Checkpoint.parse(Note.parse(note).text) if note else None
    return {"latest_size": latest.size if latest else None,
            "latest_root_b64": _b64(latest.root_hash) if latest else None,
            "evidence_count": len(evidence),
            "evidence": [{"kind": e.kind, "observed_at": e.observed_at, "old_size": e.old_size}
                         for e in evidence[-20:]]}


def _endpoint(src: ConsoleSources, handler: Any) -> Any:
    def run(request: Request) -> Response:
        try:
            return JSONResponse(handler(src, request))
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except (LookupError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except (StoreUnavailable, MalformedError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)

    return run  # a sync endpoint: Starlette runs it in its thread pool (reads block)


def build_app(sources: ConsoleSources, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The console app; ``allowed_hosts`` adds Host names besides the loopback ones."""
    hosts = ["127.0.0.1", "localhost", "[::1]", *(allowed_hosts or [])]

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    routes = [
        Route("/", index),
        Route("/api/decisions", _endpoint(sources, decisions)),
        Route("/api/decision/{index}", _endpoint(sources, decision)),
        Route("/api/proof/{index}", _endpoint(sources, proof)),
        Route("/api/graph", _endpoint(sources, graph)),
        Route("/api/status", _endpoint(sources, status)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
        Middleware(_SecurityHeaders),
    ], lifespan=_closing(sources))


def _closing(sources: ConsoleSources) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            sources.close()

    return lifespan
