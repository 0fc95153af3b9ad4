"""Writ's HTTP profile of RFC 9421 message signatures: sign a request, parse and verify its proof.

The profile (DESIGN §2, "Per-request proof over HTTP"): the leaf holder signs each
request under the signature label ``writ`` with ``tag="writ"``, covering, in order,
``"@method" "@target-uri" "content-digest" ["content-type"] "writ-chain"
["writ-approval"]``. ``content-digest`` (RFC 9530, sha-256) is always present,
even for an empty body, so content cannot be slipped into a bodiless request
(RFC 9530 §6.3); ``content-type`` is covered exactly when there is a body;
``writ-approval`` is covered exactly when that header is present. Parameters are
``created``, ``expires`` (at most 60 s after ``created``), ``nonce``, ``keyid``
(the holder's RFC 9278 thumbprint URI), ``alg="ed25519"`` (optional on receipt)
and ``tag="writ"``. RFC 9421 registers no audience parameter, so none is sent: the
audience is the origin of ``@target-uri``.

Why this is hand-written rather than built on ``http-message-signatures``
(STYLE §8 prefers the library where it fits). The library is the interop oracle
in ``tests/http/test_interop.py``, in both directions, but it does not fit as
the implementation:

1. Its verifier reads the wall clock itself (``datetime.now`` inside
   ``validate_created_and_expires``); Writ's protocol logic takes ``now`` as an
   argument and the verifier owns the time window (DESIGN §3 step 4).
2. It verifies with pyca ``cryptography`` key objects (~108 µs per Ed25519
   verification here); DESIGN §2 puts PyNaCl (~52 µs) on the hot path.
3. Strictness: ``require_components`` is a lower bound, not the exact ordered set
   the profile demands; it has no notion of "content-type iff body"; it exposes no
   signature base bytes, which the decision log stores so that an auditor can
   re-check the agent's signature (DESIGN §5).
4. Its Content-Digest check refuses unknown algorithms, which RFC 9530 §2 lets a
   recipient ignore.

Signing uses the same base builder as verification, so the two cannot drift, and
the library checks both independently in the interop tests. Structured fields are
parsed with ``http_sf`` (the maintained successor of ``http-sfv``, already required
by ``http-message-signatures``) because it can refuse duplicate dictionary keys
and parameters, which RFC 8941 §4.2 would otherwise resolve silently.

The generic base builder supports the RFC 9421 §2.2 request-derived components
``@method @target-uri @authority @scheme @request-target @path @query`` and plain
header fields without component parameters: enough for the RFC 9421 Appendix
B.2.6 vector as well as for the profile.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

import http_sf

from writ._errors import ConfigurationError, MalformedError
from writ._keys import THUMBPRINT_URI_PREFIX, PrivateKey, PublicKey
from writ.http._digest import check_content_digest, content_digest

__all__ = [
    "MAX_LIFETIME",
    "SIGNATURE_LABEL",
    "SIGNATURE_TAG",
    "HttpProof",
    "SignedRequestParts",
    "build_signature_base",
    "format_chain_header",
    "origin_of",
    "parse_chain_header",
    "parse_http_proof",
    "profile_components",
    "sign_request",
    "verify_http_proof",
]

SIGNATURE_LABEL: Final = "writ"
SIGNATURE_TAG: Final = "writ"
MAX_LIFETIME: Final = 60
_ALG: Final = "ed25519"

# Each covered component and when the profile covers it. A new optional header
# (an approval, say) is one more row here; sign and parse both read this table.
_ALWAYS, _WITH_BODY, _WHEN_PRESENT = "always", "with-body", "when-present"
_PROFILE: Final = (
    ("@method", _ALWAYS),
    ("@target-uri", _ALWAYS),
    ("content-digest", _ALWAYS),
    ("content-type", _WITH_BODY),
    ("writ-chain", _ALWAYS),
    ("writ-approval", _WHEN_PRESENT),
)
_REQUIRED_PARAMS: Final = frozenset({"created", "expires", "nonce", "keyid", "tag"})
_KNOWN_PARAMS: Final = _REQUIRED_PARAMS | {"alg"}

_TARGET = re.compile(
    r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?", re.DOTALL
)
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_SF_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_SF_STRING = re.compile(r"[\x20-\x7e]*")
_COMPONENT_NAME = re.compile(r"@?[a-z0-9!#$%&'*+.^_`|~-]+")
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")  # VCHAR minus DQUOTE and "\"
_THUMBPRINT_URI = re.compile(re.escape(THUMBPRINT_URI_PREFIX) + r"[A-Za-z0-9_-]{43}")
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

_Params = Mapping[str, "int | str"]


@dataclass(frozen=True, kw_only=True)
class SignedRequestParts:
    """The parts of an HTTP request that a signature covers; header names are case-insensitive."""

    method: str
    target_uri: str
    headers: Sequence[tuple[str, str]] | Mapping[str, str]
    body: bytes = b""
    _lines: tuple[tuple[str, str], ...] = dataclasses.field(init=False, repr=False, compare=False)
    _fields: dict[str, str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        lines = tuple((str(name).lower(), str(value)) for name, value in pairs)
        grouped: dict[str, list[str]] = {}
        for name, value in lines:
            grouped.setdefault(name, []).append(value.strip(" \t"))
        object.__setattr__(self, "headers", lines)
        object.__setattr__(self, "_lines", lines)
        object.__setattr__(self, "_fields", {k: ", ".join(v) for k, v in grouped.items()})
        object.__setattr__(self, "body", bytes(self.body))

    def field(self, name: str) -> str | None:
        """The field's value per RFC 9421 §2.1: lines trimmed and joined by ", "; None if absent."""
        return self._fields.get(name.lower())

    def replace_fields(self, fields: Mapping[str, str]) -> SignedRequestParts:
        """A copy in which every field named in ``fields`` has that one value instead."""
        drop = {name.lower() for name in fields}
        kept = [(key, value) for key, value in self._lines if key not in drop]
        return SignedRequestParts(
            method=self.method,
            target_uri=self.target_uri,
            headers=kept + [(name.lower(), value) for name, value in fields.items()],
            body=self.body,
        )


