"""The route table: ``"POST /v1/orders/{id}/refund" → "refund_order"``, and call arguments.

A request's arguments are its path parameters, its query and its JSON body, merged;
a name given twice (say in the path and the body) is refused rather than resolved,
so the verifier and the application can never see different values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from writ._errors import ConfigurationError, MalformedError
from writ._json import loads_strict

__all__ = ["Route", "RouteTable", "call_arguments"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the table."""

    method: str
    template: str
    tool: str
    pattern: re.Pattern[str]


class RouteTable:
    """Maps a request's method and path to a tool name and path parameters."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        self.routes = [self._compile(spec, tool) for spec, tool in routes.items()]

    @staticmethod
    def _compile(spec: str, tool: str) -> Route:
        method, _, template = spec.strip().partition(" ")
        if method.upper() not in _METHODS or not template.startswith("/") or not tool:
            raise ConfigurationError(f"a route is 'METHOD /path/{{param}}' → tool, got {spec!r}")
        regex, pos = "", 0
        for param in _PARAM.finditer(template):
            regex += re.escape(template[pos:param.start()]) + f"(?P<{param.group(1)}>[^/]+)"
            pos = param.end()
        regex += re.escape(template[pos:])
        return Route(method.upper(), template, tool, re.compile(regex))

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        """(tool, path parameters) for the first matching route, or None."""
        for route in self.routes:
            if route.method != method.upper():
                continue
            found = route.pattern.fullmatch(path)
            if found is not None:
                return route.tool, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


def call_arguments(path_params: Mapping[str, str], query: bytes, body: bytes,
                   content_type: str | None) -> dict[str, Any]:
    """Merge path parameters, query and JSON body; MalformedError on a clash or bad JSON."""
    args: dict[str, Any] = dict(path_params)
    query_args: dict[str, Any] = {}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        previous = query_args.get(name)
        query_args[name] = value if previous is None else (
            [*previous, value] if isinstance(previous, list) else [previous, value])
    _merge(args, query_args, "query")
    if body:
        media = (content_type or "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise MalformedError("a request body must be JSON to be checked against a writ")
        data = loads_strict(body)
        if not isinstance(data, dict):
            raise MalformedError("a JSON body must be an object to give named arguments")
        _merge(args, data, "body")
    return args


def _merge(into: dict[str, Any], more: Mapping[str, Any], where: str) -> None:
    for name, value in more.items():
        if name in into:
            raise MalformedError(f"argument {name!r} is given twice (again in the {where})")
        into[name] = value
