"""Property tests for constraints: subsumption is sound, the wire form round-trips, nothing raises.

Soundness (draft §3.5.1, property 2): whenever ``subsumes(parent, child)`` and
``child.check(v)``, then ``parent.check(v)``. It is exercised three ways: random
pairs over shared pools (core, extension and nested all/any), children derived
from their parent by plausible narrowing, and per-type generators that explore
each extension's own normaliser with random text.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import itertools
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writ._constraint_ext import Cidr, Glob, Host, Regex, Subpath, Url
from writ._constraints import (
    All,
    Constraint,
    ConstraintError,
    Contains,
    Exact,
    NotOneOf,
    OneOf,
    Range,
    Subset,
    UnknownConstraint,
    Wildcard,
    parse_constraint,
    subsumes,
)
from writ._constraints import Any as AnyOf

HAVE_RE2 = importlib.util.find_spec("re2") is not None
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- shared pools --------------------------------------------------------------

NUMBERS: list[object] = [-1, 0, 0.5, 1, 1.0, 2, 5, 10, 10.5, 99.5, 100, 101, 2**53 - 1]
VALUES: list[object] = [
    *NUMBERS,
    2**53,
    -(2**53 + 1),
    True,
    False,
    None,
    "pdf",
    "csv",
    "a",
    "b",
    "5",
    "10.0.0.1",
    "10.0.1.1",
    "::ffff:10.0.0.1",
    "2001:db8::1",
    "192.168.1.1",
    "127.0.0.1",
    "010.0.0.1",
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "API.example.com.",
    "evil-example.com",
    "example.org",
    "exаmple.com",
    "https://api.example.com/v1/orders/1",
    "https://api.example.com/v1",
    "https://api.example.com/v2/x",
    "http://api.example.com/v1/x",
    "https://api.example.com:8443/v1/x",
    "https://api.example.com/v1/../v2/x",
    "https://api.example.com/v1/%2e%2e/v2",
    "http://127.0.0.1/v1/x",
    "/data/reports/2024/q3.pdf",
    "/data/reports",
    "/data/reports-old/x",
    "/data/x",
    "/etc/passwd",
    "/data/reports/../x",
    "/data/reports/%2e%2e/x",
    "/",
    "reports/q3.pdf",
    "reports/a.pdf",
    "reports/a.txt",
    "reports/sub/a.pdf",
    "x/a.pdf",
    "reports",
    "ab",
    "aab",
    "bxa",
    "reports/..",
    [],
    ["a"],
    ["a", "b"],
    [1],
    [True],
    ["pdf", "csv"],
    {"a": 1},
]
NETWORKS = ["10.0.0.0/8", "10.0.0.0/24", "10.0.0.0/31", "10.0.1.0/24", "0.0.0.0/0", "::/0"]
NETWORKS += ["2001:db8::/32", "2001:db8::/64", "127.0.0.0/8", "192.168.0.0/16"]
SUFFIXES = ["com", "example.com", "a.example.com", "b.a.example.com", "example.org"]
SUFFIXES += ["evil-example.com"]
PREFIXES = ["/", "/v1", "/v1/orders", "/v2", "/v10"]
ROOTS = ["/", "/data", "/data/reports", "/data/reports/2024", "/data/reports-old", "/etc"]
GLOBS = ["*", "*/*", "reports/*", "reports/*.pdf", "reports/q*.pdf", "*/*.pdf", "reports/q3.pdf"]
GLOBS += ["*.pdf", "a*b", "*a*", "*b*a*", "a*", "*/a.*"]
REGEXES = ["[a-z]+", "[a-z]+-[0-9]+", ".*", "a.*", "/data/.*"]

values = st.sampled_from(VALUES)


def _leaf_pool() -> list[Constraint]:
    """A fixed pool of leaves: every pair of it is checked exhaustively below."""
    pool: list[Constraint] = [Wildcard(), UnknownConstraint(raw={"constraint_type": "future"})]
    pool += [Exact(value=v) for v in VALUES]
    bounds = itertools.product([None, 0, 1, 10], [None, 10, 100], [True, False])
    pool += [Range(min=lo, max=hi, min_inclusive=inc, max_inclusive=inc) for lo, hi, inc in bounds]
    lists: list[list[object]] = [[], ["a"], ["a", "b"], [1, "pdf"], [True], ["pdf", "csv", 5]]
    lists += [["10.0.0.1", "a.example.com", "/data/reports"], ["reports/a.pdf", "ab"]]
    pool += [kind(v) for v in lists for kind in (_one_of, _not_one_of, _contains, _subset)]
    pool += [Cidr(networks=[n]) for n in NETWORKS]
    pool += [Cidr(networks=NETWORKS[1:3]), Cidr(networks=["10.0.0.0/24", "2001:db8::/64"])]
    pool += [Host(suffixes=[s]) for s in SUFFIXES] + [Host(suffixes=SUFFIXES[1:3])]
    for host, prefix in itertools.product(["api.example.com", "127.0.0.1"], PREFIXES):
        pool += [Url(scheme="https", host=host, path_prefix=prefix)]
    pool += [Url(scheme="http", host="api.example.com", path_prefix="/v1")]
    pool += [Url(scheme="https", host="api.example.com", port=8443, path_prefix="/v1")]
    pool += [Subpath(root=r) for r in ROOTS] + [Glob(pattern=p) for p in GLOBS]
    if HAVE_RE2:
        pool += [Regex(pattern=p) for p in REGEXES]
    return pool


def _one_of(v: list[object]) -> Constraint:
    return OneOf(values=v)


def _not_one_of(v: list[object]) -> Constraint:
    return NotOneOf(excluded=v)


def _contains(v: list[object]) -> Constraint:
    return Contains(required=v)


def _subset(v: list[object]) -> Constraint:
    return Subset(allowed=v)


LEAF_POOL = _leaf_pool()
# Leaf-level narrowings, taken from subsumes itself: their soundness is what
# test_soundness_exhaustive_over_leaf_pool checks, pair by pair.
NARROWER = {p: [c for c in LEAF_POOL if subsumes(p, c)] for p in LEAF_POOL}
leaves = st.sampled_from(LEAF_POOL)


def _composite(inner: st.SearchStrategy[Constraint]) -> st.SearchStrategy[Constraint]:
    clauses = st.lists(inner, min_size=1, max_size=3)
    return clauses.map(lambda cs: All(constraints=cs)) | clauses.map(
        lambda cs: AnyOf(constraints=cs)
    )


constraints = st.recursive(leaves, _composite, max_leaves=8)


def _narrow(parent: Constraint) -> st.SearchStrategy[Constraint]:
    """Children that the -02 rules say are narrower: each leaf from NARROWER, composites by shape."""
    if isinstance(parent, All):
        # Narrow every parent clause (possibly two into one value set), and maybe add clauses.
        narrowed = st.tuples(*(_narrow(c) for c in parent.constraints)).map(list)
        extra = st.lists(constraints, max_size=2)
        both = st.tuples(narrowed, extra).map(lambda t: t[0] + t[1])
        return both.map(lambda cs: All(constraints=cs))
    if isinstance(parent, AnyOf):
        clause = st.sampled_from(parent.constraints).flatmap(_narrow)
        return st.lists(clause, min_size=1, max_size=3).map(lambda cs: AnyOf(constraints=cs))
    if isinstance(parent, Wildcard):
        return constraints
    return st.sampled_from(NARROWER[parent]) if NARROWER.get(parent) else st.just(parent)


def _near(parent: Constraint) -> st.SearchStrategy[Constraint]:
    """Narrowed children, exact/one_of children of accepted values, and unrelated ones."""
    accepted = [v for v in VALUES if parent.check(v)]
    options = [_narrow(parent), _narrow(parent), constraints]
    if accepted:
        options.append(st.sampled_from(accepted).map(lambda v: Exact(value=v)))
        options.append(st.lists(st.sampled_from(accepted), max_size=3).map(_one_of))
    return st.one_of(options)


def has_unknown(c: Constraint) -> bool:
    """True if an unrecognised type occurs anywhere in the tree."""
    if isinstance(c, (All, AnyOf)):
        return any(has_unknown(x) for x in c.constraints)
    return isinstance(c, UnknownConstraint)


def assert_sound(parent: Constraint, child: Constraint, sample: list[object]) -> bool:
    """Check soundness on the sample; returns whether the pair was subsumed."""
    if not subsumes(parent, child):
        return False
    for v in sample:
        if child.check(v):
            assert parent.check(v), (parent, child, v)
    return True


# --- (1) soundness -------------------------------------------------------------


@SETTINGS
@given(constraints, constraints)
def test_soundness_random_pairs(parent: Constraint, child: Constraint) -> None:
    assert_sound(parent, child, VALUES)


@SETTINGS
@given(st.data())
def test_soundness_near_pairs(data: st.DataObject) -> None:
    parent = data.draw(constraints)
    child = data.draw(_near(parent))
    assert_sound(parent, child, VALUES)


@SETTINGS
@given(st.data())
def test_narrowed_children_are_accepted_and_sound(data: st.DataObject) -> None:
    parent = data.draw(constraints)
    child = data.draw(_narrow(parent))
    if has_unknown(parent) or has_unknown(child):
        assert not subsumes(parent, child)
    else:
        assert assert_sound(parent, child, VALUES), (parent, child)


def test_soundness_exhaustive_over_leaf_pool() -> None:
    """Every pair from the fixed pool, so no declared pair depends on a random draw."""
    pool = LEAF_POOL + [All(constraints=[c]) for c in LEAF_POOL[:12]]
    pool += [AnyOf(constraints=LEAF_POOL[2:5]), All(constraints=LEAF_POOL[-6:])]
    hits = sum(assert_sound(p, c, VALUES) for p in pool for c in pool)
    assert hits > 3 * len(pool)  # far more than the reflexive pairs: the check has teeth


def _maybe(factory: Callable[[], Constraint]) -> Constraint | None:
    try:
        return factory()
    except ConstraintError:
        return None


glob_patterns = st.text("ab/*.", min_size=1, max_size=8)
glob_values = st.text("ab/.", max_size=10)


@SETTINGS
@given(glob_patterns, glob_patterns, st.lists(glob_values, max_size=20))
def test_glob_subsumption_sound(p: str, c: str, sample: list[str]) -> None:
    parent, child = _maybe(lambda: Glob(pattern=p)), _maybe(lambda: Glob(pattern=c))
    if parent is not None and child is not None:
        # Also try values made by filling the child's stars, so matches are common.
        fills = [c.replace("*", f) for f in ("", "a", "ab", ".", "..", "b.a")]
        assert_sound(parent, child, [*sample, *fills])


ipv4 = st.integers(0, 255).map(lambda x: f"10.0.{x >> 4}.{x}")


@SETTINGS
@given(
    st.lists(st.tuples(ipv4, st.integers(20, 32)), min_size=1, max_size=3),
    st.lists(st.tuples(ipv4, st.integers(20, 32)), min_size=1, max_size=3),
    st.lists(ipv4, max_size=20),
)
def test_cidr_subsumption_sound(
    p: list[tuple[str, int]], c: list[tuple[str, int]], sample: list[str]
) -> None:
    def nets(pairs: list[tuple[str, int]]) -> list[str]:
        return [str(ipaddress.ip_network(f"{a}/{n}", strict=False)) for a, n in pairs]

    parent, child = Cidr(networks=nets(p)), Cidr(networks=nets(c))
    mapped = [f"::ffff:{a}" for a in sample]
    assert_sound(parent, child, [*sample, *mapped])


labels = st.lists(st.sampled_from(["a", "b", "xn--c"]), min_size=1, max_size=3).map(".".join)


@SETTINGS
@given(labels, labels, st.lists(labels, max_size=10), st.sampled_from(["", ".", "-x", "x-"]))
def test_host_subsumption_sound(p: str, c: str, sample: list[str], noise: str) -> None:
    parent, child = Host(suffixes=[p]), Host(suffixes=[c])
    variants = [s.upper() + "." for s in sample] + [noise + s for s in sample]
    assert_sound(parent, child, [*sample, *variants])


segments = st.lists(
    st.sampled_from(["a", "b", ".", "..", "", "%2e", "%2e%2e", "a%2fb"]), max_size=5
)


@SETTINGS
@given(segments, segments, st.lists(segments, max_size=10))
def test_path_types_subsumption_sound(p: list[str], c: list[str], sample: list[list[str]]) -> None:
    paths = ["/" + "/".join(s) for s in sample]
    pr, cr = "/" + "/".join(p), "/" + "/".join(c)
    sub = (_maybe(lambda: Subpath(root=pr)), _maybe(lambda: Subpath(root=cr)))
    if sub[0] is not None and sub[1] is not None:
        assert_sound(sub[0], sub[1], paths)
    url = (
        _maybe(lambda: Url(scheme="https", host="h.test", path_prefix=pr)),
        _maybe(lambda: Url(scheme="https", host="h.test", path_prefix=cr)),
    )
    if url[0] is not None and url[1] is not None:
        assert_sound(url[0], url[1], ["https://h.test" + x for x in paths])


def _range(lo: object, hi: object, lo_inc: bool, hi_inc: bool) -> Constraint | None:
    return _maybe(lambda: Range(min=lo, max=hi, min_inclusive=lo_inc, max_inclusive=hi_inc))  # type: ignore[arg-type]


@SETTINGS
@given(st.data())
def test_range_subsumption_sound(data: st.DataObject) -> None:
    bound = st.none() | st.integers(-3, 3) | st.sampled_from([-0.5, 0.5, 2.5])
    draw = lambda: data.draw(st.builds(_range, bound, bound, st.booleans(), st.booleans()))
    parent, child = draw(), draw()
    if parent is not None and child is not None:
        sample = [x / 4 for x in range(-16, 17)] + list(range(-4, 5))
        assert_sound(parent, child, sample)


# --- (2) the wire form round-trips --------------------------------------------


@SETTINGS
@given(constraints)
def test_round_trip(c: Constraint) -> None:
    wire = c.to_json()
    again = parse_constraint(wire)
    assert again == c and hash(again) == hash(c)
    assert again.to_json() == wire
    assert [again.check(v) for v in VALUES] == [c.check(v) for v in VALUES]


# --- (3) nothing but ConstraintError, on any JSON ------------------------------

text = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=12)
TOKENS = ["/", "//", ".", "..", "%", "%41", "%2e", "%2F", "%25", "%C3", "%00", "\\", "\x00", ";"]
TOKENS += ["\ud800", "é", "а", "K", "\u212a", ":", "@", "[", "]", "?", "#", "*", " ", "\n"]
TOKENS += ["https://", "api.example.com", "example.com", "10.0.0.1", "::ffff:", "443", "data"]
TOKENS += ["reports", "v1", "a", "-", "0x7f", "010", "xn--"]
# Token soup: strings that reach deep into the url/host/path/ip normalisers.
odd_text = st.lists(st.sampled_from(TOKENS), max_size=10).map("".join)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats()
    | text
    | odd_text
    | st.sampled_from(VALUES)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text | odd_text, inner, max_size=4),
    max_leaves=12,
)
TYPE_NAMES = ["exact", "range", "one_of", "not_one_of", "contains", "subset", "wildcard"]
TYPE_NAMES += ["all", "any", "cidr", "host", "url", "subpath", "glob", "regex", "future"]
MEMBER_NAMES = ["value", "min", "max", "min_inclusive", "max_inclusive", "values", "excluded"]
MEMBER_NAMES += ["required", "allowed", "constraints", "networks", "suffixes", "scheme", "host"]
MEMBER_NAMES += ["port", "path_prefix", "root", "pattern", "constraint_type"]


def _constraint_like(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    members = st.dictionaries(st.sampled_from(MEMBER_NAMES), json_values | inner, max_size=4)
    return st.builds(
        lambda t, m: {**m, "constraint_type": t}, st.sampled_from(TYPE_NAMES), members
    ) | st.lists(inner, max_size=3).map(lambda cs: {"constraint_type": "all", "constraints": cs})


constraint_like = st.recursive(json_values, _constraint_like, max_leaves=10)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(constraint_like, st.lists(json_values, max_size=5), constraints)
def test_parse_and_check_raise_only_constraint_error(
    obj: object, sample: list[object], other: Constraint
) -> None:
    try:
        c = parse_constraint(obj)
    except ConstraintError:
        return
    for v in [*sample, obj]:
        assert c.check(v) in (True, False)
        assert other.check(v) in (True, False)
    assert parse_constraint(c.to_json()) == c
    assert subsumes(c, other) in (True, False) and subsumes(other, c) in (True, False)


@SETTINGS
@given(constraints, st.lists(json_values | odd_text, max_size=10))
def test_checks_return_bools_on_arbitrary_json(c: Constraint, sample: list[object]) -> None:
    for v in sample:
        assert c.check(v) in (True, False)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(["", "/", "/data/", "https://api.example.com/", "reports/"]), odd_text)
def test_normalisers_never_raise_on_token_soup(prefix: str, soup: str) -> None:
    for c in LEAF_POOL:
        assert c.check(prefix + soup) in (True, False)
