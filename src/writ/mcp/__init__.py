"""Writ for MCP: a server guard for the official ``mcp`` SDK and a client that signs every call.

Server: ``server.middleware.append(WritGuard(verifier))`` (or ``protect(server, verifier)``).
Agent: ``WritClientSession(session, chain=..., key=..., audience=...)``.
The wire object, the error format and the resource/prompt mapping are in ``docs/mcp.md``.
"""

from __future__ import annotations

from writ.mcp._client import (
    ApprovalCallback,
    Ask,
    Send,
    Signer,
    WritClientSession,
    WritDenied,
    proof_flow,
)
from writ.mcp._guard import WritGuard, current_decision, protect
from writ.mcp._wire import (
    ARGUMENT_KEY,
    DENIED,
    PROMPT_PREFIX,
    PROOF_KEY,
    RECEIPT_KEY,
    RESOURCE_TOOL,
    WireDenial,
    WireProof,
)

__all__ = [
    "ARGUMENT_KEY",
    "DENIED",
    "PROMPT_PREFIX",
    "PROOF_KEY",
    "RECEIPT_KEY",
    "RESOURCE_TOOL",
    "ApprovalCallback",
    "Ask",
    "Send",
    "Signer",
    "WireDenial",
    "WireProof",
    "WritClientSession",
    "WritDenied",
    "WritGuard",
    "current_decision",
    "proof_flow",
    "protect",
]
