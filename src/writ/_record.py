"""The decision record: one JCS-encoded leaf of the decision log per decision (DESIGN §5).

Arguments never enter the log raw. The record holds the SHA-256 of their JCS form;
arguments a receiver marks sensitive are first replaced by salted commitments
(SHA-256(salt || JCS(value)), the salt derived from the log key and the decision id,
so the operator can open one commitment for an auditor and nobody else can test
guesses). The agent's own proof is kept so an auditor can check the agent asked;
when it carries sensitive values it is kept redacted (header and signature only).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from writ._b64 import b64u_encode
from writ._config import ReceiverConfig
from writ._decision import ChainSummary
from writ._errors import MalformedError
from writ._json import canonical, canonical_hash

__all__ = ["RECORD_VERSION", "commitment", "encode", "encode_safely"]

RECORD_VERSION = "writ-decision/v1"
MAX_RECORD = 64 * 1024


def commitment(value: Any, *, salt_key: bytes, decision_id: str, arg: str) -> str:
    """The salted commitment to one argument value."""
    salt = hmac.new(salt_key, f"{decision_id}\x00{arg}".encode(), hashlib.sha256).digest()
    try:
        body = canonical(value)
    except MalformedError:
        body = repr(value).encode()
    return b64u_encode(hashlib.sha256(salt + body).digest())


def _args_view(args: Any, sensitive: Sequence[str], salt_key: bytes | None,
               decision_id: str) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(args, Mapping):
        return None, []
    hidden = [a for a in sensitive if a in args]
    if not hidden:
        return dict(args), []
    key = salt_key or b"\x00" * 32
    return {a: ({"commitment": commitment(v, salt_key=key, decision_id=decision_id, arg=a)}
                if a in hidden else v) for a, v in args.items()}, hidden


def _args_hash(args: dict[str, Any] | None) -> str | None:
    if args is None:
        return None
    try:
        return canonical_hash(args)
    except MalformedError:
        return None


def encode(*, decision_id: str, now: float, config: ReceiverConfig, tool: Any, args: Any,
           allowed: bool, code: str | None, step: str | None, detail: str | None,
           summary: ChainSummary | None, proof: Any, salt_key: bytes | None = None,
           approvals: Sequence[str] = (), claimed: Mapping[str, str] | None = None) -> bytes:
    """The leaf bytes for one decision; bounded to 64 KiB, no floats."""
    sensitive = config.sensitive_args.get(tool, ()) if isinstance(tool, str) else ()
    view, hidden = _args_view(args, sensitive, salt_key, decision_id)
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "id": decision_id,
        "time_ms": int(now * 1000),
        "receiver": config.audiences[0],
        "tool": tool if isinstance(tool, str) else None,
        "args_hash": _args_hash(view),
        "decision": "allow" if allowed else "deny",
        "code": code,
        "step": step,
        "detail": (detail or "")[:1024] or None,
        "chain": summary.to_json() if summary else None,
        "proof": _evidence(proof, redact=bool(hidden)),
        "approvals": list(approvals) or None,
    }
    if claimed and summary is None:
        record["claimed_unverified"] = dict(claimed)
    if hidden:
        record["commitments"] = {a: view[a]["commitment"] for a in hidden}  # type: ignore[index]
    data = canonical(record)
    if len(data) > MAX_RECORD:
        record["proof"] = {"omitted": "larger than the record limit"}
        record["approvals"] = None
        data = canonical(record)
    return data


def _evidence(proof: Any, *, redact: bool) -> dict[str, Any] | None:
    if proof is None:
        return None
    try:
        evidence = proof.evidence()
    except Exception:  # noqa: BLE001 - evidence is best effort; the decision stands regardless
        return None
    if not isinstance(evidence, dict):
        return None
    if redact:
        return {"type": evidence.get("type"), "redacted": "carries sensitive arguments",
                "keyid": evidence.get("keyid")}
    return evidence


def encode_safely(**fields: Any) -> bytes:
    """``encode``, falling back to a record without the caller's inputs when they cannot be
    canonicalised (hostile text that is not Unicode): the decision is logged regardless."""
    try:
        return encode(**fields)
    except MalformedError:
        fields.update(tool=None, args=None, proof=None, approvals=(),
                      detail=f"unrepresentable input; {fields.get('detail') or ''}"[:1024])
        return encode(**fields)
