"""RFC 9530 ``Content-Digest``: compute, parse strictly, and check against the content.

The field is a Structured Field Dictionary (RFC 9530 §2, RFC 8941 §3.2) whose keys
name hashing algorithms and whose values are Byte Sequences. Writ sends
``sha-256`` only. On receipt it accepts ``sha-256`` and ``sha-512`` (the two
algorithms whose status is "Active", RFC 9530 §5 and §7.2); any other key is
ignored, as RFC 9530 §2 lets a recipient do, but at least one known digest must
be present and every known digest present must match (RFC 9530 §6.6-§6.7:
skipping a failed digest in favour of another invites a downgrade).

http-message-signatures has a ContentDigest class, but it refuses unknown
algorithms outright, which RFC 9530 §2 says a recipient may ignore, so this small
module is hand-written on top of ``http_sf``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import cast

import http_sf

from writ._errors import ConfigurationError, MalformedError

__all__ = [
    "DIGEST_ALGORITHMS",
    "check_content_digest",
    "content_digest",
    "parse_content_digest",
]

_HASHERS: Mapping[str, Callable[[bytes], hashlib._Hash]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}
_DIGEST_SIZES = {"sha-256": 32, "sha-512": 64}
DIGEST_ALGORITHMS = frozenset(_HASHERS)


def content_digest(body: bytes, *, algorithm: str = "sha-256") -> str:
    """The ``Content-Digest`` field value for ``body`` (empty content included)."""
    if algorithm not in _HASHERS:
        raise ConfigurationError(f"unsupported digest algorithm {algorithm!r}")
    digest = _HASHERS[algorithm](bytes(body)).digest()
    return http_sf.ser({algorithm: (digest, {})})


def _refuse_duplicate(key: str, context: str) -> None:
    # RFC 8941 §4.2.2 lets a later duplicate win; a verifier that silently picks one
    # of two digests can be steered, so a duplicate is refused instead.
    raise MalformedError(f"Content-Digest has a duplicate {context} {key!r}")


def parse_content_digest(value: str) -> dict[str, bytes]:
    """The known digests in a ``Content-Digest`` value; raises ``MalformedError``."""
    try:
        data = value.encode("ascii")
        parsed = http_sf.parse(data, tltype="dictionary", on_duplicate_key=_refuse_duplicate)
    except UnicodeEncodeError:
        raise MalformedError("Content-Digest is not ASCII") from None
    except ValueError as exc:
        if isinstance(exc, MalformedError):
            raise
        raise MalformedError(f"Content-Digest is not a structured dictionary: {exc}") from None
    assert isinstance(parsed, dict)
    known: dict[str, bytes] = {}
    for algorithm, member in parsed.items():
        if algorithm not in _DIGEST_SIZES:
            continue  # RFC 9530 §2: a recipient MAY ignore any digest.
        digest = cast(tuple[object, object], member)[0]
        if not isinstance(digest, bytes):
            raise MalformedError(f"Content-Digest {algorithm} is not a byte sequence")
        if len(digest) != _DIGEST_SIZES[algorithm]:
            raise MalformedError(f"Content-Digest {algorithm} has the wrong length")
        known[algorithm] = digest
    if not known:
        raise MalformedError("Content-Digest carries no sha-256 or sha-512 digest")
    return known


def check_content_digest(value: str, body: bytes) -> None:
    """Raise ``MalformedError`` unless every known digest in ``value`` matches ``body``."""
    for algorithm, expected in parse_content_digest(value).items():
        actual = _HASHERS[algorithm](bytes(body)).digest()
        if not hmac.compare_digest(actual, expected):
            raise MalformedError(f"Content-Digest {algorithm} does not match the content")
