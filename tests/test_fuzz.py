"""Fuzzing the verifier: whatever arrives, ``check`` answers with a denial and never raises.

The base is AAT vector J.3 (a valid three-token chain and its proof). Every mutation of
it, and every piece of random input, must come back as ``allowed=False`` with a code from
``writ.CODES``. Each example gets a fresh verifier, so a denial is never a replay denial
standing in for the check under test. The same contract is checked through ``writ check``.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from writ import (
    CODES,
    Decision,
    PrivateKey,
    ReceiverConfig,
    Verifier,
    WritError,
    grant,
    sign_pop,
)
from writ._b64 import b64u_encode
from writ._json import canonical
from writ._pop import leaf_reference
from writ.cli import app
from writ.log._appender import LogWriter, open_log
from writ.stores import open_stores

SUITE = json.loads((Path(__file__).parent / "vectors/aat/aat-jws-vectors.json").read_text())
J3 = next(v for v in SUITE["vectors"] if v["id"] == "J.3")
PARAMS = SUITE["params"]
CHAIN: list[str] = J3["chain_compact"]
POP: str = J3["pop"]["compact"]
TOOL: str = J3["tool"]
ARGS: dict[str, Any] = J3["args"]
NOW: int = J3["now"]
AUDIENCE: str = PARAMS["audience"]
LEAF_KEY = PrivateKey(bytes.fromhex(SUITE["keys"]["worker2"]["seed_hex"]))
LIMITS = {
    k: PARAMS[k]
    for k in ("max_iat_skew", "max_token_lifetime", "max_delegation_depth", "pop_window")
}
CONFIG = ReceiverConfig.from_json(
    {"audience": AUDIENCE, "limits": LIMITS, "trust_anchors": SUITE["trust_anchors"]}
)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def verifier(config: ReceiverConfig = CONFIG, log: LogWriter | None = None) -> Verifier:
    return Verifier(config, stores=open_stores("memory:"), log=log)


def denied(decision: Decision) -> Decision:
    """The contract for hostile input: deny, with a stable code, and a serialisable answer."""
    assert decision.allowed is False, decision.to_json()
    assert decision.code in CODES, decision.code
    assert decision.status == CODES[decision.code][0]
    assert decision.reason == CODES[decision.code][1]
    json.dumps(decision.to_json(), default=str)
    return decision


def check(
    chain: Any = CHAIN,
    pop: Any = POP,
    tool: Any = TOOL,
    args: Any = ARGS,
    v: Verifier | None = None,
    **kw: Any,
) -> Decision:
    return (v or verifier()).check(chain=chain, pop=pop, tool=tool, args=args, now=NOW, **kw)


def fresh_pop(
    tool: str = TOOL, args: dict[str, Any] = ARGS, leaf: str = CHAIN[-1], key: PrivateKey = LEAF_KEY
) -> str:
    return sign_pop(key=key, leaf=leaf, tool=tool, args=args, now=NOW, aud=AUDIENCE)


def flip(text: str, bit: int) -> str:
    data = bytearray(text.encode("ascii"))
    data[bit // 8] ^= 1 << (bit % 8)
    return data.decode("latin-1")


# --- The base is sound -------------------------------------------------------------------------


def test_the_base_is_allowed_and_its_proof_works_once() -> None:
    v = verifier()
    assert check(v=v).allowed
    assert denied(check(v=v)).code == "replayed"
    assert check(pop=fresh_pop(), v=v).allowed


# --- Random input ------------------------------------------------------------------------------

_b64ish = st.from_regex(r"[A-Za-z0-9_-]{0,60}", fullmatch=True)
_jws_like = st.builds(lambda a, b, c: f"{a}.{b}.{c}", _b64ish, _b64ish, _b64ish)
_json_segment = st.builds(
    lambda h, p: f"{b64u_encode(h.encode())}.{b64u_encode(p.encode())}.{b64u_encode(bytes(64))}",
    st.sampled_from(
        [
            '{"alg":"Ed25519","typ":"aat+jwt"}',
            '{"alg":"none","typ":"aat+jwt"}',
            '{"alg":"Ed25519","typ":"aat-pop+jwt"}',
            "{}",
            "[]",
        ]
    ),
    st.sampled_from(
        [
            "{}",
            '{"jti":"a"}',
            '{"jti":1}',
            '{"iss":"https://auth.example.com"}',
            '{"jti":"x","jti":"y"}',
            "null",
            json.dumps(ARGS),
        ]
    ),
)
TOKENS = st.text(max_size=300) | _jws_like | _json_segment | st.sampled_from(CHAIN + [POP])


@FUZZ
@given(chain=st.lists(TOKENS, max_size=4), pop=st.none() | TOKENS)
def test_random_tokens_and_proofs_are_denied(chain: list[str], pop: str | None) -> None:
    assume(not (chain == CHAIN and pop == POP))
    denied(check(chain=chain, pop=pop))


@FUZZ
@given(chain=st.lists(st.binary(max_size=200), max_size=3), pop=st.binary(max_size=200))
def test_random_bytes_are_denied(chain: list[bytes], pop: bytes) -> None:
    denied(check(chain=[b64u_encode(c) for c in chain], pop=b64u_encode(pop)))
    denied(check(chain=[c.decode("latin-1") for c in chain], pop=pop.decode("latin-1")))


@pytest.mark.parametrize(
    "chain",
    [
        None,
        "",
        CHAIN[0],
        42,
        [None],
        [1, 2, 3],
        [[CHAIN[0]]],
        [b"x"],
        tuple(CHAIN[:2]),
        {"a": 1},
        [CHAIN[0].encode()],
    ],
    ids=repr,
)
def test_chains_of_the_wrong_type_are_denied(chain: Any) -> None:
    denied(check(chain=chain))


@pytest.mark.parametrize(
    "pop", [None, "", 0, b"", POP.encode(), [POP], {"pop": POP}, 3.5], ids=repr
)
def test_proofs_of_the_wrong_type_are_denied(pop: Any) -> None:
    denied(check(pop=pop))


# --- Mutations of J.3 --------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_bit_flip_in_any_chain_token_is_denied(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(CHAIN) - 1))
    bit = data.draw(st.integers(0, len(CHAIN[index]) * 8 - 1))
    chain = list(CHAIN)
    chain[index] = flip(chain[index], bit)
    denied(check(chain=chain))


@FUZZ
@given(data=st.data())
def test_a_truncated_or_extended_chain_token_is_denied(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(CHAIN) - 1))
    chain = list(CHAIN)
    if data.draw(st.booleans()):
        chain[index] = chain[index][: data.draw(st.integers(0, len(chain[index]) - 1))]
    else:
        at = data.draw(st.integers(0, len(chain[index])))
        junk = data.draw(st.text(alphabet="AQgw-_.=", min_size=1, max_size=8))
        chain[index] = chain[index][:at] + junk + chain[index][at:]
    denied(check(chain=chain))


@FUZZ
@given(data=st.data())
def test_a_bit_flip_truncation_or_splice_in_the_proof_is_denied(data: st.DataObject) -> None:
    how = data.draw(st.sampled_from(["flip", "cut", "splice"]))
    if how == "flip":
        pop = flip(POP, data.draw(st.integers(0, len(POP) * 8 - 1)))
    elif how == "cut":
        pop = POP[: data.draw(st.integers(0, len(POP) - 1))]
    else:
        at = data.draw(st.integers(0, len(POP)))
        pop = POP[:at] + data.draw(st.text(alphabet="AQgw-_.", min_size=1, max_size=8)) + POP[at:]
    denied(check(pop=pop))


@FUZZ
@given(order=st.lists(st.integers(0, len(CHAIN) - 1), max_size=6))
def test_reordered_dropped_or_repeated_chain_tokens_are_denied(order: list[int]) -> None:
    assume(order != list(range(len(CHAIN))))
    denied(check(chain=[CHAIN[i] for i in order]))


def test_the_proof_or_a_foreign_token_in_place_of_a_chain_token_is_denied() -> None:
    other = next(v for v in SUITE["vectors"] if v["id"] == "J.1")["chain_compact"][0]
    for index in range(len(CHAIN)):
        for stranger in (POP, other):
            chain = list(CHAIN)
            chain[index] = stranger
            denied(check(chain=chain))
    denied(check(pop=CHAIN[-1]))


# --- Receiver nonces ----------------------------------------------------------------------------

NONCE_CONFIG = ReceiverConfig.from_json(
    {
        "audience": AUDIENCE,
        "limits": LIMITS,
        "require_nonce": True,
        "trust_anchors": SUITE["trust_anchors"],
    }
)


def nonce_pop(nonce: str) -> str:
    return sign_pop(
        key=LEAF_KEY, leaf=CHAIN[-1], tool=TOOL, args=ARGS, now=NOW, aud=AUDIENCE, nonce=nonce
    )


def test_a_nonce_this_receiver_issued_works_once() -> None:
    v = verifier(NONCE_CONFIG)
    nonce = v.issue_nonce(now=NOW)
    assert check(pop=nonce_pop(nonce), v=v).allowed
    assert denied(check(pop=nonce_pop(nonce), v=v)).code == "replayed"


@FUZZ
@given(data=st.data())
def test_forged_or_mangled_nonces_are_denied(data: st.DataObject) -> None:
    # The holder signs whatever nonce it likes; only one this receiver's key MACed may pass.
    v = verifier(NONCE_CONFIG)
    real = v.issue_nonce(now=NOW)
    stamp, rand, mac = real.split(".")
    nonce = data.draw(
        st.one_of(
            st.text(max_size=80),
            st.builds(
                lambda a, b, c: f"{a}.{b}.{c}",
                st.text(max_size=30),
                st.text(max_size=20),
                st.text(max_size=30),
            ),
            st.sampled_from(
                [
                    f"{int(stamp) + 1}.{rand}.{mac}",
                    f"{stamp}.{rand}x.{mac}",
                    f"{stamp}.{rand}.{mac[:-1]}A",
                    f"\u0661{stamp}.{rand}.{mac}",
                    f"{'9' * 5000}.{rand}.{mac}",
                    f"{stamp}.{rand}.{mac}.",
                    real.upper(),
                ]
            ),
        )
    )
    assume(nonce != real and nonce)
    denied(check(pop=nonce_pop(nonce), v=v))


# --- Junk tools and arguments ------------------------------------------------------------------

# Built lazily: an int of 5000 digits has no repr (CPython's 4300-digit limit), which is the
# point of including it, so it must not appear in a strategy's own repr.
_huge = st.builds(
    lambda e, sign: sign * 10**e, st.sampled_from([16, 20, 400, 5000]), st.sampled_from([1, -1])
) | st.sampled_from([2**53, -(2**53), 2**64])
_floats = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324])
_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | _huge
    | _floats
    | st.text(max_size=20)
    | st.binary(max_size=8)
)
JUNK = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        | st.dictionaries(st.integers() | st.none() | st.booleans(), inner, max_size=2)
        | st.sets(st.integers(), max_size=3)
        | st.frozensets(st.text(), max_size=2)
    ),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    value: Any = "/data/q3-report.pdf"
    for _ in range(depth):
        value = [value]
    return value


@FUZZ
@given(
    tool=st.text(max_size=30) | st.just(TOOL),
    args=st.dictionaries(st.text(max_size=10) | st.just("path"), JUNK, max_size=4),
)
def test_junk_arguments_with_a_valid_proof_for_other_arguments_are_denied(
    tool: str, args: dict[str, Any]
) -> None:
    assume(not (tool == TOOL and args == ARGS))
    denied(check(tool=tool, args=args))


@pytest.mark.parametrize(
    "args",
    [
        None,
        [],
        ["path"],
        "path",
        5,
        1.5,
        True,
        b"{}",
        [("path", "/data/q3-report.pdf")],
        {1: "/data/q3-report.pdf"},
        {None: 1},
        {("path",): 1},
        {b"path": "/data/q3-report.pdf"},
        {"path": _deep(50_000)},
        {"path": [_deep(5)]},
        {"path": 10**5000},
        {"path": math.nan},
        {"path": "/data/q3-report.pdf", 0: 0},
    ],
    ids=lambda a: type(a).__name__,
)
def test_arguments_of_the_wrong_shape_are_denied(args: Any) -> None:
    denied(check(args=args))


@pytest.mark.parametrize(
    "tool",
    [
        None,
        0,
        b"read_file",
        ["read_file"],
        "",
        "read_file\x00",
        "READ_FILE",
        "read_file ",
        "\u0072ead_file\u200b",
    ],
    ids=repr,
)
def test_tools_of_the_wrong_type_or_spelling_are_denied(tool: Any) -> None:
    denied(check(tool=tool))


# --- A receiver with every constraint type -----------------------------------------------------

ROOT_KEY = PrivateKey(bytes([0x11]) * 32)
HOLDER = PrivateKey(bytes([0x12]) * 32)
CONSTRAINTS: dict[str, Any] = {
    "range": {"constraint_type": "range", "min": -5, "max": 1e6, "max_inclusive": False},
    "one_of": {"constraint_type": "one_of", "values": [1, "x", [1, {"a": None}], {"k": 2.5}]},
    "not_one_of": {"constraint_type": "not_one_of", "excluded": ["rm", 0]},
    "contains": {"constraint_type": "contains", "required": ["a"]},
    "subset": {"constraint_type": "subset", "allowed": ["a", "b", 3]},
    "exact": {"constraint_type": "exact", "value": {"x": [1, 2]}},
    "cidr": {"constraint_type": "cidr", "networks": ["10.0.0.0/8", "2001:db8::/32"]},
    "host": {"constraint_type": "host", "suffixes": ["example.com"]},
    "subpath": {"constraint_type": "subpath", "root": "/data"},
    "url": {"constraint_type": "url", "scheme": "https", "host": "api.example.com"},
    "glob": {"constraint_type": "glob", "pattern": "/data/*.pdf"},
    "any": {
        "constraint_type": "any",
        "constraints": [
            {"constraint_type": "exact", "value": 1},
            {
                "constraint_type": "all",
                "constraints": [
                    {"constraint_type": "range", "min": 10},
                    {"constraint_type": "range", "max": 20},
                ],
            },
        ],
    },
    "future": {"constraint_type": "not-yet-invented", "x": 1},
    "wildcard": {"constraint_type": "wildcard"},
}
# One tool per constraint type, each with one argument "v", so junk reaches every check.
RICH_TOOLS = {name: {"v": spec} for name, spec in CONSTRAINTS.items()}
RICH_CONFIG = ReceiverConfig.from_json(
    {
        "audience": AUDIENCE,
        "trust_anchors": [{"iss": "https://fuzz.example", "jwk": ROOT_KEY.public_key.jwk}],
    }
)
RICH_LEAF = grant(
    key=ROOT_KEY,
    iss="https://fuzz.example",
    holder=HOLDER.public_key,
    tools=RICH_TOOLS,
    now=NOW - 10,
    ttl=3600,
)


def _jcs_able(value: Any) -> bool:
    try:
        canonical(value)
    except Exception:  # noqa: BLE001 - only asking whether a proof could be signed over it
        return False
    return True


ADMITTED = {
    "range": 3.5,
    "one_of": [1, {"a": None}],
    "not_one_of": "ls",
    "contains": ["b", "a"],
    "subset": ["a", 3],
    "exact": {"x": [1, 2]},
    "cidr": "10.1.2.3",
    "host": "a.example.com",
    "subpath": "/data/x/y",
    "url": "https://api.example.com/v1",
    "glob": "/data/q3.pdf",
    "any": 15,
    "wildcard": {"anything": [True]},
}


@pytest.mark.parametrize("tool", sorted(ADMITTED))
def test_the_rich_receiver_allows_what_each_constraint_admits(tool: str) -> None:
    # Without this, the junk below could be denied for a reason that has nothing to do with
    # the constraint (a broken chain, a wrong proof) and the fuzzing would test nothing.
    args = {"v": ADMITTED[tool]}
    pop = fresh_pop(tool, args, RICH_LEAF, HOLDER)
    assert check(chain=[RICH_LEAF], pop=pop, tool=tool, args=args, v=verifier(RICH_CONFIG)).allowed


def test_an_unknown_constraint_type_fails_closed() -> None:
    args = {"v": 1}
    pop = fresh_pop("future", args, RICH_LEAF, HOLDER)
    denied(check(chain=[RICH_LEAF], pop=pop, tool="future", args=args, v=verifier(RICH_CONFIG)))


@FUZZ
@given(
    tool=st.sampled_from(sorted(CONSTRAINTS)),
    value=JUNK,
    extra=st.dictionaries(st.text(max_size=5), JUNK, max_size=1),
)
def test_every_constraint_type_survives_junk_values(
    tool: str, value: Any, extra: dict[str, Any]
) -> None:
    # The holder signs a proof over exactly these arguments when they have a JCS form, so a
    # value the constraint admits is allowed; anything else must be an orderly denial.
    args = {**extra, "v": value}
    pop = fresh_pop(tool, args if _jcs_able(args) else {"v": 0}, RICH_LEAF, HOLDER)
    decision = check(chain=[RICH_LEAF], pop=pop, tool=tool, args=args, v=verifier(RICH_CONFIG))
    if decision.allowed:
        assert _jcs_able(args) and set(args) == {"v"} and tool != "future"
    else:
        denied(decision)


# --- A warm verifier and a decision log --------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_a_cached_chain_is_no_shortcut_for_a_mutated_one(data: st.DataObject) -> None:
    v = verifier()
    assert check(pop=fresh_pop(), v=v).allowed  # the valid chain is now cached
    index = data.draw(st.integers(0, len(CHAIN) - 1))
    chain = list(CHAIN)
    chain[index] = flip(chain[index], data.draw(st.integers(0, len(chain[index]) * 8 - 1)))
    denied(check(chain=chain, pop=fresh_pop(), v=v))


UTF8 = st.characters(codec="utf-8")  # no lone surrogates: those are tested on their own below


@pytest.fixture
def log() -> Iterator[LogWriter]:
    with tempfile.TemporaryDirectory() as folder:
        writer = open_log(f"sqlite:///{folder}/decisions.db")
        try:
            yield writer
        finally:
            writer.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    chain=st.lists(TOKENS, max_size=3),
    tool=st.text(alphabet=UTF8, max_size=20),
    args=st.dictionaries(st.text(alphabet=UTF8, max_size=6), JUNK, max_size=3),
)
def test_every_denial_is_logged_without_raising(
    log: LogWriter, chain: list[str], tool: str, args: dict[str, Any]
) -> None:
    before = log.size()
    decision = denied(check(chain=chain, tool=tool, args=args, v=verifier(log=log)))
    assert log.size() == before + 1
    assert decision.receipt is not None
    record = json.loads(log.entry(before))
    assert record["decision"] == "deny" and record["code"] == decision.code


@pytest.mark.parametrize("tool", ["\ud800", "read_file\udfff"])
def test_a_tool_with_a_lone_surrogate_is_denied_and_logged(log: LogWriter, tool: str) -> None:
    denied(check(tool=tool, v=verifier(log=log)))


def _raw_pop(claims: dict[str, Any], key: PrivateKey) -> str:
    """A proof over JSON text of our choosing (sign_pop cannot express a lone surrogate)."""
    header = b64u_encode(b'{"alg":"Ed25519","typ":"aat-pop+jwt"}')
    payload = b64u_encode(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
    return f"{header}.{payload}.{b64u_encode(key.sign(f'{header}.{payload}'.encode()))}"


def test_an_allowed_call_always_binds_its_arguments_in_the_log(log: LogWriter) -> None:
    jti, aat_hash = leaf_reference(RICH_LEAF)
    args = {"v": "\ud800"}
    pop = _raw_pop(
        {
            "aat_aud": AUDIENCE,
            "aat_hash": aat_hash,
            "aat_id": jti,
            "aat_tool": "wildcard",
            "hta": args,
            "iat": NOW,
            "jti": "pop-1",
        },
        HOLDER,
    )
    decision = check(
        chain=[RICH_LEAF], pop=pop, tool="wildcard", args=args, v=verifier(RICH_CONFIG, log=log)
    )
    if decision.allowed:
        assert json.loads(log.entry(log.size() - 1))["args_hash"] is not None
    else:
        denied(decision)


J5 = next(v for v in SUITE["vectors"] if v["id"] == "J.5")  # an expired root, denied at 3e


@pytest.mark.parametrize("now", [math.nan, math.inf], ids=["nan", "inf"])
def test_a_non_finite_clock_fails_closed(now: float) -> None:
    try:
        decision = verifier().check(
            chain=J5["chain_compact"],
            pop=J5["pop"]["compact"],
            tool=J5["tool"],
            args=J5["args"],
            now=now,
        )
    except WritError:
        return  # refusing the clock outright is also closed
    denied(decision)
    assert decision.code in ("expired", "not_yet_valid", "proof_invalid", "state_unavailable")


# --- The CLI contract --------------------------------------------------------------------------

RECEIVER_TOML = (
    "\n".join(
        [
            f'audience = "{AUDIENCE}"',
            "require_pop_audience = false",
            "[limits]",
            *(f"{k} = {v}" for k, v in LIMITS.items()),
            *(
                line
                for a in SUITE["trust_anchors"]
                for line in (
                    "[[trust_anchors]]",
                    f'iss = "{a["iss"]}"',
                    "jwk = { " + ", ".join(f'{k} = "{v}"' for k, v in a["jwk"].items()) + " }",
                )
            ),
        ]
    )
    + "\n"
)


def run_cli(
    folder: Path, chain: Sequence[str], pop: str, *, tool: str = TOOL, args: str = json.dumps(ARGS)
) -> Any:
    (folder / "receiver.toml").write_text(RECEIVER_TOML)
    (folder / "chain").write_text(
        "\n".join(chain) + "\n", encoding="utf-8", errors="surrogateescape"
    )
    (folder / "pop").write_text(pop + "\n", encoding="utf-8", errors="surrogateescape")
    return CliRunner().invoke(
        app,
        [
            "check",
            "--receiver",
            str(folder / "receiver.toml"),
            "--chain",
            str(folder / "chain"),
            "--pop",
            str(folder / "pop"),
            "--tool",
            tool,
            "--args",
            args,
            "--now",
            str(NOW),
            "--json",
        ],
    )


def _no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def test_cli_allows_the_base(tmp_path: Path) -> None:
    result = run_cli(tmp_path, CHAIN, POP)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["allowed"] is True


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_cli_denies_mutated_input_with_exit_1(data: st.DataObject) -> None:
    chain, pop = list(CHAIN), POP
    target = data.draw(st.integers(0, len(CHAIN)))
    if target == len(CHAIN):
        pop = flip(pop, data.draw(st.integers(0, len(pop) * 8 - 1)))
    else:
        chain[target] = flip(chain[target], data.draw(st.integers(0, len(chain[target]) * 8 - 1)))
    assume(all(t.strip() for t in chain) and pop.strip())
    with tempfile.TemporaryDirectory() as folder:
        result = run_cli(Path(folder), chain, pop)
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out["allowed"] is False and out["code"] in CODES


@pytest.mark.parametrize(
    "chain,pop,args",
    [
        (["garbage"], "garbage", json.dumps(ARGS)),
        ([CHAIN[0]], POP, json.dumps(ARGS)),
        (CHAIN, POP, '{"path":"/etc/passwd"}'),
        (CHAIN, POP, '{"path":"/data/q3-report.pdf","extra":1}'),
        (CHAIN, "\u00e9" * 10, json.dumps(ARGS)),
        (["x" * 300_000], POP, json.dumps(ARGS)),
    ],
    ids=["garbage", "root-only", "other-path", "extra-arg", "non-ascii-pop", "huge-token"],
)
def test_cli_denies_hostile_input_with_exit_1(
    tmp_path: Path, chain: list[str], pop: str, args: str
) -> None:
    result = run_cli(tmp_path, chain, pop, args=args)
    _no_traceback(result)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["allowed"] is False


@pytest.mark.parametrize(
    "args",
    ['{"path":"/a","path":"/b"}', "[1]", "NaN", "{", '{"path":' + "[" * 100 + "]" * 100 + "}"],
    ids=["duplicate", "array", "nan", "broken", "deep"],
)
def test_cli_refuses_malformed_args_with_exit_2(tmp_path: Path, args: str) -> None:
    result = run_cli(tmp_path, CHAIN, POP, args=args)
    _no_traceback(result)
    assert result.exit_code == 2, result.output


def test_cli_unreadable_files_exit_2(tmp_path: Path) -> None:
    result = run_cli(tmp_path, CHAIN, POP)
    assert result.exit_code == 0
    (tmp_path / "pop").unlink()
    result = CliRunner().invoke(
        app,
        [
            "check",
            "--receiver",
            str(tmp_path / "receiver.toml"),
            "--chain",
            str(tmp_path / "chain"),
            "--pop",
            str(tmp_path / "pop"),
            "--tool",
            TOOL,
            "--args",
            json.dumps(ARGS),
            "--now",
            str(NOW),
            "--json",
        ],
    )
    _no_traceback(result)
    assert result.exit_code == 2
    (tmp_path / "receiver.toml").write_text("audience = [unclosed\n")
    result = run_cli_with_receiver(tmp_path)
    _no_traceback(result)
    assert result.exit_code == 2


def run_cli_with_receiver(folder: Path) -> Any:
    (folder / "pop").write_text(POP + "\n")
    return CliRunner().invoke(
        app,
        [
            "check",
            "--receiver",
            str(folder / "receiver.toml"),
            "--chain",
            str(folder / "chain"),
            "--pop",
            str(folder / "pop"),
            "--tool",
            TOOL,
            "--args",
            json.dumps(ARGS),
            "--now",
            str(NOW),
            "--json",
        ],
    )


@pytest.mark.parametrize("which", ["receiver.toml", "chain", "pop", "args.json"])
def test_cli_input_files_that_are_not_utf8_exit_2(tmp_path: Path, which: str) -> None:
    assert run_cli(tmp_path, CHAIN, POP).exit_code == 0
    (tmp_path / "args.json").write_text(json.dumps(ARGS))
    (tmp_path / which).write_bytes(b"\xff\xfe not utf-8\n")
    result = CliRunner().invoke(
        app,
        [
            "check",
            "--receiver",
            str(tmp_path / "receiver.toml"),
            "--chain",
            str(tmp_path / "chain"),
            "--pop",
            str(tmp_path / "pop"),
            "--tool",
            TOOL,
            "--args",
            str(tmp_path / "args.json"),
            "--now",
            str(NOW),
            "--json",
        ],
    )
    _no_traceback(result)
    assert result.exit_code == 2
