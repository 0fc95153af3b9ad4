"""Writ's extension constraint types (DESIGN.md §2, AAT draft §3.5): cidr, host, url, subpath, glob, regex.

Each type normalises the argument before matching, and declares its subsumption
rules (draft §3.5.1): same type by its own sound rule; a derived ``exact`` or
``one_of`` iff this constraint's ``check`` accepts every listed value; every
other cross-type pair is refused. ``docs/constraints.md`` is the reference.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from abc import abstractmethod
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import ClassVar
from urllib.parse import unquote_to_bytes

from writ._constraints import (
    Constraint,
    ConstraintError,
    Exact,
    OneOf,
)

__all__ = [
    "EXTENSION_TYPES",
    "MAX_PATTERN_LENGTH",
    "MAX_VALUE_LENGTH",
    "Cidr",
    "ExtensionConstraint",
    "Glob",
    "Host",
    "Regex",
    "Subpath",
    "Url",
]

MAX_PATTERN_LENGTH = 256
"""Longest glob or regex pattern accepted in a constraint."""

MAX_VALUE_LENGTH = 4096
"""Longest string argument that a url, subpath, glob or regex constraint will look at."""

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ExtensionConstraint(Constraint):
    """Base of Writ's extension types: the cross-type declarations of draft §3.5.1."""

    def _admits(self, child: Constraint) -> bool:
        # A finite derived set is narrower iff this constraint accepts each of its values.
        if isinstance(child, Exact):
            return self.check(child.value)
        if isinstance(child, OneOf):
            return all(self.check(v) for v in child.values)
        return type(child) is type(self) and self._narrows(child)

    @abstractmethod
    def _narrows(self, child: Constraint) -> bool:
        """Same-type subsumption: True only if every value ``child`` accepts, self accepts."""


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConstraintError(f"{what} must be a string")
    return value


def _texts(values: object, what: str) -> tuple[str, ...]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ConstraintError(f"{what} must be a non-empty array of strings")
    return tuple(_text(v, what) for v in values)


# --- IP addresses and networks -------------------------------------------------

_IP_TEXT = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_NET_TEXT = re.compile(r"[0-9A-Fa-f:.]{2,45}/(?:0|[1-9][0-9]{0,2})")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4 = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}")  # no leading zeros


