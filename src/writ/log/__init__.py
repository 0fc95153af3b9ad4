"""The Merkle decision log: RFC 9162 hashing and proofs, durable storage, group commit."""

from __future__ import annotations

from writ.log._appender import AppendResult, LogWriter, open_log, open_log_reader
from writ.log._merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from writ.log._storage import (
    MAX_LEAF_BYTES,
    IntegrityProblem,
    IntegrityReport,
    LogReader,
    StoredCheckpoint,
    WriterLockHeld,
)

__all__ = [
    "EMPTY_ROOT",
    "MAX_LEAF_BYTES",
    "AppendResult",
    "IntegrityProblem",
    "IntegrityReport",
    "LogReader",
    "LogWriter",
    "StoredCheckpoint",
    "WriterLockHeld",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_log",
    "open_log_reader",
    "root_from_inclusion",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]
