"""``WritAuth``: an ``httpx.Auth`` that signs every request with Writ's RFC 9421 profile.

One sans-I/O generator, ``_flow``, serves ``httpx.Client`` and ``httpx.AsyncClient``
alike (the httpx ``DigestAuth`` pattern): it signs the request and yields it, and
it answers, each at most once:

* a ``401`` carrying a ``Writ`` challenge with a receiver nonce (DESIGN §2,
  "Challenges"): the same request is signed again with that nonce;
* a ``403`` RFC 9457 problem whose ``code`` is ``approval_required`` and which
  carries an ``approval_request``, when an ``approval`` callback is configured: the
  flow yields an ``AskApproval`` to its driver, which asks the callback for the
  approval JWSs; the same request is then signed again with a ``Writ-Approval``
  header (the approvals, comma-separated) that the signature covers. No approvals
  (an empty list) means give up: the ``403`` goes back to the caller.

A nonce is used once, so answering the approval request allows one more nonce
answer: at most four sends in all, and the flow never loops.

The approval callback may block: a human decides. ``httpx.Client`` calls it in
the calling thread. ``httpx.AsyncClient`` awaits a coroutine function; a plain
function runs in a worker thread (``anyio.to_thread``), so a slow human never
blocks the event loop; an awaitable it returns is awaited.

The body is signed through its RFC 9530 digest, so httpx reads it first
(``requires_request_body``). A streaming body is therefore held in memory; bodies
larger than ``max_body_bytes`` (default 16 MiB) are refused rather than signed.
Response bodies are read only for a ``403`` problem that may carry an approval
request; every other response streams as usual.

httpx runs an auth flow once per request, not once per redirect hop, so with
``follow_redirects=True`` a redirected request would carry the original signature
and chain to the new location. Leave redirects off (the httpx default) and follow
them deliberately.
"""

from __future__ import annotations

import inspect
import json
import re
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio.to_thread
import httpx

from writ._errors import ConfigurationError, MalformedError
from writ._keys import PrivateKey
from writ.http._challenge import find_writ_challenge
from writ.http._signature import MAX_LIFETIME, SignedRequestParts, format_chain_header, sign_request

__all__ = ["APPROVAL_HEADER", "DEFAULT_MAX_BODY_BYTES", "ApprovalCallback", "AskApproval",
           "WritAuth"]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
APPROVAL_HEADER = "Writ-Approval"
_MAX_APPROVALS = 32  # the verifier refuses more (writ._approval_request)
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

ApprovalCallback = Callable[[Mapping[str, Any]], "Sequence[str] | Awaitable[Sequence[str]]"]
"""Given an approval request, return the approval JWSs to present (``[]`` to give up)."""


@dataclass(frozen=True, slots=True)
class AskApproval:
    """The flow asks its driver: run the approval callback on ``request``, send back its answer."""

    request: Mapping[str, Any]


def _random_nonce() -> str:
    return secrets.token_urlsafe(16)


def _target_uri(url: httpx.URL) -> str:
    # RFC 9110 §7.1: the target URI has no userinfo and no fragment. httpx has already
    # lowercased the host, dropped a default port and percent-encoded the path.
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.raw_path.decode('ascii')}"


def _may_ask(response: httpx.Response) -> bool:
    """A 403 RFC 9457 problem: the only answer that can carry an approval request."""
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return response.status_code == 403 and media == "application/problem+json"


def _approval_request(response: httpx.Response, holder: str) -> Mapping[str, Any] | None:
    """The ``approval_request`` of an ``approval_required`` problem (DESIGN §2), or None.

    A request that does not name this holder as its agent is not about our call: a
    receiver could otherwise have our human sign approvals for someone else's.
    """
    if not _may_ask(response):
        return None
    try:
        body = json.loads(response.content)
    except (ValueError, httpx.ResponseNotRead):
        return None
    if not isinstance(body, dict) or body.get("code") != "approval_required":
        return None
    request = body.get("approval_request")
    if not isinstance(request, dict) or not isinstance(request.get("binding"), dict) \
            or request["binding"].get("agent") != holder:
        return None
    return request


def _nonce_challenge(response: httpx.Response) -> str | None:
    if response.status_code != 401:
        return None
    try:
        challenge = find_writ_challenge(response.headers.get_list("www-authenticate"))
    except MalformedError:
        return None  # a challenge we cannot read is the caller's to see, not ours to guess
    return challenge.nonce if challenge is not None else None


def _checked(answer: object) -> tuple[str, ...]:
    """The callback's answer as approvals; anything else is the caller's mistake."""
    if isinstance(answer, (str, bytes)) or not isinstance(answer, Sequence):
        raise ConfigurationError("the approval callback returns a list of approval JWSs")
    if len(answer) > _MAX_APPROVALS:
        raise ConfigurationError(f"at most {_MAX_APPROVALS} approvals")
    for item in answer:
        if not isinstance(item, str) or _COMPACT_JWS.fullmatch(item) is None:
            raise ConfigurationError("an approval is a compact JWS string")
    return tuple(answer)