@dataclass(frozen=True, kw_only=True)
class HttpProof:
    """A parsed, not yet verified, Writ HTTP signature and what it covers.

    ``signature_input`` is the ``@signature-params`` value (the inner list and its
    parameters, without the label); ``signature_base`` is the exact signed bytes, kept
    for the decision log; ``chain`` is the signed ``Writ-Chain``, root first.
    """

    keyid: str
    created: int
    expires: int
    nonce: str
    signature: bytes
    signature_base: bytes
    signature_input: str
    covered: tuple[str, ...]
    chain: tuple[str, ...]
    target_uri: str

    @property
    def origin(self) -> str:
        """The origin of ``@target-uri``: the audience this request was signed for."""
        return origin_of(self.target_uri)


# --- RFC 9421 §2.2 derived components -------------------------------------------------


def _split_target(target_uri: str) -> tuple[str, str, str, str | None]:
    match = _TARGET.fullmatch(target_uri)
    if match is None or not target_uri.isascii() or _CONTROL_OR_SPACE.search(target_uri):
        raise MalformedError("the target URI is not an absolute, encoded ASCII URI")
    scheme, authority, path, query = match.groups()
    authority = authority.rpartition("@")[2]  # RFC 9110 §4.2.4: no userinfo in a target URI.
    if not authority:
        raise MalformedError("the target URI has no authority")
    return scheme, authority, path or "/", query


def _authority(scheme: str, authority: str) -> str:
    # RFC 9421 §2.2.3: lowercase host, and the port only when it is not the default.
    host, sep, port = authority.lower().rpartition(":")
    if sep and "]" not in port and port == _DEFAULT_PORTS.get(scheme.lower()):
        return host
    return authority.lower()


