"""Writ over HTTP: the RFC 9421 profile, the agent-side ``httpx.Auth``, the receiver middleware."""

from __future__ import annotations

from writ.http._auth import WritAuth
from writ.http._challenge import (
    WritChallenge,
    find_writ_challenge,
    format_challenge,
    parse_challenges,
)
from writ.http._digest import check_content_digest, content_digest, parse_content_digest
from writ.http._middleware import WritMiddleware
from writ.http._signature import (
    HttpProof,
    SignedRequestParts,
    build_signature_base,
    format_chain_header,
    origin_of,
    parse_chain_header,
    parse_http_proof,
    profile_components,
    sign_request,
    verify_http_proof,
)

__all__ = [
    "HttpProof",
    "SignedRequestParts",
    "WritAuth",
    "WritChallenge",
    "WritMiddleware",
    "build_signature_base",
    "check_content_digest",
    "content_digest",
    "find_writ_challenge",
    "format_chain_header",
    "format_challenge",
    "origin_of",
    "parse_chain_header",
    "parse_challenges",
    "parse_content_digest",
    "parse_http_proof",
    "profile_components",
    "sign_request",
    "verify_http_proof",
]
