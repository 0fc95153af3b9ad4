"""Capability monotonicity (AAT invariant I4, draft §4.5) over tool maps.

One function serves minting, chain verification and trust-anchor ceilings, so
the three can never disagree about what "narrower" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from writ._constraints import Constraint, parse_constraint_map, subsumes
from writ._errors import MalformedError

__all__ = ["ToolMap", "capability_violation", "parse_tools", "tools_to_json"]

ToolMap = Mapping[str, Mapping[str, Constraint]]
_MAX_TOOLS = 1024


def parse_tools(tools: object) -> ToolMap:
    """Parse an AAT ``tools`` member: tool name → argument name → constraint."""
    if not isinstance(tools, Mapping):
        raise MalformedError("tools is a JSON object")
    if len(tools) > _MAX_TOOLS:
        raise MalformedError("too many tools")
    parsed: dict[str, Mapping[str, Constraint]] = {}
    for name, constraints in tools.items():
        if not isinstance(name, str) or not name:
            raise MalformedError("a tool name is a non-empty string")
        parsed[name] = MappingProxyType(parse_constraint_map(constraints))
    return MappingProxyType(parsed)


def tools_to_json(tools: ToolMap) -> dict[str, dict[str, object]]:
    """The wire form of a tool map."""
    return {t: {a: c.to_json() for a, c in m.items()} for t, m in tools.items()}


def capability_violation(parent: ToolMap, child: ToolMap) -> tuple[str, str] | None:
    """(step, reason) for the first way ``child`` is wider than ``parent``, else None."""
    for tool, child_map in child.items():
        if tool not in parent:
            return "4p1", f"tool {tool!r} is not granted by the parent"
        parent_map = parent[tool]
        if not parent_map:
            continue  # step 4p3: an open-world parent map admits any child keys
        if set(child_map) != set(parent_map):
            return "4p2", f"tool {tool!r} must keep exactly the parent's argument names"
        for arg, parent_constraint in parent_map.items():
            if not subsumes(parent_constraint, child_map[arg]):
                return "4p4", f"{tool}.{arg}: the constraint is wider than the parent's"
    return None
