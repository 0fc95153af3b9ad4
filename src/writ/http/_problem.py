"""Denials as RFC 9457 problem details, and the ``WWW-Authenticate: Writ`` challenge."""

from __future__ import annotations

import json
from typing import Any

from writ._decision import CODES, Decision
from writ.http._challenge import WritChallenge, format_challenge

__all__ = ["PROBLEM_TYPE", "problem", "receipt_header"]

PROBLEM_TYPE = "urn:writ:decision:"


def problem(decision: Decision, *, realm: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) for a denial; the body never carries the internal detail."""
    code = decision.code or "proof_invalid"
    status = CODES[code][0]
    body: dict[str, Any] = {"type": PROBLEM_TYPE + code, "title": CODES[code][1],
                            "status": status, "code": code, "decision_id": decision.decision_id}
    headers = [(b"content-type", b"application/problem+json")]
    challenge = decision.challenge or {}
    if "approval_request" in challenge:
        body["approval_request"] = challenge["approval_request"]
    if status == 401:
        www = WritChallenge(realm=realm, aud=challenge.get("aud"), nonce=challenge.get("nonce"))
        headers.append((b"www-authenticate", format_challenge(www).encode("ascii")))
    if decision.receipt is not None:
        headers.append((b"writ-receipt", receipt_header(decision.receipt)))
    return status, headers, json.dumps(body, separators=(",", ":")).encode()


def receipt_header(receipt: Any) -> bytes:
    """The ``Writ-Receipt`` header value for a decision's log receipt."""
    to_header = getattr(receipt, "to_header", None)
    return (to_header() if callable(to_header) else str(receipt)).encode("ascii", "replace")
