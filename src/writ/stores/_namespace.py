"""Namespaces: how several receivers (and test runs) share one database or Redis server."""

from __future__ import annotations

import re

from writ._errors import ConfigurationError

__all__ = ["check_sql_namespace", "redis_prefix"]

# Interpolated into table names, so it must be a plain identifier (no quoting games).
_SQL = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_REDIS = re.compile(r"[!-~]{1,200}")


def check_sql_namespace(namespace: str) -> str:
    """The namespace as a table-name prefix; refuses anything but ``[a-z_][a-z0-9_]*``."""
    if not isinstance(namespace, str) or _SQL.fullmatch(namespace) is None:
        raise ConfigurationError(
            f"namespace {namespace!r}: SQL stores need [a-z_][a-z0-9_]{{0,39}}"
        )
    return namespace


def redis_prefix(namespace: str) -> str:
    """The namespace as a Redis key prefix ending in ``:`` (printable ASCII, no spaces)."""
    if not isinstance(namespace, str) or _REDIS.fullmatch(namespace) is None:
        raise ConfigurationError(f"namespace {namespace!r}: Redis needs printable ASCII, no spaces")
    return namespace if namespace.endswith(":") else namespace + ":"
