"""The agent's side of the approvals page: post the request, wait for the human's answer.

``web_callback(url)`` is an approval callback for ``WritAuth(approval=...)`` and
``WritClientSession(approval=...)``. It posts the approval request to a running
``writ approvals serve`` and long-polls the request's entry (the server holds each
poll open until the entry changes, so the agent neither sleeps nor spins) until a
human decides: approved gives ``[approval]``, denied or expired gives ``[]``, and so
does running out of ``timeout``.

Called inside a running event loop (``WritClientSession``), it returns a coroutine,
so the wait never blocks the loop; called anywhere else (``httpx.Client``, or the
worker thread in which ``WritAuth`` runs plain callbacks for ``httpx.AsyncClient``),
it waits in place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import httpx

from writ._errors import StoreUnavailable

__all__ = ["WebApproval", "web_callback"]

_POLL = 25.0  # seconds one long-poll may be held open (the server caps it at 60)


class WebApproval:
    """An approval callback backed by a ``writ approvals serve`` page."""

    def __init__(self, url: str, *, timeout: float = 600.0) -> None:
        if not url.startswith(("http://", "https://")) or timeout <= 0:
            raise ValueError("web_callback needs the server's http(s) URL and a positive timeout")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"web_callback({self.url!r}, timeout={self.timeout})"

    def __call__(self, request: Mapping[str, Any]) -> list[str] | Awaitable[list[str]]:
        """The approvals for ``request``; a coroutine when called inside an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self.wait(request)
        return self.wait_async(request)

    def wait(self, request: Mapping[str, Any]) -> list[str]:
        """Post ``request`` and block until it is decided (or ``timeout``)."""
        deadline = time.monotonic() + self.timeout
        try:
            with httpx.Client(timeout=_POLL + 10) as client:
                entry = _created(client.post(f"{self.url}/api/requests", json=dict(request)))
                while (left := deadline - time.monotonic()) > 0:
                    poll = client.get(f"{self.url}/api/requests/{entry}",
                                      params={"wait": f"{min(left, _POLL):.1f}"})
                    answer = _answer(poll)
                    if answer is not None:
                        return answer
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"approval server {self.url}: {exc}") from None
        return []

    async def wait_async(self, request: Mapping[str, Any]) -> list[str]:
        """Post ``request`` and wait, without blocking the loop, until it is decided."""
        deadline = time.monotonic() + self.timeout
        try:
            async with httpx.AsyncClient(timeout=_POLL + 10) as client:
                entry = _created(await client.post(f"{self.url}/api/requests",
                                                   json=dict(request)))
                while (left := deadline - time.monotonic()) > 0:
                    poll = await client.get(f"{self.url}/api/requests/{entry}",
                                            params={"wait": f"{min(left, _POLL):.1f}"})
                    answer = _answer(poll)
                    if answer is not None:
                        return answer
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"approval server {self.url}: {exc}") from None
        return []


def _created(response: httpx.Response) -> str:
    if response.status_code != 201:
        raise StoreUnavailable(f"the approval server refused the request: "
                               f"{response.status_code} {response.text[:200]}")
    entry = response.json().get("id")
    if not isinstance(entry, str):
        raise StoreUnavailable("the approval server returned no request id")
    return entry


def _answer(response: httpx.Response) -> list[str] | None:
    """The approvals once decided (``[]`` for denied or expired); None while pending."""
    if response.status_code != 200:
        raise StoreUnavailable(f"the approval server answered {response.status_code}")
    body = response.json()
    status = body.get("status")
    if status == "pending":
        return None
    approvals = body.get("approvals") if status == "approved" else []
    if not isinstance(approvals, list) or not all(isinstance(a, str) for a in approvals):
        raise StoreUnavailable("the approval server returned malformed approvals")
    return list(approvals)


def web_callback(url: str, *, timeout: float = 600.0) -> WebApproval:
    """An approval callback that asks the human behind ``writ approvals serve`` at ``url``."""
    return WebApproval(url, timeout=timeout)
