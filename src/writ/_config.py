"""Receiver configuration: audiences, trust anchors with ceilings, limits and state (TOML).

A configuration validates itself when built, so an unsafe one cannot exist: no
trust anchor means the receiver would have nothing to trust, and that is refused
rather than read as "trust everyone".
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from writ._attenuation import ToolMap, parse_tools
from writ._errors import ConfigurationError, MalformedError
from writ._keys import PublicKey
from writ._token import Limits

__all__ = ["ReceiverConfig", "TrustAnchor"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustAnchor:
    """A root issuer this receiver enrolled, and the most it may ever grant here."""

    iss: str
    key: PublicKey
    ceiling: ToolMap | None = None  # None: this issuer's grants are not capped here

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> TrustAnchor:
        """Build from a ``[[trust_anchors]]`` table: ``iss``, ``jwk``, optional ``ceiling``."""
        if not isinstance(obj.get("iss"), str) or "jwk" not in obj:
            raise ConfigurationError("a trust anchor needs iss and jwk")
        unknown = set(obj) - {"iss", "jwk", "ceiling", "name"}
        if unknown:
            raise ConfigurationError(f"unknown trust anchor settings: {sorted(unknown)}")
        try:
            key = PublicKey.from_jwk(obj["jwk"])
            ceiling = parse_tools(obj["ceiling"]) if "ceiling" in obj else None
        except MalformedError as exc:
            raise ConfigurationError(f"trust anchor {obj['iss']}: {exc}") from None
        return cls(iss=obj["iss"], key=key, ceiling=ceiling)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"an audience is an http(s) origin, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverConfig:
    """Everything a receiver decides with, apart from its state."""

    audiences: tuple[str, ...]
    trust_anchors: tuple[TrustAnchor, ...]
    require_pop_audience: bool = True
    require_chain_audience: bool = False
    require_nonce: bool = False
    limits: Limits = field(default_factory=Limits)
    state: str = "memory:"
    log: str | None = None
    log_key: str | None = None
    log_origin: str | None = None  # the checkpoint origin; default: "<audience host>/writ-decisions"
    sensitive_args: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        if not self.trust_anchors:
            raise ConfigurationError("no trust anchors: a receiver must enrol at least one root")
        if not self.audiences:
            raise ConfigurationError("a receiver names at least one audience")
        for audience in self.audiences:
            _origin(audience)

    def anchors_for(self, iss: str) -> list[TrustAnchor]:
        """The anchors enrolled under this issuer name (several during a key rotation)."""
        return [a for a in self.trust_anchors if a.iss == iss]

    def identifies_us(self, audience: str | Sequence[str]) -> bool:
        """True when the audience value names this receiver."""
        values = [audience] if isinstance(audience, str) else audience
        return any(v.rstrip("/") in self.audiences for v in values)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReceiverConfig:
        """Read a receiver TOML file; relative state paths resolve next to it."""
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read {os.fspath(path)!r}: {exc}") from None
        return cls.from_json(data, base=Path(path).resolve().parent, source=os.fspath(path))

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, base: Path | None = None,
                  source: str | None = None) -> ReceiverConfig:
        """Build from the parsed TOML tables."""
        known = {"audience", "audiences", "require_pop_audience", "require_chain_audience",
                 "require_nonce", "limits", "trust_anchors", "state", "log", "log_key",
                 "log_origin", "sensitive_args"}
        unknown = set(data) - known
        if unknown:
            raise ConfigurationError(f"unknown receiver settings: {sorted(unknown)}")
        audiences = data.get("audiences", [data["audience"]] if "audience" in data else [])
        limits = data.get("limits", {})
        try:
            limits_obj = Limits(**limits)
        except TypeError as exc:
            raise ConfigurationError(f"[limits]: {exc}") from None
        return cls(
            audiences=tuple(_origin(a) for a in audiences),
            trust_anchors=tuple(TrustAnchor.from_json(a) for a in data.get("trust_anchors", [])),
            require_pop_audience=bool(data.get("require_pop_audience", True)),
            require_chain_audience=bool(data.get("require_chain_audience", False)),
            require_nonce=bool(data.get("require_nonce", False)),
            limits=limits_obj,
            state=_resolve(data.get("state", "memory:"), base),
            log=_resolve(data["log"], base) if "log" in data else None,
            log_key=str(base / data["log_key"]) if base and "log_key" in data
            else data.get("log_key"),
            log_origin=data.get("log_origin"),
            sensitive_args={t: tuple(a) for t, a in data.get("sensitive_args", {}).items()},
            source=source,
        )


def _resolve(url: str, base: Path | None) -> str:
    """Resolve ``sqlite:relative.db`` against the config file's folder (``sqlite:///abs`` stays)."""
    if base is not None and url.startswith("sqlite:") and not url.startswith("sqlite://"):
        return "sqlite://" + str((base / url[len("sqlite:"):]).resolve())
    return url
