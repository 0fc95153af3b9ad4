"""Writ: cryptographic authority for AI agents, verified by the receiver before the action runs.

The public API is exactly what ``__all__`` lists; everything else is private.
"""

from __future__ import annotations

from writ._approval import ApprovalGate, ApprovalPolicy
from writ._budget import Budget, Rate, Spend
from writ._config import ReceiverConfig, TrustAnchor
from writ._decision import CODES, ChainSummary, Decision
from writ._errors import ConfigurationError, MalformedError, MintError, StoreUnavailable, WritError
from writ._keys import PrivateKey, PublicKey
from writ._pop import sign_pop
from writ._revocation import parse_revocation, sign_revocation
from writ._token import Limits, Writ, delegate, grant
from writ._verify import Verifier

__all__ = [
    "CODES",
    "ApprovalGate",
    "ApprovalPolicy",
    "Budget",
    "ChainSummary",
    "ConfigurationError",
    "Decision",
    "Limits",
    "MalformedError",
    "MintError",
    "PrivateKey",
    "PublicKey",
    "Rate",
    "ReceiverConfig",
    "Spend",
    "StoreUnavailable",
    "TrustAnchor",
    "Verifier",
    "Writ",
    "WritError",
    "delegate",
    "grant",
    "parse_revocation",
    "sign_pop",
    "sign_revocation",
]