def origin_of(target_uri: str) -> str:
    """The RFC 6454 origin (scheme://host[:port], normalised) of an absolute URI."""
    scheme, authority, _, _ = _split_target(target_uri)
    return f"{scheme.lower()}://{_authority(scheme, authority)}"


def _derived(name: str, parts: SignedRequestParts) -> str:
    scheme, authority, path, query = _split_target(parts.target_uri)
    query_part = "" if query is None else "?" + query
    values = {
        "@method": parts.method,  # §2.2.1: case-sensitive, as sent
        "@target-uri": f"{scheme}://{authority}{path}{query_part}",  # §2.2.2
        "@authority": _authority(scheme, authority),  # §2.2.3
        "@scheme": scheme.lower(),  # §2.2.4
        "@request-target": path + query_part,  # §2.2.5
        "@path": path,  # §2.2.6: an empty path is "/"
        "@query": "?" + (query or ""),  # §2.2.7: an absent query is "?"
    }
    if name not in values:
        raise MalformedError(f"unsupported derived component {name!r}")
    return values[name]


def _component_value(name: str, parts: SignedRequestParts) -> str:
    if _COMPONENT_NAME.fullmatch(name) is None:
        raise MalformedError(f"component name {name!r} is not a lowercase field or derived name")
    if name.startswith("@"):
        return _derived(name, parts)
    value = parts.field(name)
    if value is None:
        raise MalformedError(f"covered field {name!r} is not in the request")
    return value


