"""``gateway.toml``: a receiver, plus what the gateway fronts and how it listens.

    [receiver]                # exactly a receiver configuration (docs/receiver-config.md)
    audience = "https://api.acme.example"
    state = "redis://127.0.0.1:6379/0"
    ...
    [http]                    # reverse proxy to an unmodified HTTP service
    upstream = "http://127.0.0.1:9000"
    routes = { "GET /customers/{id}" = "read_customer" }
    [mcp]                     # MCP proxy, served at path, to a stdio command or a URL
    path = "/mcp"
    command = ["python", "server.py"]   # or: url = "http://127.0.0.1:9100/mcp"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from writ._config import ReceiverConfig
from writ._errors import ConfigurationError

__all__ = ["GatewayConfig", "HttpUpstream", "McpUpstream"]


def _only(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = set(table) - known
    if unknown:
        raise ConfigurationError(f"unknown settings in [{where}]: {sorted(unknown)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpUpstream:
    """An unmodified HTTP service behind the gateway."""

    upstream: str
    routes: Mapping[str, str]
    timeout: float = 10.0
    forward_identity: bool = True
    unmatched: str = "deny"
    public_paths: tuple[str, ...] = ()
    max_body: int = 1 << 20

    @classmethod
    def from_json(cls, table: Mapping[str, Any]) -> HttpUpstream:
        """Build from ``[http]``."""
        _only(table, {"upstream", "routes", "timeout", "forward_identity", "unmatched",
                      "public_paths", "max_body"}, "http")
        if not str(table.get("upstream", "")).startswith(("http://", "https://")):
            raise ConfigurationError("[http] upstream is an http(s) URL")
        return cls(upstream=str(table["upstream"]).rstrip("/"), routes=dict(table.get("routes", {})),
                   timeout=float(table.get("timeout", 10.0)),
                   forward_identity=bool(table.get("forward_identity", True)),
                   unmatched=str(table.get("unmatched", "deny")),
                   public_paths=tuple(table.get("public_paths", ())),
                   max_body=int(table.get("max_body", 1 << 20)))


@dataclass(frozen=True, slots=True, kw_only=True)
class McpUpstream:
    """An unmodified MCP server behind the gateway: a stdio command or a streamable-HTTP URL."""

    path: str = "/mcp"
    command: tuple[str, ...] = ()
    url: str | None = None
    filter_tools: bool = False

    @classmethod
    def from_json(cls, table: Mapping[str, Any], base: Path | None) -> McpUpstream:
        """Build from ``[mcp]``."""
        _only(table, {"path", "command", "url", "filter_tools"}, "mcp")
        command = tuple(str(c) for c in table.get("command", ()))
        if bool(command) == bool(table.get("url")):
            raise ConfigurationError("[mcp] needs exactly one of command or url")
        return cls(path=str(table.get("path", "/mcp")), command=command, url=table.get("url"),
                   filter_tools=bool(table.get("filter_tools", False)))


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """The whole gateway configuration."""

    receiver: ReceiverConfig
    http: HttpUpstream | None = None
    mcp: McpUpstream | None = None
    revocations_dir: Path | None = None
    source: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GatewayConfig:
        """Read ``gateway.toml``; relative paths resolve next to it."""
        source = Path(path).resolve()
        try:
            data = tomllib.loads(source.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read {os.fspath(path)!r}: {exc}") from None
        _only(data, {"receiver", "http", "mcp", "revocations_dir"}, "gateway")
        if "receiver" not in data:
            raise ConfigurationError("gateway.toml needs a [receiver] table")
        if "http" not in data and "mcp" not in data:
            raise ConfigurationError("gateway.toml needs [http], [mcp] or both")
        base = source.parent
        return cls(
            receiver=ReceiverConfig.from_json(data["receiver"], base=base, source=str(source)),
            http=HttpUpstream.from_json(data["http"]) if "http" in data else None,
            mcp=McpUpstream.from_json(data["mcp"], base) if "mcp" in data else None,
            revocations_dir=(base / data["revocations_dir"]) if "revocations_dir" in data
            else None,
            source=source,
        )

    @property
    def routes(self) -> Sequence[str]:
        """The HTTP routes, for logs."""
        return list(self.http.routes) if self.http else []
