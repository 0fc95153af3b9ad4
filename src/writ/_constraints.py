"""AAT argument constraints: parse, ``check`` and ``subsumes`` (draft §3.4, §3.5, §4.5).

Core types live here; Writ's extension types (cidr, host, url, subpath, glob,
regex) live in ``_constraint_ext``. ``subsumes(parent, child)`` is sound: when
it returns True, every value the child accepts is accepted by the parent.
Any (parent, child) pair not declared below is False (§4.5, last paragraph).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar

from writ._errors import MalformedError
from writ._json import json_equal  # re-exported: one JSON equality for the project

__all__ = [
    "MAX_CONSTRAINT_DEPTH",
    "All",
    "Any",
    "Constraint",
    "ConstraintError",
    "Contains",
    "Exact",
    "NotOneOf",
    "OneOf",
    "Range",
    "Subset",
    "UnknownConstraint",
    "Wildcard",
    "json_equal",
    "parse_constraint",
    "parse_constraint_map",
    "subsumes",
]

MAX_CONSTRAINT_DEPTH = 32
"""Deepest constraint tree accepted; a leaf at the top is depth 1 (draft §3.4, RECOMMENDED 32)."""

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer a range bound or ranged argument may hold (I-JSON, RFC 7493 §2.2)."""


class ConstraintError(MalformedError):
    """A constraint object is malformed (bad members, empty all/any, too deep)."""


# --- JSON-typed values -------------------------------------------------------


class _NotJSON(Exception):
    """A value is not a finite strict-JSON value."""


