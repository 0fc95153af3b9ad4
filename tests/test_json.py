"""Strict JSON in, canonical JSON out: RFC 8785 (JCS) examples and hostile parser input.

``canonical`` is checked against RFC 8785's own examples (§3.2.2 → §3.2.3/§3.2.4, the
§3.2.3 sorting example, Appendix B numbers). ``loads_strict`` is pushed with the inputs
that make parsers disagree: duplicate member names, non-finite and overflowing numbers,
trailing data, invalid UTF-8, lone surrogates and deep nesting.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ import MalformedError
from writ._b64 import b64u_encode
from writ._json import MAX_JSON_DEPTH, SAFE_INTEGER, canonical, canonical_hash, loads_strict

VECTORS = Path(__file__).parent / "vectors"
JCS = json.loads((VECTORS / "rfc" / "rfc8785-jcs.json").read_text())
DUPLICATE_KEYS = (VECTORS / "aat" / "duplicate-argument-keys.json").read_bytes()
APPENDIX_B = JCS["appendix_b"]


def _double(ieee754: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(ieee754))[0]
    return value


# --- RFC 8785 examples ------------------------------------------------------------------------


def test_rfc8785_section_3_2_2_sample_gives_the_3_2_4_octets() -> None:
    expected = bytes.fromhex("".join(JCS["section_3_2_4_utf8_hex"]).replace(" ", ""))
    assert canonical(loads_strict(JCS["section_3_2_2_input"])) == expected
    assert expected.decode("utf-8") == JCS["section_3_2_3_output"]


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    value = loads_strict(JCS["sorting_input"])
    text = canonical(value).decode("utf-8")
    order = [v for _, v in sorted((text.index(json.dumps(v)), v) for v in value.values())]
    assert order == JCS["sorting_expected_value_order"]
    # U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, though after it by code
    # point: the example exists to catch a sort on code points or UTF-8 bytes.
    assert text.index("Emoji") < text.index("Hebrew")
    assert max(value, key=lambda k: k.encode("utf-8")) == "\U0001f600"


@pytest.mark.parametrize("row", APPENDIX_B, ids=[r["ieee754"] for r in APPENDIX_B])
def test_rfc8785_appendix_b_number(row: dict[str, Any]) -> None:
    value = _double(row["ieee754"])
    if row["json"] is None:  # NaN and Infinity have no JSON form (RFC 8785 §3.2.2.3)
        with pytest.raises(MalformedError):
            canonical(value)
        with pytest.raises(MalformedError):
            canonical({"n": [value]})
        return
    assert canonical(value) == row["json"].encode("ascii")
    assert canonical([value]) == b"[" + row["json"].encode("ascii") + b"]"


@pytest.mark.parametrize("value", [-math.inf, math.inf, math.nan, -math.nan])
def test_canonical_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(MalformedError):
        canonical({"a": value})


def test_canonical_hash_is_base64url_sha256_of_the_canonical_bytes() -> None:
    value = loads_strict(JCS["section_3_2_2_input"])
    expected = b64u_encode(hashlib.sha256(canonical(value)).digest())
    assert canonical_hash(value) == expected
    assert len(expected) == 43
    # Member order and insignificant whitespace do not change the name of a value.
    shuffled = dict(reversed(list(value.items())))
    assert canonical_hash(shuffled) == expected
    assert canonical_hash(json.loads(json.dumps(value, indent=4))) == expected


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**60, 10**30])
def test_canonical_refuses_integers_beyond_the_safe_range(value: int) -> None:
    # I-JSON (RFC 7493 §2.2): an integer a double cannot hold exactly is not interoperable.
    assert abs(value) > SAFE_INTEGER
    with pytest.raises(MalformedError):
        canonical({"n": value})
    assert canonical(SAFE_INTEGER) == str(SAFE_INTEGER).encode()
    assert canonical(-SAFE_INTEGER) == str(-SAFE_INTEGER).encode()


def test_integral_doubles_beyond_2_53_do_not_survive_a_second_pass() -> None:
    # Documented edge, not a fix: JCS spells the double 1e20 as 21 digits (Appendix B does the
    # same for 2**68), a Python parser reads those digits as an int, and Writ refuses ints
    # beyond 2**53 - 1. So a PoP whose hta carries such a double, as a JavaScript agent would
    # send it, cannot match: Writ's JCS domain is "integers within +-(2**53 - 1) and
    # doubles that are not integral beyond it".
    assert canonical(1e20) == b"100000000000000000000"
    with pytest.raises(MalformedError):
        canonical(loads_strict(canonical(1e20)))


@pytest.mark.parametrize("value", [b"x", {1: 2}, {(1,): 2}, {"a": {1, 2}}, object(), 1j])
def test_canonical_refuses_values_that_are_not_json(value: object) -> None:
    with pytest.raises(MalformedError):
        canonical(value)


def test_canonical_refuses_a_self_referencing_value() -> None:
    value: list[Any] = []
    value.append(value)
    with pytest.raises(MalformedError):
        canonical(value)


def test_canonical_of_very_deep_nesting_is_malformed_not_a_crash() -> None:
    value: Any = "leaf"
    for _ in range(20_000):
        value = [value]
    with pytest.raises(MalformedError):
        canonical(value)


# --- Strict parsing ---------------------------------------------------------------------------


def test_duplicate_member_names_are_refused() -> None:
    # A lenient parser keeps the last value: the verifier would check one path and the tool
    # would open another (AAT §3.3.1, RFC 7515 §5.2).
    assert json.loads(DUPLICATE_KEYS) == {"path": "/etc/passwd"}
    with pytest.raises(MalformedError):
        loads_strict(DUPLICATE_KEYS)
    with pytest.raises(MalformedError):
        loads_strict(DUPLICATE_KEYS.decode())


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":1}',
        '{"a":1,"b":2,"a":3}',
        '[{"x":{"y":1,"y":2}}]',
        '{"a":{},"b":[{"c":0,"c":0}]}',
        '{"\\u0061":1,"a":2}',
        '{"\\ud83d\\ude00":1,"\U0001f600":2}',
    ],
    ids=["same", "apart", "nested", "deep", "escaped", "escaped-pair"],
)
def test_duplicates_are_found_at_any_depth_and_after_unescaping(text: str) -> None:
    with pytest.raises(MalformedError):
        loads_strict(text)


@pytest.mark.parametrize(
    "text",
    ["NaN", "Infinity", "-Infinity", "[NaN]", '{"a":Infinity}', "nan", "inf", "[1,-Infinity]"],
)
def test_non_finite_constants_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        loads_strict(text)


@pytest.mark.parametrize(
    "text", ["1e400", "-1e400", "[1.8e308]", '{"n":123e1000}', "1" + "0" * 400 + ".0"]
)
def test_numbers_that_overflow_a_double_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        loads_strict(text)


def test_integers_too_long_to_parse_are_refused_not_raised() -> None:
    # CPython refuses int() of over 4300 digits with ValueError; it must surface as malformed.
    with pytest.raises(MalformedError):
        loads_strict("1" * 5000)


@pytest.mark.parametrize(
    "text", ["{}x", "{} {}", "[1]]", '"a""b"', "1 2", "null,", "{}\x00", "{}\u00a0", "true false"]
)
def test_trailing_data_is_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        loads_strict(text)


def test_insignificant_whitespace_is_allowed() -> None:
    # RFC 8259 §2: space, tab, line feed and carriage return around any token.
    assert loads_strict(' \t\r\n{ "a" : [ 1 , 2 ] }\r\n\t ') == {"a": [1, 2]}


@pytest.mark.parametrize(
    "data",
    [
        b'"\xff"',
        b'"\xc0\xaf"',
        b'"\xed\xa0\x80"',
        b'"\xe2\x82"',
        b'"\xf4\x90\x80\x80"',
        b'{"a\x80":1}',
        b"\xef\xbb\xbf{}",
        b"\xfe\xff\x00{\x00}",
    ],
    ids=["ff", "overlong", "cesu-surrogate", "truncated", "above-10ffff", "in-key", "bom", "utf16"],
)
def test_invalid_utf8_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedError):
        loads_strict(data)


@pytest.mark.parametrize("text", ['"\x00"', '"\x1f"', '"a\nb"', '{"\t":1}'])
def test_raw_control_characters_in_strings_are_refused(text: str) -> None:
    # RFC 8259 §7: control characters must be escaped.
    with pytest.raises(MalformedError):
        loads_strict(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n",
        "{",
        "[1,]",
        '{"a":1,}',
        "{'a':1}",
        "01",
        "+1",
        ".5",
        "1.",
        "0x10",
        '"\\x41"',
        "undefined",
        "\ufeff{}",
    ],
)
def test_what_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        loads_strict(text)


def test_a_surrogate_pair_escape_is_one_character() -> None:
    assert loads_strict('"\\ud83d\\ude00"') == "\U0001f600"
    assert canonical(loads_strict('"\\ud83d\\ude00"')) == '"\U0001f600"'.encode("utf-8")


@pytest.mark.parametrize(
    "text", ['"\\ud800"', '"\\udc00"', '"a\\ud83d"', '"\\ude00\\ud83d"', '{"\\udfff":1}']
)
def test_canonical_refuses_lone_surrogates(text: str) -> None:
    # Decision pinned: a lone surrogate has no UTF-8 form, so JCS (RFC 8785 §3.2.2.2) cannot
    # encode it, and canonical says so with MalformedError rather than emitting WTF-8.
    value = json.loads(text)
    with pytest.raises(MalformedError):
        canonical(value)


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udc00"', '{"\\udfff":1}', '["\\ud83d"]'])
def test_loads_strict_refuses_lone_surrogate_escapes(text: str) -> None:
    with pytest.raises(MalformedError):
        loads_strict(text)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert canonical(loads_strict(text)) == text.encode()
    obj = '{"a":' * (MAX_JSON_DEPTH - 1) + "{}" + "}" * (MAX_JSON_DEPTH - 1)
    assert canonical(loads_strict(obj)) == obj.encode()


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_nesting_beyond_the_limit_is_refused(depth: int) -> None:
    with pytest.raises(MalformedError):
        loads_strict("[" * depth + "]" * depth)
    with pytest.raises(MalformedError):
        loads_strict('{"a":' * depth + "0" + "}" * depth)


# --- Properties -------------------------------------------------------------------------------

# Within JCS's domain: no surrogates in strings, integers a double holds exactly, finite
# doubles that JCS does not spell as a long integer (see the documented edge above).
_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda f: not (f.is_integer() and 2**53 <= abs(f) < 1e21)
)
_scalars = st.none() | st.booleans() | st.integers(-SAFE_INTEGER, SAFE_INTEGER) | _floats | _text
JSON_VALUES = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 and 1.0 are one number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES)
def test_loads_strict_inverts_canonical(value: Any) -> None:
    assert _same(loads_strict(canonical(value)), value)


@settings(max_examples=400, deadline=None)
@given(value=JSON_VALUES)
def test_canonical_is_idempotent(value: Any) -> None:
    once = canonical(value)
    assert canonical(loads_strict(once)) == once
    # And it is what a lenient standard parser reads back too.
    assert canonical(json.loads(once)) == once


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES)
def test_canonical_ignores_formatting_and_member_order(value: Any) -> None:
    pretty = json.dumps(value, indent=3, sort_keys=True, ensure_ascii=True)
    assert canonical(loads_strict(pretty)) == canonical(value)


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=40) | st.sampled_from(['{"a":', "[[[", '"\\u', "1e9999", "-"]))
def test_loads_strict_raises_only_malformed_on_any_text(text: str) -> None:
    try:
        loads_strict(text)
    except MalformedError:
        pass


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=40))
def test_loads_strict_raises_only_malformed_on_any_bytes(data: bytes) -> None:
    try:
        loads_strict(data)
    except MalformedError:
        pass
