"""``WritAuth``: an ``httpx.Auth`` that signs every request with Writ's RFC 9421 profile.

One sans-I/O generator, ``auth_flow``, serves ``httpx.Client`` and
``httpx.AsyncClient`` alike (the httpx ``DigestAuth`` pattern): it signs the
request and yields it; if the answer is a ``401`` carrying a ``Writ`` challenge
with a receiver nonce (DESIGN §2, "Challenges"), it signs the same request again
with that nonce and yields it once more. A second ``401`` goes back to the caller:
the flow never loops.

The body is signed through its RFC 9530 digest, so httpx reads it first
(``requires_request_body``). A streaming body is therefore held in memory; bodies
larger than ``max_body_bytes`` (default 16 MiB) are refused rather than signed.

httpx runs an auth flow once per request, not once per redirect hop, so with
``follow_redirects=True`` a redirected request would carry the original signature
and chain to the new location. Leave redirects off (the httpx default) and follow
them deliberately.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator, Sequence

import httpx

from writ._errors import ConfigurationError, MalformedError
from writ._keys import PrivateKey
from writ.http._challenge import find_writ_challenge
from writ.http._signature import MAX_LIFETIME, SignedRequestParts, format_chain_header, sign_request

__all__ = ["DEFAULT_MAX_BODY_BYTES", "WritAuth"]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def _random_nonce() -> str:
    return secrets.token_urlsafe(16)


def _target_uri(url: httpx.URL) -> str:
    # RFC 9110 §7.1: the target URI has no userinfo and no fragment. httpx has already
    # lowercased the host, dropped a default port and percent-encoded the path.
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.raw_path.decode('ascii')}"


class WritAuth(httpx.Auth):
    """Sign each request as the leaf holder of ``chain`` (compact writs, root first)."""

    requires_request_body = True

    def __init__(
        self,
        chain: Sequence[str],
        key: PrivateKey,
        *,
        lifetime: int = MAX_LIFETIME,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = _random_nonce,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not isinstance(key, PrivateKey):
            raise ConfigurationError("WritAuth needs the holder's PrivateKey")
        if type(lifetime) is not int or not 0 < lifetime <= MAX_LIFETIME:
            raise ConfigurationError(f"lifetime is 1 to {MAX_LIFETIME} seconds")
        if type(max_body_bytes) is not int or max_body_bytes < 0:
            raise ConfigurationError("max_body_bytes is a non-negative integer")
        self._chain_header = format_chain_header(chain)
        self._key = key
        self._lifetime = lifetime
        self._clock = clock
        self._nonce_factory = nonce_factory
        self._max_body_bytes = max_body_bytes

    def __repr__(self) -> str:
        return f"WritAuth(holder={self._key.public_key.thumbprint_uri})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign, send; on a Writ challenge with a nonce, sign once more with it and resend."""
        self._sign(request, nonce=self._nonce_factory())
        response = yield request
        if response.status_code != 401:
            return
        try:
            challenge = find_writ_challenge(response.headers.get_list("www-authenticate"))
        except MalformedError:
            return  # a challenge we cannot read is the caller's to see, not ours to guess
        if challenge is None or challenge.nonce is None:
            return
        self._sign(request, nonce=challenge.nonce)
        yield request

    def _sign(self, request: httpx.Request, *, nonce: str) -> None:
        body = request.content
        if len(body) > self._max_body_bytes:
            raise ConfigurationError(
                f"the request body has {len(body)} bytes; WritAuth signs at most "
                f"{self._max_body_bytes} (max_body_bytes)"
            )
        parts = SignedRequestParts(
            method=request.method,
            target_uri=_target_uri(request.url),
            headers=request.headers.multi_items(),
            body=body,
        )
        created = int(self._clock())
        headers = sign_request(
            parts,
            key=self._key,
            chain_header=self._chain_header,
            created=created,
            expires=created + self._lifetime,
            nonce=nonce,
        )
        for name, value in headers.items():
            request.headers[name] = value