def parse_ip(text: object) -> _Address | None:
    """A strictly written IP address, with IPv4-mapped IPv6 folded to IPv4 (RFC 4291 §2.5.5.2).

    The character filter refuses zone ids, whitespace and non-ASCII digits;
    ``ipaddress`` refuses leading zeros (octal look-alikes) and short forms.
    """
    if not isinstance(text, str) or _IP_TEXT.fullmatch(text) is None:
        return None
    try:
        address: _Address = (
            ipaddress.IPv6Address(text) if ":" in text else ipaddress.IPv4Address(text)
        )
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ip_number(value: object) -> tuple[int, int] | None:
    """(IP version, address as an integer) for ``Cidr.check``; dotted IPv4 without ``ipaddress``."""
    if isinstance(value, str) and _IPV4.fullmatch(value) is not None:
        octets = [int(part) for part in value.split(".")]
        if max(octets) > 255:
            return None
        return 4, (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    address = parse_ip(value)
    return None if address is None else (address.version, int(address))


def _network(text: object) -> _Network:
    if not isinstance(text, str) or _NET_TEXT.fullmatch(text) is None:
        raise ConstraintError(f"cidr: {text!r} is not address/prefix-length")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise ConstraintError(f"cidr: {text!r} is not a network without host bits") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        # Mapped arguments are matched as IPv4, so such a network could never match: write IPv4.
        raise ConstraintError(f"cidr: write IPv4-mapped network {text!r} as IPv4")
    return network


@dataclass(frozen=True, kw_only=True)
class Cidr(ExtensionConstraint):
    """The argument is an IP address inside one of ``networks``."""

    constraint_type: ClassVar[str] = "cidr"
    required_members: ClassVar[tuple[str, ...]] = ("networks",)
    networks: tuple[str, ...]
    _nets: tuple[_Network, ...] = field(init=False, repr=False, compare=False)
    _masks: tuple[tuple[int, int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        nets = tuple(_network(n) for n in _texts(self.networks, "cidr: networks"))
        object.__setattr__(self, "_nets", nets)
        object.__setattr__(self, "networks", tuple(str(n) for n in nets))
        masks = tuple((n.version, int(n.netmask), int(n.network_address)) for n in nets)
        object.__setattr__(self, "_masks", masks)

    def check(self, value: object) -> bool:
        """True iff the value is a strictly written IP address inside a listed network."""
        ip = _ip_number(value)
        if ip is None:
            return False
        version, number = ip
        for net_version, mask, base in self._masks:
            if net_version == version and number & mask == base:
                return True
        return False

    def to_json(self) -> dict[str, object]:
        """The wire form, networks in canonical text."""
        return {"constraint_type": "cidr", "networks": list(self.networks)}

    def _narrows(self, child: Constraint) -> bool:
        assert isinstance(child, Cidr)
        return all(any(_inside(c, p) for p in self._nets) for c in child._nets)


def _inside(child: _Network, parent: _Network) -> bool:
    if child.version != parent.version:
        return False
    return child.subnet_of(parent)  # type: ignore[arg-type]


# --- DNS names -----------------------------------------------------------------

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def normal_host(text: object) -> str | None:
    """An LDH DNS name, lower-cased, one trailing dot removed; None if it is not one.

    ``isascii`` comes before ``lower`` because Unicode case mapping folds
    look-alikes into ASCII (U+212A KELVIN SIGN lower-cases to "k"). IDNs must
    arrive as A-labels (RFC 5890). A numeric last label is refused: it would be
    read as an IP address (RFC 3696 §2; inet_aton accepts "127.1", "0x7f.1").
    """
    if not isinstance(text, str) or not text.isascii() or len(text) > 254:
        return None
    name = text.lower().removesuffix(".")
    if len(name) > 253 or _DNS_NAME.fullmatch(name) is None:
        return None
    if _NUMERIC_LABEL.fullmatch(name.rpartition(".")[2]) is not None:
        return None
    return name


def _host(text: object) -> str:
    name = normal_host(text)
    if name is None:
        raise ConstraintError(f"host: {text!r} is not an LDH DNS name")
    return name


@dataclass(frozen=True, kw_only=True)
class Host(ExtensionConstraint):
    """The argument is a DNS name equal to, or under, one of ``suffixes``."""

    constraint_type: ClassVar[str] = "host"
    required_members: ClassVar[tuple[str, ...]] = ("suffixes",)
    suffixes: tuple[str, ...]
    _exact: frozenset[str] = field(init=False, repr=False, compare=False)
    _dotted: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        suffixes = tuple(_host(s) for s in _texts(self.suffixes, "host: suffixes"))
        object.__setattr__(self, "suffixes", suffixes)
        object.__setattr__(self, "_exact", frozenset(suffixes))
        object.__setattr__(self, "_dotted", tuple("." + s for s in suffixes))

    def check(self, value: object) -> bool:
        """True iff the normalised name equals a suffix or ends with "." + suffix."""
        name = normal_host(value)
        return name is not None and (name in self._exact or name.endswith(self._dotted))

    def to_json(self) -> dict[str, object]:
        """The wire form, suffixes normalised."""
        return {"constraint_type": "host", "suffixes": list(self.suffixes)}

    def _narrows(self, child: Constraint) -> bool:
        assert isinstance(child, Host)
        return all(s in self._exact or s.endswith(self._dotted) for s in child.suffixes)


# --- paths ---------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})|%(?:2[Ff]|5[Cc]|00)")
_CONTROL_OR_BACKSLASH = re.compile(r"[\x00-\x1f\x7f\\]")


def decode_path(raw: str) -> str | None:
    """Percent-decode once (RFC 3986 §2.1); None if the result could be read two ways.

    Refused: a stray '%', an encoded '/', '\\' or NUL (they change segmentation
    after our check), invalid UTF-8, control characters, and any '%' left after
    decoding (double encoding such as %252e).
    """
    text = raw
    if "%" in text:
        if _BAD_ESCAPE.search(text) is not None:
            return None
        try:
            text = unquote_to_bytes(text).decode("utf-8")
        except UnicodeError:  # invalid UTF-8 after decoding, or a lone surrogate before it
            return None
        if "%" in text:
            return None
    if _CONTROL_OR_BACKSLASH.search(text) is not None:
        return None
    return text


def _segments(path: str, *, resolve_dotdot: bool) -> str | None:
    """Drop empty and "." segments; apply ".." (RFC 3986 §5.2.4) or refuse it."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if ";" in segment and segment.partition(";")[0] in ("", ".", ".."):
            return None  # "..;" is ".." to servlet containers (path parameters, RFC 3986 §3.3)
        if segment == "..":
            if not resolve_dotdot:
                return None
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/" + "/".join(out)


def normal_subpath(value: object, *, decode: bool = True) -> str | None:
    """An absolute POSIX path, decoded once, with "." and "//" removed; None on ".." or tricks.

    ".." is refused rather than resolved: through a symlink "a/.." is not the
    lexical parent (POSIX.1-2017 §4.13), and the verifier cannot see the disk.
    """
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH or not value.startswith("/"):
        return None
    if decode:
        text = decode_path(value)
    else:
        text = None if "%" in value or _CONTROL_OR_BACKSLASH.search(value) else value
    return None if text is None else _segments(text, resolve_dotdot=False)


def _under(path: str, root: str) -> bool:
    """True iff ``path`` is ``root`` or below it, on a segment boundary."""
    return root == "/" or path == root or path.startswith(root + "/")


@dataclass(frozen=True, kw_only=True)
class Subpath(ExtensionConstraint):
    """The argument is an absolute path equal to or under ``root``, after lexical normalisation."""

    constraint_type: ClassVar[str] = "subpath"
    required_members: ClassVar[tuple[str, ...]] = ("root",)
    root: str
    _prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        root = normal_subpath(_text(self.root, "subpath: root"), decode=False)
        if root is None:
            raise ConstraintError(f"subpath: {self.root!r} is not a plain absolute path")
        object.__setattr__(self, "root", root)
        object.__setattr__(self, "_prefix", "/" if root == "/" else root + "/")

    def check(self, value: object) -> bool:
        """True iff the normalised path is the root or below it."""
        path = normal_subpath(value)
        return path is not None and (path == self.root or path.startswith(self._prefix))

    def to_json(self) -> dict[str, object]:
        """The wire form, root normalised."""
        return {"constraint_type": "subpath", "root": self.root}

    def _narrows(self, child: Constraint) -> bool:
        assert isinstance(child, Subpath)
        return _under(child.root, self.root)


# --- URLs ----------------------------------------------------------------------

_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?[^#]*)?(?:#.*)?", re.DOTALL)
_UNSAFE_URL = re.compile(r"[\x00-\x20\x7f\\]")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normal_url_host(text: str) -> str | None:
    """A URL host: a DNS name, a strict IPv4 literal, or a bracketed IPv6 literal (RFC 3986 §3.2.2)."""
    if text.startswith("["):
        address = parse_ip(text[1:-1]) if text.endswith("]") and ":" in text else None
        if address is None:
            return None
        return str(address) if address.version == 4 else f"[{address}]"
    if text and text.replace(".", "").isdigit():
        address = parse_ip(text)
        return None if address is None else str(address)
    return normal_host(text)


def _authority(authority: str) -> tuple[str, int | None] | None:
    # Userinfo is refused: "https://api.example.com@evil.test/" confuses naive readers.
    if "@" in authority:
        return None
    if authority.startswith("["):
        host, bracket, rest = authority.partition("]")
        host += bracket
    else:
        host, colon, port_text = authority.partition(":")
        rest = colon + port_text
    port: int | None = None
    if rest:
        if rest[0] != ":" or _PORT.fullmatch(rest[1:]) is None or int(rest[1:]) > 65535:
            return None
        port = int(rest[1:])
    name = normal_url_host(host)
    return None if name is None else (name, port)


def parse_url(value: object) -> tuple[str, str, int, str] | None:
    """(scheme, host, effective port, normalised path) of an absolute http(s)-style URL, or None."""
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH or not value.isascii():
        return None
    match = _URL.fullmatch(value) if _UNSAFE_URL.search(value) is None else None
    if match is None:
        return None
    scheme = match.group(1).lower()
    host_port = _authority(match.group(2))
    decoded = decode_path(match.group(3) or "/")
    if host_port is None or decoded is None:
        return None
    port = host_port[1] if host_port[1] is not None else _DEFAULT_PORTS.get(scheme)
    path = _segments(decoded, resolve_dotdot=True)
    if port is None or path is None:
        return None
    return scheme, host_port[0], port, path


@dataclass(frozen=True, kw_only=True)
class Url(ExtensionConstraint):
    """The argument is a URL with this scheme, host and port, whose path is under ``path_prefix``."""

    constraint_type: ClassVar[str] = "url"
    required_members: ClassVar[tuple[str, ...]] = ("scheme", "host")
    optional_members: ClassVar[tuple[str, ...]] = ("port", "path_prefix")
    scheme: str
    host: str
    port: int | None = None
    path_prefix: str = "/"

    def __post_init__(self) -> None:
        scheme = _text(self.scheme, "url: scheme").lower()
        host = normal_url_host(_text(self.host, "url: host"))
        port = _DEFAULT_PORTS.get(scheme) if self.port is None else self.port
        prefix = normal_subpath(_text(self.path_prefix, "url: path_prefix"))
        if _SCHEME.fullmatch(scheme) is None or host is None or prefix is None:
            raise ConstraintError("url: scheme, host or path_prefix is malformed")
        if type(port) is not int or not 1 <= port <= 65535:
            raise ConstraintError("url: port must be 1..65535 (required unless http/https/ws/wss)")
        for name, value in (("scheme", scheme), ("host", host), ("port", port)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "path_prefix", prefix)

    def check(self, value: object) -> bool:
        """True iff the normalised URL has this origin and a path under the prefix."""
        parts = parse_url(value)
        if parts is None:
            return False
        scheme, host, port, path = parts
        return (
            scheme == self.scheme
            and host == self.host
            and port == self.port
            and _under(path, self.path_prefix)
        )

    def to_json(self) -> dict[str, object]:
        """The wire form, normalised, with the port always written."""
        return {
            "constraint_type": "url",
            "scheme": self.scheme,
            "host": self.host,
            "port": self.port,
            "path_prefix": self.path_prefix,
        }

    def _narrows(self, child: Constraint) -> bool:
        assert isinstance(child, Url)
        same_origin = (child.scheme, child.host, child.port) == (self.scheme, self.host, self.port)
        return same_origin and _under(child.path_prefix, self.path_prefix)


# --- glob ----------------------------------------------------------------------

# A value (and a pattern) must be a plain path-like string: no control characters,
# '\\' or '%', no empty, "." or ".." segment. Otherwise a '*' could match "..",
# an empty segment, or a separator that a decoding or Windows tool would see.
_GLOB_BAD_VALUE = re.compile(r"[\x00-\x1f\x7f\\%]|//|(?:\A|/)\.\.?(?:/|\Z)|/\Z|\A\Z")
_GLOB_BAD_PATTERN = re.compile(r"[?\[\]{}]|\*\*")
_CHILD_STAR = "\x00"  # stands for a child '*' in subsumption; never a literal in any pattern


@dataclass(frozen=True, kw_only=True)
class Glob(ExtensionConstraint):
    """The argument full-matches ``pattern``, where '*' matches within one '/'-separated segment."""

    constraint_type: ClassVar[str] = "glob"
    required_members: ClassVar[tuple[str, ...]] = ("pattern",)
    pattern: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = _text(self.pattern, "glob: pattern")
        if (
            len(pattern) > MAX_PATTERN_LENGTH
            or _GLOB_BAD_VALUE.search(pattern) is not None
            or _GLOB_BAD_PATTERN.search(pattern) is not None
        ):
            raise ConstraintError(f"glob: {pattern!r} is not an accepted pattern")
        literal_parts = (re.escape(part) for part in pattern.split("*"))
        object.__setattr__(self, "_regex", re.compile("[^/]*".join(literal_parts), re.DOTALL))

    def check(self, value: object) -> bool:
        """True iff the value is a plain path-like string that the pattern matches."""
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            return False
        return _GLOB_BAD_VALUE.search(value) is None and self._regex.fullmatch(value) is not None

    def to_json(self) -> dict[str, object]:
        return {"constraint_type": "glob", "pattern": self.pattern}

    def _narrows(self, child: Constraint) -> bool:
        # Sound: match the child's pattern text, each child '*' replaced by a symbol that only a
        # parent '*' can consume (literals never equal it, and '[^/]*' accepts it). Substituting
        # any '/'-free string for that symbol keeps every parent '*' inside '[^/]*' and every
        # parent literal matched, so each value the child matches, the parent matches too.
        assert isinstance(child, Glob)
        return self._regex.fullmatch(child.pattern.replace("*", _CHILD_STAR)) is not None


# --- regex ---------------------------------------------------------------------


@cache
def _re2() -> ModuleType | None:
    try:
        return importlib.import_module("re2")
    except ImportError:
        return None


@dataclass(frozen=True, kw_only=True)
class Regex(ExtensionConstraint):
    """The string argument full-matches ``pattern`` (RE2 syntax, linear-time matching)."""

    constraint_type: ClassVar[str] = "regex"
    required_members: ClassVar[tuple[str, ...]] = ("pattern",)
    pattern: str
    _regex: object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = _text(self.pattern, "regex: pattern")
        if not 0 < len(pattern) <= MAX_PATTERN_LENGTH:
            raise ConstraintError(f"regex: pattern must have 1..{MAX_PATTERN_LENGTH} characters")
        engine = _re2()
        if engine is None:
            # Fail closed: a backtracking engine would let a token carry a ReDoS.
            raise ConstraintError("regex: needs the google-re2 package, which is not installed")
        options = engine.Options()
        options.log_errors = False
        try:
            compiled = engine.compile(pattern, options)
        except Exception:  # noqa: BLE001 - re2's error class is not exported under a stable name
            raise ConstraintError(f"regex: {pattern!r} is not a valid RE2 pattern") from None
        object.__setattr__(self, "_regex", compiled)

    def check(self, value: object) -> bool:
        """True iff the value is a string of at most MAX_VALUE_LENGTH that fully matches."""
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            return False
        try:
            return self._regex.fullmatch(value) is not None  # type: ignore[attr-defined]
        except UnicodeError:  # a lone surrogate cannot be encoded to UTF-8 for RE2
            return False

    def to_json(self) -> dict[str, object]:
        return {"constraint_type": "regex", "pattern": self.pattern}

    def _narrows(self, child: Constraint) -> bool:
        # Containment of regular languages is decidable but costly; identity is the declared rule.
        return isinstance(child, Regex) and child.pattern == self.pattern


EXTENSION_TYPES: tuple[type[ExtensionConstraint], ...] = (Cidr, Host, Url, Subpath, Glob) + (
    (Regex,) if _re2() is not None else ()
)
"""The extension types ``parse_constraint`` knows; without RE2, regex parses as unknown (denied)."""
