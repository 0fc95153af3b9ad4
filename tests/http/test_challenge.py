"""The ``WWW-Authenticate: Writ …`` challenge: RFC 9110 §11.6.1 parsing, strictly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writ._errors import MalformedError
from writ.http._challenge import (
    Challenge,
    WritChallenge,
    find_writ_challenge,
    format_challenge,
    parse_challenges,
)

WRIT = 'Writ realm="orders", aud="https://api.example.com", nonce="1800000000.abc.def"'


def test_writ_challenge_is_found() -> None:
    found = find_writ_challenge([WRIT])
    assert found == WritChallenge(
        realm="orders", aud="https://api.example.com", nonce="1800000000.abc.def"
    )


def test_format_then_parse_roundtrips() -> None:
    challenge = WritChallenge(realm='a "quoted" \\ realm', aud="https://api.example.com", nonce="n")
    text = format_challenge(challenge)
    assert (
        text == 'Writ realm="a \\"quoted\\" \\\\ realm", aud="https://api.example.com", nonce="n"'
    )
    assert find_writ_challenge([text]) == challenge
    assert format_challenge(WritChallenge(realm="r")) == 'Writ realm="r"'


def test_among_other_challenges_and_lines() -> None:
    value = (
        'Basic realm="simple", Bearer abc.def=, Newauth realm="apps", type=1, title="Login", '
        + WRIT
    )
    challenges = parse_challenges([value, "Other"])
    assert [c.scheme for c in challenges] == ["Basic", "Bearer", "Newauth", "Writ", "Other"]
    assert challenges[1] == Challenge(scheme="Bearer", token68="abc.def=", params={})
    assert challenges[2].params == {"realm": "apps", "type": "1", "title": "Login"}
    assert find_writ_challenge([value]) is not None
    assert find_writ_challenge(["Basic realm=x", WRIT]) is not None


def test_case_whitespace_and_empty_elements() -> None:
    value = ' , wRiT  REALM = "r" ,, NONCE=tok68 ,  '
    assert find_writ_challenge([value]) == WritChallenge(realm="r", nonce="tok68")


def test_no_writ_challenge() -> None:
    assert find_writ_challenge([]) is None
    assert find_writ_challenge(['Bearer realm="x"']) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('Writ realm="a", realm="b"', "duplicate parameter"),
        ('Writ realm="a", REALM="b"', "duplicate parameter"),
        ('Writ realm="a', "quoted-string"),
        ('Writ realm="a" nonce="b"', "expected a comma"),
        ('Writ realm="a";x', "expected a comma"),
        ("Writ abc==, Basic", "needs a realm"),
        ("Writ abc==, realm=x", "expected a comma"),
        ('Writ nonce="n"', "needs a realm"),
        ("Writ", "needs a realm"),
        ('Writ realm="a", Writ realm="b"', "more than one"),
        ('Writ realm="a", nonce="with space"', "nonce"),
        ('Writ realm="a", nonce="caf\u00e9"', "printable"),
        ('Writ realm="a", aud="https://API.example.com"', "normalised"),
        ('Writ realm="a", aud="urn:x"', "absolute"),
        ('Writ realm="a\tb"', "printable"),
        ("=x", "auth-scheme"),
    ],
)
def test_malformed_challenges_are_refused(value: str, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        find_writ_challenge([value])


def test_quoted_pair_unescapes() -> None:
    [challenge] = parse_challenges(['Writ realm="a\\"b\\\\c\\d"'])
    assert challenge.params["realm"] == 'a"b\\cd'


_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_nonce = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'),
    min_size=1,
    max_size=40,
)


@given(
    realm=_text,
    nonce=st.none() | _nonce,
    aud=st.sampled_from([None, "https://a.example", "http://b:8080"]),
)
def test_roundtrip_property(realm: str, nonce: str | None, aud: str | None) -> None:
    challenge = WritChallenge(realm=realm, aud=aud, nonce=nonce)
    assert find_writ_challenge([format_challenge(challenge)]) == challenge
    assert (
        find_writ_challenge(['Basic realm="x", ' + format_challenge(challenge) + ", Bearer"])
        == challenge
    )


_pieces = st.lists(
    st.sampled_from(
        [
            "Writ",
            "Basic",
            " ",
            "  ",
            ",",
            "realm",
            "nonce",
            "aud",
            "=",
            '"',
            "\\",
            "x",
            "a=b",
            "==",
            '"q"',
            "\t",
            "é",
            "/",
            "token68=",
            '"https://a.example"',
        ]
    ),
    max_size=20,
).map("".join)


@given(values=st.lists(_pieces | st.text(max_size=40), max_size=3))
def test_hostile_challenges_raise_only_malformed(values: list[str]) -> None:
    try:
        find_writ_challenge(values)
    except MalformedError:
        pass
