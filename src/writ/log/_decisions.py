"""The receiver's decision log: durable appends with a signed checkpoint and a receipt each.

``DecisionLog.append`` returns only once the decision's entry is committed (group
commit in ``LogWriter``), with a receipt holding the leaf hash, the index, the
inclusion proof and the signed checkpoint of the batch that committed it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from pathlib import Path
from urllib.parse import urlsplit

from writ._config import ReceiverConfig
from writ._errors import ConfigurationError
from writ._keys import PrivateKey
from writ.log._appender import LogWriter, open_log
from writ.log._checkpoint import checkpoint_signer
from writ.log._receipt import Receipt, issue_receipt

__all__ = ["DecisionLog", "log_origin", "open_decision_log"]


def log_origin(config: ReceiverConfig) -> str:
    """The checkpoint origin line (C2SP origin form): configured, or the receiver's host and a
    fixed path. Receivers sharing one log must configure the same origin."""
    if config.log_origin:
        return config.log_origin
    return f"{urlsplit(config.audiences[0]).netloc}/writ-decisions"


class DecisionLog:
    """Appends decision records and hands back receipts."""

    def __init__(self, writer: LogWriter, *, key: PrivateKey, origin: str) -> None:
        self.writer = writer
        self.key = key
        self.origin = origin
        # Salts for sensitive arguments are derived, not stored: the operator can open a
        # commitment later from this key, and nothing in the log lets anyone else do so.
        self.salt_key = hmac.new(b"writ-commitment-salt", key.private_jwk()["d"].encode(),
                                 hashlib.sha256).digest()

    def append(self, leaf: bytes) -> Receipt:
        """Append and wait until durable; ``StoreUnavailable`` if it cannot be."""
        result = self.writer.append(leaf)
        assert result.checkpoint is not None
        return issue_receipt(self.writer, index=result.index, leaf_hash=result.leaf_hash,
                             checkpoint=result.checkpoint)

    def close(self) -> None:
        """Stop the writer after the last batch commits."""
        self.writer.close()


def open_decision_log(config: ReceiverConfig, *, key: PrivateKey | None = None) -> DecisionLog:
    """Open the log a receiver configuration names, signing with its ``log_key``."""
    if config.log is None:
        raise ConfigurationError("the receiver configuration names no log")
    if key is None:
        if config.log_key is None:
            raise ConfigurationError("a decision log needs log_key (the log's signing key)")
        path = Path(config.log_key)
        if not path.exists():
            # Several workers may start at once: the first save wins (save refuses to
            # overwrite), the others load what it wrote.
            with contextlib.suppress(ConfigurationError):
                PrivateKey.generate().save(path)
        key = PrivateKey.load(path)
    origin = log_origin(config)
    writer = open_log(config.log, sign_checkpoint=checkpoint_signer(origin, key))
    return DecisionLog(writer, key=key, origin=origin)
