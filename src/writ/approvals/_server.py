"""The approver's local web page: pending requests, Approve and Deny, signed with one key.

    GET  /                          the page (static/index.html with this server's token)
    GET  /api/requests[?after=V&wait=S]   every entry; long-polls until the inbox changes
    POST /api/requests              an approval request (JSON) → {"id", "status"}
    GET  /api/requests/{id}[?wait=S]      one entry; long-polls until it is decided
    POST /api/requests/{id}/approve  (X-Writ-Token) sign with the approver's key
    POST /api/requests/{id}/deny     (X-Writ-Token)

An agent's approval callback (``writ.approvals.web_callback``) posts the request and
long-polls its entry: it receives ``approvals: [jws]`` once approved, ``[]`` once
denied or expired.

It is a loopback tool, and guarded as one against the web pages its user visits:

* DNS rebinding: a request whose ``Host`` is not a loopback name is refused, so a
  hostile page can never become same-origin with this server and read its token;
* CSRF: Approve and Deny need the per-server token embedded in the page, in an
  ``X-Writ-Token`` header (a custom header forces a CORS preflight that this server
  never grants); posting a request needs ``Content-Type: application/json`` (likewise
  not sendable cross-site without a preflight), and a foreign ``Origin`` is refused;
* clickjacking: the page may not be framed (CSP ``frame-ancestors 'none'``).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from writ._approval_request import sign_approval
from writ._errors import MalformedError
from writ._json import loads_strict
from writ._keys import PrivateKey
from writ.approvals._inbox import APPROVED, DENIED, PENDING, Entry, Inbox
from writ.approvals._request import ApprovalRequest

__all__ = ["TOKEN_HEADER", "create_app"]

TOKEN_HEADER = "X-Writ-Token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
MAX_WAIT = 60.0
_MAX_BODY = 64 * 1024
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=_SECURITY_HEADERS)


def _host_name(host: str) -> str:
    return host.rsplit(":", 1)[0] if not host.endswith("]") else host


class _Changes:
    """Wakes long-polls: a version number and the waiters for the next change."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


class _Approvals:
    """The handlers, over one inbox and one approver key."""

    def __init__(self, *, key: PrivateKey, inbox: Inbox, token: str,
                 clock: Callable[[], float]) -> None:
        self.key, self.inbox, self.token, self.clock = key, inbox, token, clock
        self.changes = _Changes()
        page = resources.files("writ.approvals").joinpath("static/index.html").read_text()
        self.page = page.replace("__WRIT_TOKEN__", token).replace(
            "__WRIT_APPROVER__", key.public_key.thumbprint_uri)

    def view(self, entry: Entry) -> dict[str, Any]:
        """An entry as the page and the poller see it."""
        now = self.clock()
        request = ApprovalRequest.parse(entry.request)
        status = entry.status
        if status == PENDING and request.expired(now):
            status = "expired"
        return {**request.view(now=now, approver=self.key), "status": status,
                "approvals": [entry.approval] if entry.approval else [],
                "received": entry.received}

    async def page_(self, request: Request) -> Response:
        return HTMLResponse(self.page, headers=_SECURITY_HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return _problem(404, "not found")
        text = resources.files("writ.approvals").joinpath(f"static/{name}").read_text()
        return Response(text, media_type=_STATIC[name], headers=_SECURITY_HEADERS)

    async def list_(self, request: Request) -> Response:
        after = _number(request.query_params.get("after"), -1)
        if self.changes.version == after:  # a page from before a restart gets an answer now
            await self.changes.wait(min(_number(request.query_params.get("wait"), 0), MAX_WAIT))
        views = [self.view(e) for e in self.inbox.entries()]
        return JSONResponse({"version": self.changes.version, "approver":
                             self.key.public_key.thumbprint_uri, "requests": views},
                            headers=_SECURITY_HEADERS)

    async def submit(self, request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return _problem(415, "an approval request is sent as application/json")
        body = await request.body()
        if len(body) > _MAX_BODY:
            return _problem(413, "the approval request is too large")
        try:
            parsed = ApprovalRequest.parse(loads_strict(body))
        except MalformedError as exc:
            return _problem(400, f"not an approval request: {exc}")
        entry = self.inbox.put(Entry(id=parsed.id, request=dict(parsed.raw),
                                     received=self.clock()))
        self.changes.bump()
        return JSONResponse({"id": entry.id, "status": self.view(entry)["status"]}, 201,
                            headers=_SECURITY_HEADERS)

    async def one(self, request: Request) -> Response:
        entry_id = request.path_params["entry_id"]
        deadline = time.monotonic() + min(_number(request.query_params.get("wait"), 0), MAX_WAIT)
        while True:
            entry = self.inbox.get(entry_id)
            if entry is None:
                return _problem(404, "no such request")
            view = self.view(entry)
            left = deadline - time.monotonic()
            if view["status"] != PENDING or left <= 0:
                return JSONResponse(view, headers=_SECURITY_HEADERS)
            # Wake on any change, or when the request expires, whichever is first.
            await self.changes.wait(min(left, max(view["expires"] - self.clock(), 0.0)))

    async def approve(self, request: Request) -> Response:
        return self._decide(request, approve=True)

    async def deny(self, request: Request) -> Response:
        return self._decide(request, approve=False)

    def _decide(self, request: Request, *, approve: bool) -> Response:
        if not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), self.token):
            return _problem(403, "missing or wrong page token")
        entry = self.inbox.get(request.path_params["entry_id"])
        if entry is None:
            return _problem(404, "no such request")
        parsed = ApprovalRequest.parse(entry.request)
        now = self.clock()
        approval = None
        if approve:
            if parsed.expired(now):
                return _problem(410, "the request has expired; the agent must ask again")
            if not parsed.may_sign(self.key):
                return _problem(403, "this key is not one of the request's approvers")
            approval = sign_approval(parsed.raw, key=self.key, now=int(now))
        done = self.inbox.decide(entry.id, status=APPROVED if approve else DENIED,
                                 approval=approval, now=now)
        if done is None:
            return _problem(409, "the request was already decided")
        self.changes.bump()
        return JSONResponse(self.view(done), headers=_SECURITY_HEADERS)


def _number(text: str | None, default: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) else default


class _LoopbackOnly:
    """Refuse non-loopback Host (DNS rebinding) and foreign Origin (CSRF) before routing."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope["headers"]}
            host = headers.get("host", "").lower()
            origin = headers.get("origin")
            bad_host = _host_name(host) not in LOOPBACK
            # A page on another loopback port is another origin too: only our own may post.
            bad_origin = origin is not None and origin.lower() != f"http://{host}"
            if bad_host or bad_origin:
                what = "Host" if bad_host else "Origin"
                await _problem(403, f"{what} is not a loopback name")(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(*, key: PrivateKey, inbox: Inbox, token: str | None = None,
               clock: Callable[[], float] = time.time) -> Any:
    """The ASGI app for one approver; ``token`` defaults to a fresh random one."""
    h = _Approvals(key=key, inbox=inbox, token=token or secrets.token_urlsafe(32), clock=clock)
    routes = [
        Route("/", h.page_), Route("/static/{name}", h.static),
        Route("/api/requests", h.list_, methods=["GET"]),
        Route("/api/requests", h.submit, methods=["POST"]),
        Route("/api/requests/{entry_id}", h.one, methods=["GET"]),
        Route("/api/requests/{entry_id}/approve", h.approve, methods=["POST"]),
        Route("/api/requests/{entry_id}/deny", h.deny, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.approvals = h
    return _LoopbackOnly(app)
