"""Builders shared by tests: a principal, agents, a receiver, and chains between them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from writ import Limits, PrivateKey, ReceiverConfig, Verifier, Writ, delegate, grant, sign_pop
from writ.stores import open_stores

AUD = "https://api.target.example"
ISS = "https://security.target.example"
NOW = 1_800_000_000


def receiver(anchor: PrivateKey, *, iss: str = ISS, ceiling: Mapping[str, Any] | None = None,
             **options: Any) -> ReceiverConfig:
    """A receiver that enrols one anchor."""
    table: dict[str, Any] = {"audience": AUD, "trust_anchors": [
        {"iss": iss, "jwk": anchor.public_key.jwk, **({"ceiling": ceiling} if ceiling else {})}]}
    table.update(options)
    return ReceiverConfig.from_json(table)


@dataclass
class Cast:
    """A principal and a line of agents, each holding the next writ."""

    principal: PrivateKey = field(default_factory=PrivateKey.generate)
    agents: list[PrivateKey] = field(default_factory=lambda: [PrivateKey.generate() for _ in range(4)])
    now: int = NOW  # pass int(time.time()) for tests on real transports

    def root(self, tools: Mapping[str, Any], *, now: int | None = None, ttl: int = 3600,
             iss: str = ISS, **options: Any) -> list[str]:
        """[root] for agent 0."""
        now = self.now if now is None else now
        return [grant(key=self.principal, iss=iss, holder=self.agents[0].public_key, tools=tools,
                      now=now, ttl=ttl, **options)]

    def extend(self, chain: Sequence[str], tools: Mapping[str, Any], *, now: int | None = None,
               **options: Any) -> list[str]:
        """chain + a child for the next agent, signed by the current leaf holder."""
        now = self.now if now is None else now
        depth = len(chain)
        parent = Writ.parse_unverified(chain[-1], root=depth == 1)
        child = delegate(parent, key=self.agents[depth - 1], holder=self.agents[depth].public_key,
                         tools=tools, now=now, **options)
        return [*chain, child]

    def pop(self, chain: Sequence[str], tool: str, args: Mapping[str, Any], *,
            now: int | None = None, aud: str | None = AUD, nonce: str | None = None,
            key: PrivateKey | None = None) -> str:
        """A PoP by the leaf holder (or ``key``)."""
        now = self.now if now is None else now
        holder = key or self.agents[len(chain) - 1]
        return sign_pop(key=holder, leaf=chain[-1], tool=tool, args=args, now=now, aud=aud,
                        nonce=nonce)


def verifier(config: ReceiverConfig, *, state: str = "memory:", log: Any = None) -> Verifier:
    """A verifier on the given state URL."""
    return Verifier(config, stores=open_stores(state), log=log)


__all__ = ["AUD", "ISS", "NOW", "Cast", "Limits", "receiver", "verifier"]