def json_key(value: object) -> object:
    """A hashable key that is equal for JSON-equal values; raises _NotJSON otherwise."""
    # bool is a subclass of int in Python but a distinct JSON type: tag it first.
    if value is True or value is False:
        return ("b", value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON
        return value  # int/float compare exactly in Python, so 1 == 1.0 and 2**53+1 != 2.0**53
    if value is None:
        return ("n",)
    if isinstance(value, list):
        return ("l", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _NotJSON
        return ("d", frozenset((k, json_key(v)) for k, v in value.items()))
    raise _NotJSON


def key_or_none(value: object) -> object:
    """``json_key`` for the hot path: None when the value is not finite JSON (callers deny)."""
    try:
        return json_key(value)
    except (_NotJSON, RecursionError):
        return None


def copy_json(value: object) -> object:
    """A private deep copy of a JSON value; ConstraintError if it is not finite JSON."""
    try:
        json_key(value)
        return _copy(value)
    except (_NotJSON, RecursionError):
        raise ConstraintError("constraint member is not a finite JSON value") from None


def _copy(value: object) -> object:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def expect_members(
    obj: Mapping[str, object], *required: str, optional: tuple[str, ...] = ()
) -> None:
    """Refuse unknown or missing members: an ignored member could have narrowed (fail-closed)."""
    ctype = obj.get("constraint_type")
    extra = set(obj) - {"constraint_type", *required, *optional}
    if extra:
        raise ConstraintError(f"{ctype}: unknown member(s) {sorted(extra)}")
    missing = [m for m in required if m not in obj]
    if missing:
        raise ConstraintError(f"{ctype}: missing member(s) {missing}")


def json_array(obj: Mapping[str, object], member: str) -> tuple[object, ...]:
    """The JSON array ``obj[member]`` as a tuple; ConstraintError if it is not an array."""
    items = obj[member]
    if not isinstance(items, list):
        raise ConstraintError(f"{obj.get('constraint_type')}: {member} must be an array")
    return tuple(items)


# --- the base class ----------------------------------------------------------


class Constraint(ABC):
    """One argument constraint: a ``check`` predicate and a place in the subsumption order."""

    constraint_type: ClassVar[str]
    required_members: ClassVar[tuple[str, ...]] = ()
    optional_members: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Constraint:
        """Build from the wire form; the constructor validates every member."""
        expect_members(obj, *cls.required_members, optional=cls.optional_members)
        return cls(**{k: v for k, v in obj.items() if k != "constraint_type"})

    @abstractmethod
    def check(self, value: object) -> bool:
        """True iff the argument value satisfies this constraint; never raises."""

    @abstractmethod
    def to_json(self) -> dict[str, object]:
        """The wire form; ``parse_constraint(c.to_json()) == c``."""

    def _admits(self, child: Constraint) -> bool:
        """Declared subsumption of ``child`` by self; False unless a rule in §4.5 says so."""
        return False

    def _fails_closed(self) -> bool:
        """True if this tree holds an unrecognised type (draft §3.4: deny)."""
        return False


def subsumes(parent: Constraint, child: Constraint) -> bool:
    """True iff ``child`` is declared at least as narrow as ``parent`` (sound, §4.5)."""
    if parent._fails_closed() or child._fails_closed():
        return False
    return parent._admits(child)


# --- core leaf types (draft §3.4) ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Exact(Constraint):
    """The argument equals ``value`` (JSON-typed equality)."""

    constraint_type: ClassVar[str] = "exact"
    required_members: ClassVar[tuple[str, ...]] = ("value",)
    value: object = field(compare=False)
    _key: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", copy_json(self.value))
        object.__setattr__(self, "_key", json_key(self.value))

    def check(self, value: object) -> bool:
        """True iff the argument is JSON-equal to ``value``."""
        return key_or_none(value) == self._key

    def to_json(self) -> dict[str, object]:
        return {"constraint_type": "exact", "value": _copy(self.value)}

    def _admits(self, child: Constraint) -> bool:
        return isinstance(child, Exact) and child._key == self._key


def _number(value: object, what: str) -> int | float | None:
    """A range bound: None, a finite float, or an int within ±(2**53 - 1); never a bool."""
    if value is None:
        return None
    if type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    if type(value) is float and math.isfinite(value):
        return value
    raise ConstraintError(f"range: {what} must be a finite number within ±(2**53-1)")


def _bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        raise ConstraintError(f"range: {what} must be a boolean")
    return value


def _bound_ok(
    parent: float | None, p_inc: bool, child: float | None, c_inc: bool, sign: int
) -> bool:
    """One side of the §4.5 range rule; sign is +1 for min, -1 for max."""
    if parent is None:
        return True
    if child is None:
        return False
    if (child - parent) * sign > 0:
        return True
    # Equal bounds: the child may only keep or drop inclusivity (exclusive is tighter).
    return child == parent and (p_inc or not c_inc)


@dataclass(frozen=True, kw_only=True)
class Range(Constraint):
    """The argument is a number within the bounds; no bools, no numeric strings."""

    constraint_type: ClassVar[str] = "range"
    optional_members: ClassVar[tuple[str, ...]] = ("min", "max", "min_inclusive", "max_inclusive")
    min: int | float | None = None
    max: int | float | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    def __post_init__(self) -> None:
        _number(self.min, "min")
        _number(self.max, "max")
        _bool(self.min_inclusive, "min_inclusive")
        _bool(self.max_inclusive, "max_inclusive")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ConstraintError("range: min is greater than max")

    def check(self, value: object) -> bool:
        """True iff the value is a JSON number inside the bounds (exact comparison)."""
        v: float
        if type(value) is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return False
            v = value
        elif type(value) is float and math.isfinite(value):
            v = value
        else:
            return False
        lo, hi = self.min, self.max
        if lo is not None and (v < lo or (v == lo and not self.min_inclusive)):
            return False
        return hi is None or not (v > hi or (v == hi and not self.max_inclusive))

    def to_json(self) -> dict[str, object]:
        """The wire form; inclusivity flags only when false (true is the default)."""
        out: dict[str, object] = {"constraint_type": "range"}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if not self.min_inclusive:
            out["min_inclusive"] = False
        if not self.max_inclusive:
            out["max_inclusive"] = False
        return out

    def _admits(self, child: Constraint) -> bool:
        if isinstance(child, Exact):
            return self.check(child.value)
        return (
            isinstance(child, Range)
            and _bound_ok(self.min, self.min_inclusive, child.min, child.min_inclusive, 1)
            and _bound_ok(self.max, self.max_inclusive, child.max, child.max_inclusive, -1)
        )


@dataclass(frozen=True, kw_only=True)
class _ValueSet(Constraint):
    """Shared shape of one_of, not_one_of, contains and subset: one array of JSON values."""

    _keys: tuple[object, ...] = field(init=False, repr=False)
    _set: frozenset[object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        member = self.required_members[0]
        items = getattr(self, member)
        if not isinstance(items, (tuple, list)):
            raise ConstraintError(f"{self.constraint_type}: {member} must be an array")
        items = tuple(copy_json(v) for v in items)
        object.__setattr__(self, member, items)
        object.__setattr__(self, "_keys", tuple(json_key(v) for v in items))
        object.__setattr__(self, "_set", frozenset(self._keys))

    def to_json(self) -> dict[str, object]:
        member = self.required_members[0]
        return {"constraint_type": self.constraint_type, member: _copy(list(getattr(self, member)))}

    def _element_keys(self, value: object) -> frozenset[object] | None:
        """The keys of an array argument's elements; None if it is not a JSON array."""
        if not isinstance(value, list):
            return None
        keys = key_or_none(value)
        return None if keys is None else frozenset(keys[1])  # type: ignore[index]


@dataclass(frozen=True, kw_only=True)
class OneOf(_ValueSet):
    """The argument is a member of ``values``."""

    constraint_type: ClassVar[str] = "one_of"
    required_members: ClassVar[tuple[str, ...]] = ("values",)
    values: tuple[object, ...] = field(compare=False)

    def check(self, value: object) -> bool:
        """True iff the value is JSON-equal to one of ``values``."""
        key = key_or_none(value)
        return key is not None and key in self._set

    def _admits(self, child: Constraint) -> bool:
        if isinstance(child, Exact):
            return child._key in self._set
        return isinstance(child, OneOf) and child._set <= self._set


@dataclass(frozen=True, kw_only=True)
class NotOneOf(_ValueSet):
    """The argument is not a member of ``excluded``."""

    constraint_type: ClassVar[str] = "not_one_of"
    required_members: ClassVar[tuple[str, ...]] = ("excluded",)
    excluded: tuple[object, ...] = field(compare=False)

    def check(self, value: object) -> bool:
        """True iff the value is finite JSON and equal to none of ``excluded``."""
        key = key_or_none(value)
        return key is not None and key not in self._set

    def _admits(self, child: Constraint) -> bool:
        # §4.5: exclusions may only be added. (not_one_of under one_of is refused by one_of.)
        return isinstance(child, NotOneOf) and child._set >= self._set


@dataclass(frozen=True, kw_only=True)
class Contains(_ValueSet):
    """The argument is an array holding every element of ``required``."""

    constraint_type: ClassVar[str] = "contains"
    required_members: ClassVar[tuple[str, ...]] = ("required",)
    required: tuple[object, ...] = field(compare=False)

    def check(self, value: object) -> bool:
        """True iff the value is an array containing each required element."""
        keys = self._element_keys(value)
        return keys is not None and self._set <= keys

    def _admits(self, child: Constraint) -> bool:
        return isinstance(child, Contains) and child._set >= self._set


@dataclass(frozen=True, kw_only=True)
class Subset(_ValueSet):
    """The argument is an array whose every element is in ``allowed``."""

    constraint_type: ClassVar[str] = "subset"
    required_members: ClassVar[tuple[str, ...]] = ("allowed",)
    allowed: tuple[object, ...] = field(compare=False)

    def check(self, value: object) -> bool:
        """True iff the value is an array whose elements all appear in ``allowed``."""
        keys = self._element_keys(value)
        return keys is not None and keys <= self._set

    def _admits(self, child: Constraint) -> bool:
        return isinstance(child, Subset) and child._set <= self._set


@dataclass(frozen=True, kw_only=True)
class Wildcard(Constraint):
    """Any value is accepted; subsumes every recognised constraint (§4.5)."""

    constraint_type: ClassVar[str] = "wildcard"

    def check(self, value: object) -> bool:
        """Always True."""
        return True

    def to_json(self) -> dict[str, object]:
        return {"constraint_type": "wildcard"}

    def _admits(self, child: Constraint) -> bool:
        return True


@dataclass(frozen=True, kw_only=True)
class UnknownConstraint(Constraint):
    """A type this verifier does not implement: accepts nothing, subsumes and is subsumed by nothing."""

    constraint_type: ClassVar[str] = "unknown"
    raw: dict[str, object] = field(compare=False)
    _key: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        raw = copy_json(self.raw)
        if not isinstance(raw, dict) or not isinstance(raw.get("constraint_type"), str):
            raise ConstraintError("constraint object needs a string constraint_type")
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "_key", json_key(raw))

    @property
    def declared_type(self) -> str:
        """The unrecognised ``constraint_type`` as written."""
        return str(self.raw["constraint_type"])

    def check(self, value: object) -> bool:
        """Always False (draft §3.4: fail closed)."""
        return False

    def to_json(self) -> dict[str, object]:
        """The object exactly as received."""
        out = _copy(self.raw)
        assert isinstance(out, dict)
        return out

    def _fails_closed(self) -> bool:
        return True


# --- composites (§4.5 as amended by -02) -------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Composite(Constraint):
    constraints: tuple[Constraint, ...]
    _unknown: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        clauses = tuple(self.constraints) if isinstance(self.constraints, (list, tuple)) else ()
        if not clauses:
            # An empty all would accept everything and an empty any nothing: invalid anywhere.
            raise ConstraintError(f"{self.constraint_type}: constraints must be a non-empty array")
        if not all(isinstance(c, Constraint) for c in clauses):
            raise ConstraintError(f"{self.constraint_type}: clauses must be constraints")
        object.__setattr__(self, "constraints", clauses)
        object.__setattr__(self, "_unknown", any(c._fails_closed() for c in clauses))

    def to_json(self) -> dict[str, object]:
        return {
            "constraint_type": self.constraint_type,
            "constraints": [c.to_json() for c in self.constraints],
        }

    def _fails_closed(self) -> bool:
        return self._unknown


@dataclass(frozen=True, kw_only=True)
class All(_Composite):
    """Logical AND of the clauses."""

    constraint_type: ClassVar[str] = "all"

    def check(self, value: object) -> bool:
        """True iff every clause accepts the value."""
        for clause in self.constraints:
            if not clause.check(value):
                return False
        return True

    def _admits(self, child: Constraint) -> bool:
        # -02: every parent clause is subsumed by at least one derived clause; reuse is allowed
        # (C_d ⊑ C_p1 and C_d ⊑ C_p2 imply C_d ⊑ C_p1 ∧ C_p2). Extra derived clauses only narrow.
        if not isinstance(child, All):
            return False
        return all(any(subsumes(p, d) for d in child.constraints) for p in self.constraints)


@dataclass(frozen=True, kw_only=True)
class Any(_Composite):
    """Logical OR of the clauses."""

    constraint_type: ClassVar[str] = "any"

    def check(self, value: object) -> bool:
        """True iff some clause accepts the value; False if any clause is unrecognised."""
        if self._unknown:
            return False
        for clause in self.constraints:
            if clause.check(value):
                return True
        return False

    def _admits(self, child: Constraint) -> bool:
        # §4.5: every derived clause must be subsumed by some parent clause.
        if not isinstance(child, Any):
            return False
        return all(any(subsumes(p, d) for p in self.constraints) for d in child.constraints)


# --- parsing -----------------------------------------------------------------

_Parser = Callable[[dict[str, object]], Constraint]


@cache
def _parsers() -> Mapping[str, _Parser]:
    # Imported here because _constraint_ext builds on this module's base class.
    from writ._constraint_ext import EXTENSION_TYPES

    core: list[type[Constraint]] = [Exact, Range, OneOf, NotOneOf, Contains, Subset, Wildcard]
    return {t.constraint_type: t.from_json for t in [*core, *EXTENSION_TYPES]}


def parse_constraint(obj: object, *, max_depth: int = MAX_CONSTRAINT_DEPTH) -> Constraint:
    """Parse one constraint object; an unrecognised type becomes ``UnknownConstraint``."""
    return _parse(obj, 1, max_depth)


def _parse(obj: object, depth: int, max_depth: int) -> Constraint:
    if depth > max_depth:
        raise ConstraintError(f"constraint tree deeper than {max_depth}")
    if not isinstance(obj, dict):
        raise ConstraintError("a constraint must be a JSON object")
    ctype = obj.get("constraint_type")
    if not isinstance(ctype, str):
        raise ConstraintError("constraint object needs a string constraint_type")
    if ctype in ("all", "any"):
        expect_members(obj, "constraints")
        clauses = tuple(_parse(c, depth + 1, max_depth) for c in json_array(obj, "constraints"))
        return All(constraints=clauses) if ctype == "all" else Any(constraints=clauses)
    parser = _parsers().get(ctype)
    if parser is None:
        return UnknownConstraint(raw=obj)
    return parser(obj)


_PARSED: dict[object, Constraint] = {}
_MAX_PARSED = 4096


def _parse_remembered(obj: object) -> Constraint:
    """``parse_constraint``, remembering results by value: constraints are immutable, and the
    same few recur in every token of a chain and in every chain from one grant."""
    try:
        key = ("c", json_key(obj))
    except (_NotJSON, RecursionError):
        return parse_constraint(obj)  # raises the precise ConstraintError
    found = _PARSED.get(key)
    if found is None:
        found = parse_constraint(obj)
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()  # bounded; refilled by the next few tokens
        _PARSED[key] = found
    return found


def parse_constraint_map(obj: object) -> dict[str, Constraint]:
    """Parse a tool's ``{argument name: constraint}`` map."""
    if not isinstance(obj, dict) or not all(isinstance(name, str) for name in obj):
        raise ConstraintError("a constraint map must be a JSON object")
    return {name: _parse_remembered(c) for name, c in obj.items()}
