"""Strict JSON in, canonical JSON out (RFC 8259 I-JSON subset, RFC 8785 JCS)."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785

from writ._b64 import b64u_encode
from writ._errors import MalformedError

__all__ = ["MAX_JSON_DEPTH", "SAFE_INTEGER", "canonical", "canonical_hash", "json_equal",
           "loads_strict"]

MAX_JSON_DEPTH = 64
# RFC 8785 §3.2.2.3 / I-JSON (RFC 7493 §2.2): integers beyond ±(2^53 − 1) are not interoperable.
SAFE_INTEGER = 2**53 - 1


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # RFC 8259 §4 leaves duplicates undefined; parsers disagree, so an attacker could show
        # one value to the verifier and another to the tool (AAT §3.3.1, RFC 7515 §5.2).
        raise MalformedError("duplicate member name in a JSON object")
    return obj


def _no_constant(name: str) -> Any:
    raise MalformedError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise MalformedError("a JSON number overflows a double")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_float
)


def loads_strict(data: bytes | str) -> Any:
    """Parse JSON, refusing duplicate keys, NaN/Infinity, overflow, bad UTF-8 and deep nesting."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        text = text.lstrip(" \t\r\n")
        value, end = _DECODER.raw_decode(text)
    except MalformedError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedError("not valid JSON") from None
    if text[end:].strip(" \t\r\n"):
        raise MalformedError("trailing data after JSON")
    # The walk is needed only when the text could nest deeper than allowed, or could hold a
    # lone surrogate (only a \u escape can make one from valid UTF-8): usually neither.
    if "\\u" in text or text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        _check_depth(value)
    return value


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A \ud800-style escape decodes to a lone surrogate: not Unicode text, refused by
        # I-JSON (RFC 7493 §2.1) and by JCS, so it could never be bound by a signature.
        raise MalformedError("a JSON string holds a lone surrogate") from None


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedError("JSON nested too deeply")
        if isinstance(item, dict):
            for key in item:
                _check_text(key)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_text(item)


def canonical(value: Any) -> bytes:
    """The RFC 8785 (JCS) encoding; MalformedError for values JCS cannot represent."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise MalformedError(f"cannot canonicalise: {exc}") from None


def canonical_hash(value: Any) -> str:
    """base64url(SHA-256(JCS(value))): how Writ names a set of arguments."""
    return b64u_encode(hashlib.sha256(canonical(value)).digest())


def json_equal(a: Any, b: Any) -> bool:
    """True when the two values have the same RFC 8785 (JCS) canonical form.

    Structural rather than byte comparison, for speed on the hot path; equivalent because
    JCS spells equal numbers one way (1 == 1.0), keeps booleans apart from numbers, and
    keeps strings as exact code points. A value JCS cannot represent (an integer beyond
    ±(2^53 − 1), a non-finite float, a tuple, a non-string key) equals nothing.
    """
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and all(math.isfinite(x) if type(x) is float else abs(x) <= SAFE_INTEGER
                              for x in (a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(
            isinstance(k, str) and json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and isinstance(a, (str, type(None))) and a == b
