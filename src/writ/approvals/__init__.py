"""Approver tooling: a local approvals page, its inbox, and the agent-side callback for it.

Approver: ``writ approvals serve --key approver.key`` (``create_app`` is its ASGI app).
Agent: ``WritAuth(chain, key, approval=web_callback("http://127.0.0.1:8790"))`` or
``WritClientSession(..., approval=web_callback(...))``. See ``docs/approvals.md``.
"""

from __future__ import annotations

from writ.approvals._client import WebApproval, web_callback
from writ.approvals._inbox import DirInbox, Entry, Inbox, SqliteInbox, open_inbox
from writ.approvals._request import ApprovalRequest, find_request
from writ.approvals._server import TOKEN_HEADER, create_app

__all__ = [
    "TOKEN_HEADER",
    "ApprovalRequest",
    "DirInbox",
    "Entry",
    "Inbox",
    "SqliteInbox",
    "WebApproval",
    "create_app",
    "find_request",
    "open_inbox",
    "web_callback",
]
