"""The decision record: one JCS-encoded leaf of the decision log per decision (DESIGN §5)."""

from __future__ import annotations

from typing import Any

from writ._config import ReceiverConfig
from writ._decision import ChainSummary
from writ._errors import MalformedError
from writ._json import canonical, canonical_hash

__all__ = ["RECORD_VERSION", "encode"]

RECORD_VERSION = "writ-decision/v1"
MAX_RECORD = 64 * 1024


def _args_hash(args: Any) -> str | None:
    try:
        return canonical_hash(dict(args))
    except (MalformedError, TypeError, ValueError):
        return None


def encode(*, decision_id: str, now: float, config: ReceiverConfig, tool: Any, args: Any,
           allowed: bool, code: str | None, step: str | None, detail: str | None,
           summary: ChainSummary | None, proof: Any) -> bytes:
    """The leaf bytes for one decision; bounded to 64 KiB, no floats."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "id": decision_id,
        "time_ms": int(now * 1000),
        "receiver": config.audiences[0],
        "tool": tool if isinstance(tool, str) else None,
        "args_hash": _args_hash(args) if args is not None else None,
        "decision": "allow" if allowed else "deny",
        "code": code,
        "step": step,
        "detail": (detail or "")[:1024] or None,
        "chain": summary.to_json() if summary else None,
        "proof": _evidence(proof),
    }
    data = canonical(record)
    if len(data) > MAX_RECORD:
        record["proof"] = {"omitted": "larger than the record limit"}
        data = canonical(record)
    return data


def _evidence(proof: Any) -> dict[str, Any] | None:
    if proof is None:
        return None
    try:
        evidence = proof.evidence()
        return evidence if isinstance(evidence, dict) else None
    except Exception:  # noqa: BLE001 - evidence is best effort; the decision stands regardless
        return None
