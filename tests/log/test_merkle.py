"""Merkle hashing and proofs: known answers, a naive RFC 9162 reference, and mutations."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache, lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writ.log._merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_root,
    root_from_inclusion,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# RFC 6962's reference leaves, as used by certificate-transparency and transparency-dev.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# --- a naive reference: RFC 9162 §2.1 written as literally as possible ------------------


def _split(n: int) -> int:
    """The largest power of two strictly below n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 by recursion over slices."""

    def __init__(self, hashes: Sequence[bytes]) -> None:
        self.hashes = list(hashes)
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, begin: int, end: int) -> bytes:
        n = end - begin
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return self.hashes[begin]
        k = _split(n)
        return node_hash(self.mth(begin, begin + k), self.mth(begin + k, end))

    def path(self, m: int, begin: int, end: int) -> list[bytes]:
        n = end - begin
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return self.path(m, begin, begin + k) + [self.mth(begin + k, end)]
        return self.path(m - k, begin + k, end) + [self.mth(begin, begin + k)]

    def subproof(self, m: int, begin: int, end: int, b: bool) -> list[bytes]:
        n = end - begin
        if m == n:
            return [] if b else [self.mth(begin, end)]
        k = _split(n)
        if m <= k:
            return self.subproof(m, begin, begin + k, b) + [self.mth(begin + k, end)]
        return self.subproof(m - k, begin + k, end, False) + [self.mth(begin, begin + k)]

    def node(self, level: int, index: int) -> bytes:
        """A strict node reader: it refuses anything but a complete subtree."""
        begin, end = index << level, (index + 1) << level
        assert end <= len(self.hashes), f"asked for incomplete subtree ({level}, {index})"
        return self.mth(begin, end)


def _inclusion_sides(m: int, n: int) -> list[str]:
    """Which side each audit-path element sits on; it fixes what a verifier computes."""
    if n == 1:
        return []
    k = _split(n)
    return _inclusion_sides(m, k) + ["R"] if m < k else _inclusion_sides(m - k, n - k) + ["L"]


def _consistency_sides(m: int, n: int, b: bool = True) -> list[str]:
    """The same for a consistency proof (S marks an explicit old-subtree seed)."""
    if m == n:
        return [] if b else ["S"]
    k = _split(n)
    if m <= k:
        return _consistency_sides(m, k, b) + ["R"]
    return _consistency_sides(m - k, n - k, False) + ["L"]


@cache
def _tree(size: int) -> Reference:
    return Reference([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])


# --- known answers --------------------------------------------------------------------


def test_hashing_known_answers() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == RFC6962_ROOTS[0]
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert root_from_leaf_hashes([]) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_roots(size: int) -> None:
    hashes = [leaf_hash(x) for x in RFC6962_LEAVES[:size]]
    assert root_from_leaf_hashes(hashes).hex() == RFC6962_ROOTS[size - 1]
    assert range_root(0, size, Reference(hashes).node).hex() == RFC6962_ROOTS[size - 1]


def test_inclusion_known_answer() -> None:
    # RFC 6962 tree of 8 leaves, leaf 0: the path is leaf 1, then hash(2,3), then hash(4..7).
    ref = Reference([leaf_hash(x) for x in RFC6962_LEAVES])
    proof = inclusion_proof(0, 8, ref.node)
    assert [p.hex()[:8] for p in proof] == ["96a296d2", "5f083f0a", "6b47aaf2"]


# --- cross-check against the reference, every size up to 64 -------------------------


@pytest.mark.parametrize("size", range(1, 65))
def test_inclusion_matches_reference(size: int) -> None:
    ref = _tree(size)
    root = ref.mth(0, size)
    assert root_from_leaf_hashes(ref.hashes) == root
    assert range_root(0, size, ref.node) == root
    for index in range(size):
        proof = inclusion_proof(index, size, ref.node)
        assert proof == ref.path(index, 0, size)
        assert verify_inclusion(ref.hashes[index], index, size, proof, root)
        assert root_from_inclusion(ref.hashes[index], index, size, proof) == root


@pytest.mark.parametrize("new", range(1, 65))
def test_consistency_matches_reference(new: int) -> None:
    ref = _tree(new)
    new_root = ref.mth(0, new)
    for old in range(1, new + 1):
        proof = consistency_proof(old, new, ref.node)
        assert proof == ref.subproof(old, 0, new, True)
        assert verify_consistency(old, new, proof, ref.mth(0, old), new_root)


def test_frontier_emits_every_complete_subtree_once() -> None:
    ref = _tree(64)
    frontier = Frontier()
    emitted: list[tuple[int, int, bytes]] = []
    for size in range(1, 65):
        emitted.extend(frontier.append(ref.hashes[size - 1]))
        assert frontier.size == size
        assert frontier.root() == ref.mth(0, size)
        assert Frontier.load(size, ref.node).root() == frontier.root()
    expected = [(lv, i) for lv in range(7) for i in range(64 >> lv)]
    assert sorted((lv, i) for lv, i, _ in emitted) == expected
    assert all(h == ref.node(lv, i) for lv, i, h in emitted)
    assert Frontier().root() == EMPTY_ROOT
    with pytest.raises(ValueError):
        Frontier(3, [b"x"])


def test_proof_arguments_out_of_range_are_refused() -> None:
    node = _tree(4).node
    for index, size in [(4, 4), (-1, 4), (0, 0)]:
        with pytest.raises(ValueError):
            inclusion_proof(index, size, node)
    for old, new in [(0, 4), (3, 2), (-1, 2)]:
        with pytest.raises(ValueError):
            consistency_proof(old, new, node)


# --- mutations: anything changed must fail --------------------------------------------

sizes = st.integers(min_value=1, max_value=300)


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    out = list(proof)
    element = bytearray(out[which])
    element[bit // 8] ^= 1 << (bit % 8)
    out[which] = bytes(element)
    return out


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[Reference, int, int, list[bytes], bytes]:
    size = draw(sizes)
    index = draw(st.integers(0, size - 1))
    ref = _tree(size)
    return ref, index, size, inclusion_proof(index, size, ref.node), ref.mth(0, size)


@given(inclusion_cases(), st.data())
@settings(max_examples=300, deadline=None)
def test_inclusion_mutations_fail(
    case: tuple[Reference, int, int, list[bytes], bytes], data: st.DataObject
) -> None:
    ref, index, size, proof, root = case
    leaf = ref.hashes[index]
    assert verify_inclusion(leaf, index, size, proof, root)
    other = data.draw(st.integers(0, 2 * size + 2).filter(lambda i: i != index))
    assert not verify_inclusion(leaf, other, size, proof, root)
    assert not verify_inclusion(leaf_hash(b"x"), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, hashlib.sha256(root).digest())
    assert not verify_inclusion(leaf, index, size, proof + [root], root)
    assert not verify_inclusion(leaf, index, size, [root] + proof, root)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        assert not verify_inclusion(leaf, index, size, _flip(proof, which, bit), root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
        assert not verify_inclusion(leaf, index, size, proof[1:], root)
        assert not verify_inclusion(leaf, index, size, proof[:which] + proof[which + 1 :], root)
    # Another size is accepted exactly when its audit path has the same shape, in
    # which case the verifier computes the same thing; the signed root binds the size.
    new_size = data.draw(st.integers(0, 2 * size + 2).filter(lambda s: s != size))
    same_shape = index < new_size and _inclusion_sides(index, new_size) == _inclusion_sides(
        index, size
    )
    assert verify_inclusion(leaf, index, new_size, proof, root) is same_shape


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[Reference, int, int, list[bytes]]:
    new = draw(st.integers(2, 300))
    old = draw(st.integers(1, new - 1))
    ref = _tree(new)
    return ref, old, new, consistency_proof(old, new, ref.node)


@given(consistency_cases(), st.data())
@settings(max_examples=300, deadline=None)
def test_consistency_mutations_fail(
    case: tuple[Reference, int, int, list[bytes]], data: st.DataObject
) -> None:
    ref, old, new, proof = case
    r1, r2 = ref.mth(0, old), ref.mth(0, new)
    assert verify_consistency(old, new, proof, r1, r2)
    assert not verify_consistency(old, new, proof, r2, r1)
    assert not verify_consistency(new, old, proof, r1, r2)
    assert not verify_consistency(old, new, proof, hashlib.sha256(r1).digest(), r2)
    assert not verify_consistency(old, new, proof, r1, hashlib.sha256(r2).digest())
    assert not verify_consistency(old, new, proof + [r1], r1, r2)
    assert not verify_consistency(old, new, [r1] + proof, r1, r2)
    assert not verify_consistency(old, new, proof[:-1], r1, r2)
    which = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    assert not verify_consistency(old, new, _flip(proof, which, bit), r1, r2)
    m2 = data.draw(st.integers(1, new + 3))
    n2 = data.draw(st.integers(m2, new + 3))
    if (m2, n2) != (old, new):
        same_shape = m2 < n2 and _consistency_sides(m2, n2) == _consistency_sides(old, new)
        assert verify_consistency(m2, n2, proof, r1, r2) is same_shape


@given(
    st.one_of(st.none(), st.integers(), st.binary(max_size=40), st.text(max_size=5)),
    st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3)),
    st.lists(st.one_of(st.none(), st.binary(max_size=40), st.integers()), max_size=4),
)
def test_verifiers_never_raise(leaf: object, number: object, proof: list[object]) -> None:
    assert verify_inclusion(leaf, number, 4, proof, b"r" * 32) is False  # type: ignore[arg-type]
    assert verify_inclusion(b"l" * 32, 0, number, proof, leaf) is False  # type: ignore[arg-type]
    assert verify_consistency(number, 4, proof, leaf, b"r" * 32) is False  # type: ignore[arg-type]
    assert verify_consistency(1, number, proof, b"r" * 32, leaf) is False  # type: ignore[arg-type]
    same = verify_consistency(1, 1, [], leaf, leaf)  # type: ignore[arg-type]
    assert same is isinstance(leaf, bytes)
