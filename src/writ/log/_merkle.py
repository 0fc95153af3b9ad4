"""Merkle tree hashing, proofs and their verification (RFC 9162 §2.1, RFC 6962 hashing).

Trees are addressed the way the log stores them: ``node(level, index)`` is the hash
of the complete subtree of ``2**level`` leaves that starts at leaf
``index * 2**level``. Level 0 holds the leaf hashes. A tree of any size is a run of
complete subtrees, largest first (the binary digits of its size), and every hash
on an incomplete right edge is folded from them; so the functions here need only
complete subtrees, which is what the storage keeps.

The verifiers never raise: anything malformed or inconsistent gives ``False``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "NodeReader",
    "complete_subtrees",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_root",
    "root_from_inclusion",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

NodeReader = Callable[[int, int], bytes]
"""``node(level, index)``: the hash of a complete subtree (see the module docstring)."""

HASH_SIZE = 32
"""Size of every hash in the tree (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree: SHA-256 of nothing (RFC 9162 §2.1.1)."""


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf: SHA-256(0x00 || data) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The Merkle Tree Hash of a list of leaf hashes, computed bottom-up."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        # Pairing left to right and promoting an odd last node gives the same
        # tree as RFC 9162's split at the largest power of two below n.
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def complete_subtrees(begin: int, end: int) -> Iterator[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` covering [begin, end), largest first."""
    # Valid when begin is aligned to the largest power of two <= end - begin, which
    # holds for every range a left-balanced tree (RFC 9162 §2.1.1) asks for.
    while begin < end:
        level = (end - begin).bit_length() - 1
        yield level, begin >> level
        begin += 1 << level


def range_root(begin: int, end: int, node: NodeReader) -> bytes:
    """The Merkle Tree Hash of leaves [begin, end), folded from complete subtrees."""
    if begin >= end:
        return EMPTY_ROOT
    parts = [node(level, index) for level, index in complete_subtrees(begin, end)]
    root = parts.pop()
    while parts:
        root = node_hash(parts.pop(), root)
    return root


def _sibling(level: int, index: int, size: int, node: NodeReader) -> bytes:
    """The hash of the sibling subtree at ``level`` of leaf ``index``; it may be ragged."""
    sibling = (index >> level) ^ 1
    begin = sibling << level
    return range_root(begin, min(begin + (1 << level), size), node)


def inclusion_proof(index: int, size: int, node: NodeReader) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    # Below `inner` the path and the right edge of the tree differ, so the sibling
    # exists at every level; above it a sibling exists only where it is on the left.
    inner = (index ^ (size - 1)).bit_length()
    proof = [_sibling(level, index, size, node) for level in range(inner)]
    for level in range(inner, size.bit_length()):
        if (index >> level) & 1:
            proof.append(node(level, (index >> level) ^ 1))
    return proof


def consistency_proof(old_size: int, new_size: int, node: NodeReader) -> list[bytes]:
    """The proof that the tree of ``old_size`` is a prefix of ``new_size`` (RFC 9162 §2.1.4.1)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    proof: list[bytes] = []
    _subproof(old_size, 0, new_size, True, node, proof)
    return proof


def _subproof(m: int, begin: int, n: int, whole: bool, node: NodeReader, out: list[bytes]) -> None:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[begin:begin+n], whole), appended to ``out``."""
    if m == n:
        if not whole:
            out.append(range_root(begin, begin + n, node))
        return
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n
    if m <= k:
        _subproof(m, begin, k, whole, node, out)
        out.append(range_root(begin + k, begin + n, node))
    else:
        _subproof(m - k, begin + k, n - k, False, node, out)
        out.append(range_root(begin, begin + k, node))


def _well_formed(*hashes: bytes) -> bool:
    """Whether every value is a hash-sized ``bytes`` object."""
    return all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)


def _shift_while_right_child(fn: int, sn: int) -> tuple[int, int]:
    """Drop levels where the node is a right child promoted on the edge (RFC 9162 §2.1.3.2 b.ii)."""
    while not fn & 1 and fn != 0:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root ``proof`` implies for the leaf, or None if it cannot be one (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size or not _well_formed(leaf_hash, *proof):
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                fn, sn = _shift_while_right_child(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf ``index`` of the tree ``(size, root)`` has ``leaf_hash``."""
    try:
        computed = root_from_inclusion(leaf_hash, index, size, proof)
    except (TypeError, ValueError):
        return False
    return computed is not None and computed == root


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """Whether ``proof`` shows the tree ``(old_size, old_root)`` is a prefix of the new one."""
    try:
        return _check_consistency(old_size, new_size, list(proof), old_root, new_root)
    except (TypeError, ValueError):
        return False


def _check_consistency(m: int, n: int, proof: list[bytes], old: bytes, new: bytes) -> bool:
    """RFC 9162 §2.1.4.2, with the trivial cases settled first."""
    if m == n:
        return not proof and isinstance(old, bytes) and old == new and m > 0
    # Nothing is proven about the empty tree (it is a prefix of every tree), so a
    # request for it is a caller's mistake, refused as in transparency-dev/merkle.
    if not 0 < m < n or not proof or not _well_formed(old, *proof):
        return False
    if m & (m - 1) == 0:
        proof = [old, *proof]  # step 2: old tree is a complete subtree, its root is implied
    fn, sn = m - 1, n - 1
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                fn, sn = _shift_while_right_child(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old and sr == new


class Frontier:
    """The right edge of a growing tree: the roots of its complete subtrees, largest first.

    Appending a leaf yields every complete subtree it finishes, so a log can store
    them as it goes; the root of the current tree is folded from the edge.
    """

    __slots__ = ("_edge", "size")

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if size < 0 or len(edge) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} edge subtrees")
        self.size = size
        self._edge = list(edge)

    @classmethod
    def load(cls, size: int, node: NodeReader) -> Frontier:
        """The edge of a stored tree, read as ``size.bit_count()`` complete subtrees."""
        return cls(size, [node(level, index) for level, index in complete_subtrees(0, size)])

    def copy(self) -> Frontier:
        """An independent copy, so a batch can be computed before it is committed."""
        return Frontier(self.size, self._edge)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the ``(level, index, hash)`` of every subtree it completes."""
        level, index, h = 0, self.size, leaf
        made = [(0, index, h)]
        while index & 1:  # a right child: merge with its left sibling on the edge
            h = node_hash(self._edge.pop(), h)
            level, index = level + 1, index >> 1
            made.append((level, index, h))
        self._edge.append(h)
        self.size += 1
        return made

    def root(self) -> bytes:
        """The Merkle Tree Hash of the tree so far."""
        if not self._edge:
            return EMPTY_ROOT
        root = self._edge[-1]
        for h in reversed(self._edge[:-1]):
            root = node_hash(h, root)
        return root