class WritAuth(httpx.Auth):
    """Sign each request as the leaf holder of ``chain`` (compact writs, root first)."""

    requires_request_body = True

    def __init__(
        self,
        chain: Sequence[str],
        key: PrivateKey,
        *,
        lifetime: int = MAX_LIFETIME,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = _random_nonce,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        approval: ApprovalCallback | None = None,
    ) -> None:
        if not isinstance(key, PrivateKey):
            raise ConfigurationError("WritAuth needs the holder's PrivateKey")
        if type(lifetime) is not int or not 0 < lifetime <= MAX_LIFETIME:
            raise ConfigurationError(f"lifetime is 1 to {MAX_LIFETIME} seconds")
        if type(max_body_bytes) is not int or max_body_bytes < 0:
            raise ConfigurationError("max_body_bytes is a non-negative integer")
        if approval is not None and not callable(approval):
            raise ConfigurationError("approval is a callable taking the approval request")
        self._chain_header = format_chain_header(chain)
        self._key = key
        self._lifetime = lifetime
        self._clock = clock
        self._nonce_factory = nonce_factory
        self._max_body_bytes = max_body_bytes
        self._approval = approval
        self._holder = key.public_key.thumbprint_uri

    def __repr__(self) -> str:
        return f"WritAuth(holder={self._key.public_key.thumbprint_uri})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """The httpx flow with the approval callback called in this thread (sync clients)."""
        flow = self._flow(request)
        step = next(flow)
        while True:
            try:
                if isinstance(step, AskApproval):
                    step = flow.send(self._ask_blocking(step.request))
                    continue
                response = yield step
                step = flow.send(response)
            except StopIteration:
                return

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                                  None]:
        """``httpx.Client``'s driver: reads a response body only when it may ask for approval."""
        request.read()
        flow = self.auth_flow(request)
        step = next(flow)
        while True:
            response = yield step
            if self._approval is not None and _may_ask(response):
                response.read()
            try:
                step = flow.send(response)
            except StopIteration:
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request,
                                                                              httpx.Response]:
        """``httpx.AsyncClient``'s driver: the same flow, the callback kept off the event loop."""
        await request.aread()
        flow = self._flow(request)
        step = next(flow)
        while True:
            try:
                if isinstance(step, AskApproval):
                    step = flow.send(await self._ask_async(step.request))
                    continue
                response = yield step
                if self._approval is not None and _may_ask(response):
                    await response.aread()
                step = flow.send(response)
            except StopIteration:
                return

    def _flow(self, request: httpx.Request) -> Generator[httpx.Request | AskApproval, Any, None]:
        """Sign and send; answer at most one nonce challenge (again after an approval) and
        at most one approval request."""
        self._sign(request, nonce=self._nonce_factory())
        response: httpx.Response = yield request
        answered_nonce = answered_approval = False
        while True:
            nonce = None if answered_nonce else _nonce_challenge(response)
            asked = None if answered_approval or self._approval is None \
                else _approval_request(response, self._holder)
            if nonce is not None:
                answered_nonce = True
                self._sign(request, nonce=nonce)
            elif asked is not None:
                answered_approval = True
                approvals = _checked((yield AskApproval(asked)))
                if not approvals:
                    return
                request.headers[APPROVAL_HEADER] = ",".join(approvals)
                answered_nonce = False  # the nonce answered before was spent by the receiver
                self._sign(request, nonce=self._nonce_factory())
            else:
                return
            response = yield request

    def _ask_blocking(self, request: Mapping[str, Any]) -> object:
        assert self._approval is not None
        answer = self._approval(request)
        if inspect.isawaitable(answer):
            if inspect.iscoroutine(answer):
                answer.close()  # never awaited: say so instead of a "never awaited" warning
            raise ConfigurationError("the approval callback returned an awaitable; "
                                     "use httpx.AsyncClient or a plain function")
        return answer

    async def _ask_async(self, request: Mapping[str, Any]) -> object:
        callback = self._approval
        assert callback is not None
        if inspect.iscoroutinefunction(callback) \
                or inspect.iscoroutinefunction(type(callback).__call__):
            answer: object = callback(request)
        else:
            answer = await anyio.to_thread.run_sync(callback, request)
        if inspect.isawaitable(answer):
            answer = await cast(Awaitable[object], answer)
        return answer

    def _sign(self, request: httpx.Request, *, nonce: str) -> None:
        body = request.content
        if len(body) > self._max_body_bytes:
            raise ConfigurationError(
                f"the request body has {len(body)} bytes; WritAuth signs at most "
                f"{self._max_body_bytes} (max_body_bytes)"
            )
        parts = SignedRequestParts(
            method=request.method,
            target_uri=_target_uri(request.url),
            headers=request.headers.multi_items(),
            body=body,
        )
        created = int(self._clock())
        headers = sign_request(
            parts,
            key=self._key,
            chain_header=self._chain_header,
            created=created,
            expires=created + self._lifetime,
            nonce=nonce,
        )
        for name, value in headers.items():
            request.headers[name] = value
