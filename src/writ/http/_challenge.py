"""The ``WWW-Authenticate: Writ realm="…", aud="…", nonce="…"`` challenge (RFC 9110 §11.6.1).

``WWW-Authenticate`` is a list of challenges (RFC 9110 §11.6.1)::

    challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param = token BWS "=" BWS ( token / quoted-string )     ; §11.2
    token68    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

Commas separate both challenges and the parameters inside one, so the parser
looks ahead: ``name =`` followed by a token or quoted string continues the current
challenge, anything else starts a new one. The parse is strict: a duplicate
parameter name (§11.2: "MUST only occur once per challenge"), an unterminated
quoted string or a stray character is a ``MalformedError``, never a guess.
Empty list elements are skipped, as §5.6.1.2 requires of recipients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from writ._errors import MalformedError
from writ.http._signature import origin_of

__all__ = [
    "Challenge",
    "WritChallenge",
    "find_writ_challenge",
    "format_challenge",
    "parse_challenges",
]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §5.6.2
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_OWS = re.compile(r"[ \t]*")
_SP = re.compile(r" +")
_QUOTED = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"')
_UNQUOTE = re.compile(r"\\(.)")
_NONCE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")  # as the RFC 9421 nonce: an SF String
_SCHEME = "writ"


@dataclass(frozen=True, kw_only=True)
class Challenge:
    """One parsed challenge: its scheme, and either a token68 or named parameters."""

    scheme: str
    token68: str | None
    params: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class WritChallenge:
    """Writ's challenge: the realm, the receiver's audience (origin) and a fresh nonce."""

    realm: str
    aud: str | None = None
    nonce: str | None = None

    def __post_init__(self) -> None:
        for name in ("realm", "aud", "nonce"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not _printable(value)):
                raise MalformedError(f"challenge {name} is not printable ASCII text")
        if self.nonce is not None and _NONCE.fullmatch(self.nonce) is None:
            raise MalformedError("challenge nonce cannot be carried in an RFC 9421 nonce")
        if self.aud is not None and origin_of(self.aud) != self.aud:
            raise MalformedError("challenge aud is not a normalised http(s) origin")


def _printable(value: str) -> bool:
    return value.isascii() and all(" " <= char <= "~" for char in value)


class _Scanner:
    """A cursor over one field value."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.pos)
        if found is not None:
            self.pos = found.end()
        return found

    def skip_ows(self) -> None:
        self.match(_OWS)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def fail(self, what: str) -> MalformedError:
        return MalformedError(f"WWW-Authenticate: {what} at offset {self.pos}")


def _param_ahead(scan: _Scanner) -> tuple[str, str] | None:
    """Parse ``token BWS "=" BWS (token / quoted-string)`` here, or leave the cursor alone."""
    start = scan.pos
    name = scan.match(_TOKEN)
    scan.skip_ows()
    if name is not None and scan.peek() == "=":
        scan.pos += 1
        scan.skip_ows()
        quoted = scan.match(_QUOTED)
        if quoted is not None:
            return name.group().lower(), _UNQUOTE.sub(r"\1", quoted.group(1))
        if scan.peek() == '"':
            raise scan.fail("unterminated or invalid quoted-string")
        value = scan.match(_TOKEN)
        if value is not None:
            return name.group().lower(), value.group()
    scan.pos = start
    return None


def _end_of_element(scan: _Scanner) -> bool:
    """Skip OWS; True at the end of the value, consume a comma, else fail."""
    scan.skip_ows()
    if scan.pos == len(scan.text):
        return True
    if scan.peek() != ",":
        raise scan.fail("expected a comma")
    scan.pos += 1
    return False


def _skip_empty_elements(scan: _Scanner) -> None:
    """Skip OWS and empty list elements (RFC 9110 §5.6.1.2: recipients accept them)."""
    scan.skip_ows()
    while scan.peek() == ",":
        scan.pos += 1
        scan.skip_ows()


def _challenge(scan: _Scanner) -> Challenge:
    scheme = scan.match(_TOKEN)
    if scheme is None:
        raise scan.fail("expected an auth-scheme")
    params: dict[str, str] = {}
    if scan.match(_SP) is None:
        return Challenge(scheme=scheme.group(), token68=None, params=params)
    first = _param_ahead(scan)
    if first is None:
        token68 = scan.match(_TOKEN68)
        if token68 is None:
            return Challenge(scheme=scheme.group(), token68=None, params=params)
        return Challenge(scheme=scheme.group(), token68=token68.group(), params=params)
    params[first[0]] = first[1]
    while True:
        mark = scan.pos
        if _end_of_element(scan):
            return Challenge(scheme=scheme.group(), token68=None, params=params)
        _skip_empty_elements(scan)
        param = _param_ahead(scan)
        if param is None:
            scan.pos = mark
            return Challenge(scheme=scheme.group(), token68=None, params=params)
        if param[0] in params:
            raise scan.fail(f"duplicate parameter {param[0]!r}")
        params[param[0]] = param[1]


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` field lines; raises ``MalformedError``."""
    challenges: list[Challenge] = []
    for value in values:
        scan = _Scanner(value)
        while True:
            _skip_empty_elements(scan)
            if scan.pos == len(scan.text):
                break
            challenges.append(_challenge(scan))
            if _end_of_element(scan):
                break
    return challenges


def find_writ_challenge(values: Iterable[str]) -> WritChallenge | None:
    """The one ``Writ`` challenge among the field lines, or None; raises ``MalformedError``."""
    found = [c for c in parse_challenges(values) if c.scheme.lower() == _SCHEME]
    if not found:
        return None
    if len(found) > 1:
        raise MalformedError("WWW-Authenticate carries more than one Writ challenge")
    challenge = found[0]
    if challenge.token68 is not None or "realm" not in challenge.params:
        raise MalformedError("a Writ challenge needs a realm parameter")
    params = challenge.params
    return WritChallenge(realm=params["realm"], aud=params.get("aud"), nonce=params.get("nonce"))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_challenge(challenge: WritChallenge) -> str:
    """The ``WWW-Authenticate`` value for a Writ challenge."""
    params = [("realm", challenge.realm), ("aud", challenge.aud), ("nonce", challenge.nonce)]
    return "Writ " + ", ".join(
        f"{name}={_quote(value)}" for name, value in params if value is not None
    )
