"""Submitting a log's checkpoints to a witness over HTTP (C2SP tlog-witness add-checkpoint)."""

from __future__ import annotations

import httpx

from writ._errors import StoreUnavailable
from writ.log._checkpoint import Checkpoint
from writ.log._note import Note, b64std_encode
from writ.log._storage import LogReader

__all__ = ["submit_checkpoint"]


def submit_checkpoint(witness_url: str, log: LogReader, note: str, *, old_size: int,
                      timeout: float = 10.0) -> tuple[str, int]:
    """POST the note with a consistency proof from ``old_size``; return (cosignature, size).

    A 409 carries the witness's own latest size: retry once from there, as the spec says.
    """
    size = Checkpoint.parse(Note.parse(note).text).size
    for _ in range(2):
        proof = log.consistency_proof(old_size, size) if 0 < old_size < size else []
        body = "\n".join([f"old {old_size}", *(b64std_encode(p) for p in proof)]) + "\n\n" + note
        try:
            response = httpx.post(witness_url.rstrip("/") + "/add-checkpoint", content=body,
                                  timeout=timeout)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"witness unreachable: {exc}") from None
        if response.status_code == 409 and response.text.strip().isdigit():
            old_size = int(response.text.strip())
            continue
        if response.status_code != 200:
            raise StoreUnavailable(f"witness refused ({response.status_code}): "
                                   f"{response.text.strip()}")
        return response.text, size
    raise StoreUnavailable("the witness kept moving its state")
