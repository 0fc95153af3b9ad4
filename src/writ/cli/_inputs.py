"""Reading the CLI's input files: holders, capabilities, budgets, chains, durations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from writ._budget import Budget
from writ._errors import ConfigurationError, MalformedError
from writ._json import loads_strict
from writ._keys import PrivateKey, PublicKey
from writ._token import AAT_TYPE

__all__ = [
    "parse_ttl",
    "read_budget",
    "read_caps",
    "read_chain",
    "read_holder",
    "read_json_arg",
    "write_private",
]

_TTL = re.compile(r"(\d+)([smhd]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """'90s', '30m', '1h', '2d' or plain seconds."""
    match = _TTL.fullmatch(text.strip())
    if match is None or int(match.group(1)) <= 0:
        raise ConfigurationError(f"not a duration: {text!r} (try 90s, 30m, 1h, 2d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _json_file_or_text(value: str, what: str) -> Any:
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    try:
        return loads_strict(text)
    except MalformedError as exc:
        raise ConfigurationError(f"{what}: {exc}") from None


def read_holder(value: str) -> PublicKey:
    """A holder's public key from a key file, a JWK file or inline JWK JSON."""
    jwk = _json_file_or_text(value, "holder")
    if not isinstance(jwk, dict):
        raise ConfigurationError("a holder is a JWK object or a key file")
    try:
        if "d" in jwk:
            return PrivateKey.from_jwk(jwk).public_key
        return PublicKey.from_jwk(jwk)
    except MalformedError as exc:
        raise ConfigurationError(f"holder: {exc}") from None


def read_caps(value: str) -> dict[str, Any]:
    """CAPS.json: an authorization_details array, or a {tool: {arg: constraint}} map."""
    caps = _json_file_or_text(value, "capabilities")
    if isinstance(caps, list):
        entries = [e for e in caps if isinstance(e, dict) and e.get("type") == AAT_TYPE]
        if len(entries) != 1 or not isinstance(entries[0].get("tools"), dict):
            raise ConfigurationError("CAPS has exactly one attenuating_agent_token entry")
        tools: dict[str, Any] = entries[0]["tools"]
        return tools
    if not isinstance(caps, dict):
        raise ConfigurationError("CAPS is an authorization_details array or a tools map")
    return caps


def read_budget(value: str | None) -> Budget | None:
    """BUDGET.json: a writ_budget object."""
    if value is None:
        return None
    try:
        return Budget.parse(_json_file_or_text(value, "budget"))
    except MalformedError as exc:
        raise ConfigurationError(f"budget: {exc}") from None


def read_json_arg(value: str, what: str) -> Any:
    """Inline JSON or a file holding it."""
    return _json_file_or_text(value, what)


def read_chain(path: str) -> list[str]:
    """A chain file: one compact token per line, root first."""
    tokens = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not tokens:
        raise ConfigurationError(f"{path}: the chain file is empty")
    return tokens


def write_private(path: str, key: PrivateKey) -> None:
    """Save a private key with mode 0600."""
    key.save(path)


def write_text(path: str, text: str) -> None:
    """Write an output file (tokens, proofs, statements are not secrets)."""
    Path(path).write_text(text if text.endswith("\n") else text + "\n")


def dump(obj: Any) -> str:
    """Pretty JSON for people."""
    return json.dumps(obj, indent=2, sort_keys=True)