def _serialize_signature_params(components: Sequence[str], params: _Params) -> str:
    """The inner list of RFC 9421 §2.3, serialised per RFC 8941 §4.1.1.1-§4.1.1.2.

    Written out because http_sf's generic serialiser costs a third of a verification;
    the component names are already limited to ``_COMPONENT_NAME`` (no DQUOTE or backslash).
    """
    out = ["(" + " ".join(f'"{name}"' for name in components) + ")"]
    for key, value in params.items():
        if _SF_KEY.fullmatch(key) is None:
            raise MalformedError(f"{key!r} is not a structured-field key")
        if type(value) is int and abs(value) <= 999_999_999_999_999:  # §4.1.4
            out.append(f";{key}={value}")
        elif isinstance(value, str) and _SF_STRING.fullmatch(value):  # §4.1.6
            out.append(f';{key}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            raise MalformedError(f"parameter {key!r} is not an integer or a printable string")
    return "".join(out)


def build_signature_base(
    parts: SignedRequestParts, components: Sequence[str], params: Mapping[str, int | str]
) -> tuple[bytes, str]:
    """The RFC 9421 §2.5 signature base and its ``@signature-params`` value."""
    if len(set(components)) != len(components):
        raise MalformedError("a component is covered twice")  # §2.5 step 2.1
    lines = []
    for name in components:
        value = _component_value(name, parts)
        if "\r" in value or "\n" in value:
            raise MalformedError(f"component {name!r} contains a line break")
        # _COMPONENT_NAME admits no DQUOTE or backslash, so this is the sf-string form.
        lines.append(f'"{name}": {value}')
    signature_params = _serialize_signature_params(components, params)
    lines.append(f'"@signature-params": {signature_params}')
    base = "\n".join(lines)
    if not base.isascii():
        raise MalformedError("the signature base is not ASCII")  # §2.5: a US-ASCII string
    return base.encode("ascii"), signature_params


# --- the Writ profile ---------------------------------------------------------------


def profile_components(parts: SignedRequestParts) -> tuple[str, ...]:
    """The components Writ's profile covers for this request, in order."""
    covered = []
    for name, rule in _PROFILE:
        if (
            rule == _ALWAYS
            or (rule == _WITH_BODY and parts.body)
            or (rule == _WHEN_PRESENT and parts.field(name) is not None)
        ):
            covered.append(name)
    return tuple(covered)


def format_chain_header(chain: Sequence[str]) -> str:
    """The ``Writ-Chain`` value: compact JWS tokens, root first, comma-separated."""
    if isinstance(chain, str) or not chain:
        raise ConfigurationError("a writ chain is a non-empty list of compact tokens")
    for token in chain:
        if not isinstance(token, str) or _COMPACT_JWS.fullmatch(token) is None:
            raise ConfigurationError("every writ in the chain must be a compact JWS")
    return ",".join(chain)


def parse_chain_header(value: str) -> tuple[str, ...]:
    """The compact tokens of a ``Writ-Chain`` value; raises ``MalformedError``."""
    tokens = tuple(token.strip(" \t") for token in value.split(","))
    if not all(_COMPACT_JWS.fullmatch(token) for token in tokens):
        raise MalformedError("Writ-Chain is not a comma-separated list of compact JWS")
    return tokens


def _check_window(created: int, expires: int) -> None:
    if not 0 < expires - created <= MAX_LIFETIME:
        raise MalformedError(f"expires must be after created and at most {MAX_LIFETIME} s later")


def sign_request(
    parts: SignedRequestParts,
    *,
    key: PrivateKey,
    chain_header: str,
    created: int,
    expires: int,
    nonce: str,
) -> dict[str, str]:
    """The headers that make ``parts`` a Writ-signed request (existing ones are replaced)."""
    if type(created) is not int or type(expires) is not int or created < 0:
        raise ConfigurationError("created and expires are integer seconds since the epoch")
    try:
        _check_window(created, expires)
        parse_chain_header(chain_header)
    except MalformedError as exc:
        raise ConfigurationError(str(exc)) from None
    if _NONCE.fullmatch(nonce) is None:
        raise ConfigurationError("a nonce is 1-256 visible ASCII characters, no quote or backslash")
    if parts.body and parts.field("content-type") is None:
        raise ConfigurationError("a request with a body must carry Content-Type")
    added = {"Content-Digest": content_digest(parts.body), "Writ-Chain": chain_header}
    signed = parts.replace_fields(added)
    params: dict[str, int | str] = {
        "created": created,
        "expires": expires,
        "nonce": nonce,
        "keyid": key.public_key.thumbprint_uri,
        "alg": _ALG,
        "tag": SIGNATURE_TAG,
    }
    base, signature_params = build_signature_base(signed, profile_components(signed), params)
    signature = http_sf.ser((key.sign(base), {}))
    return {
        **added,
        "Signature-Input": f"{SIGNATURE_LABEL}={signature_params}",
        "Signature": f"{SIGNATURE_LABEL}={signature}",
    }


# --- parsing a received proof ---------------------------------------------------------


def _refuse_duplicate(key: str, context: str) -> None:
    raise MalformedError(f"duplicate {context} key {key!r} in a signature field")


def _required(parts: SignedRequestParts, field_name: str) -> str:
    value = parts.field(field_name)
    if value is None:
        raise MalformedError(f"the request has no {field_name} field")
    return value


def _member(parts: SignedRequestParts, field_name: str) -> tuple[object, dict[str, object]]:
    value = _required(parts, field_name)
    try:
        parsed = http_sf.parse(
            value.encode("ascii"), tltype="dictionary", on_duplicate_key=_refuse_duplicate
        )
    except UnicodeEncodeError:
        raise MalformedError(f"{field_name} is not ASCII") from None
    except MalformedError:
        raise
    except ValueError as exc:
        raise MalformedError(f"{field_name} is not a structured dictionary: {exc}") from None
    assert isinstance(parsed, dict)
    if SIGNATURE_LABEL not in parsed:
        raise MalformedError(f"{field_name} has no {SIGNATURE_LABEL!r} member")
    # http_sf gives every dictionary member as (value, parameters).
    member, member_params = cast(tuple[object, dict[str, object]], parsed[SIGNATURE_LABEL])
    return member, member_params


def _covered(member: object) -> tuple[str, ...]:
    if not isinstance(member, list):
        raise MalformedError("the Signature-Input member is not an inner list")
    names = []
    for item, item_params in cast(list[tuple[object, dict[str, object]]], member):
        if not isinstance(item, str):
            raise MalformedError("a component identifier is not a string")
        if item_params:
            raise MalformedError(f"component {item!r} carries parameters the profile does not use")
        names.append(item)
    return tuple(names)


@dataclass(frozen=True, kw_only=True)
class _SignatureParams:
    created: int
    expires: int
    nonce: str
    keyid: str
    ordered: dict[str, int | str]


def _check_params(params: Mapping[str, object]) -> _SignatureParams:
    unknown = set(params) - _KNOWN_PARAMS
    missing = _REQUIRED_PARAMS - set(params)
    if unknown or missing:
        raise MalformedError(
            f"signature parameters: unknown {sorted(unknown)}, missing {sorted(missing)}"
        )
    ordered: dict[str, int | str] = {}
    for name, value in params.items():
        wanted = int if name in ("created", "expires") else str
        # type() rather than isinstance(): a structured-field Boolean is a Python bool.
        if type(value) is not wanted:
            raise MalformedError(f"{name} is not a structured-field {wanted.__name__}")
        ordered[name] = value
    created, expires = int(ordered["created"]), int(ordered["expires"])
    if created < 0:
        raise MalformedError("created is negative")
    _check_window(created, expires)
    if ordered["tag"] != SIGNATURE_TAG:
        raise MalformedError(f"tag is not {SIGNATURE_TAG!r}")
    if ordered.get("alg", _ALG) != _ALG:
        raise MalformedError(f"alg is not {_ALG!r}")  # RFC 9421 §3.2 step 6: alg must match the key
    nonce, keyid = str(ordered["nonce"]), str(ordered["keyid"])
    if _NONCE.fullmatch(nonce) is None:
        raise MalformedError("nonce has characters or a length the profile does not allow")
    if _THUMBPRINT_URI.fullmatch(keyid) is None:
        raise MalformedError("keyid is not a JWK SHA-256 thumbprint URI")
    return _SignatureParams(
        created=created, expires=expires, nonce=nonce, keyid=keyid, ordered=ordered
    )


def _check_coverage(covered: tuple[str, ...], parts: SignedRequestParts) -> None:
    expected = profile_components(parts)
    if covered == expected:
        return
    if parts.body and covered == tuple(name for name in expected if name != "content-type"):
        raise MalformedError("the request has a body but content-type is not covered")
    raise MalformedError(
        f"covered components {list(covered)} are not the profile's {list(expected)}"
    )


def parse_http_proof(parts: SignedRequestParts) -> HttpProof:
    """Parse and check the ``writ`` signature of a request; raises ``MalformedError``."""
    member, raw_params = _member(parts, "signature-input")
    covered = _covered(member)
    params = _check_params(raw_params)
    signature, signature_params = _member(parts, "signature")
    if not isinstance(signature, bytes) or len(signature) != 64 or signature_params:
        raise MalformedError("the signature is not a 64-byte Ed25519 byte sequence")
    _check_coverage(covered, parts)
    check_content_digest(_required(parts, "content-digest"), parts.body)
    chain = parse_chain_header(_required(parts, "writ-chain"))
    base, signature_input = build_signature_base(parts, covered, params.ordered)
    return HttpProof(
        keyid=params.keyid,
        created=params.created,
        expires=params.expires,
        nonce=params.nonce,
        signature=signature,
        signature_base=base,
        signature_input=signature_input,
        covered=covered,
        chain=chain,
        target_uri=_derived("@target-uri", parts),
    )


def verify_http_proof(proof: HttpProof, key: PublicKey) -> bool:
    """True when ``key`` is the one ``keyid`` names and it signed the proof's base."""
    # RFC 9421 §3.2 step 5: a keyid that does not name the expected key fails verification.
    return proof.keyid == key.thumbprint_uri and key.verify(proof.signature, proof.signature_base)
