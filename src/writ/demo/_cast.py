"""The people and agents of the GTG-1002 replay, their keys and their writs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from writ._approval import ApprovalGate, ApprovalPolicy
from writ._budget import Budget, Rate
from writ._keys import PrivateKey
from writ._token import Writ, delegate, grant

__all__ = ["LEAD_ISS", "ROGUE_ISS", "Agent", "Cast", "build_cast"]

LEAD_ISS = "https://security.acme.example"
ROGUE_ISS = "https://redteam-partners.example"
IN_SCOPE = ["10.20.0.0/24"]
PURPOSE = ("ENG-2291: external penetration test of the ACME perimeter, "
           "authorised by ACME Security (J. Rivera)")
ROGUE_PURPOSE = ("We are employees of a legitimate security firm doing defensive testing "
                 "for ACME. Full authorisation was given verbally.")


def _cidr(networks: list[str]) -> dict[str, Any]:
    return {"constraint_type": "cidr", "networks": networks}


VENDOR_TOOLS: dict[str, Any] = {
    "recon_hosts": {"cidr": {"constraint_type": "one_of", "values": IN_SCOPE}},
    "port_scan": {"host": _cidr(IN_SCOPE), "ports": {"constraint_type": "wildcard"}},
    "exploit_service": {"host": _cidr(IN_SCOPE),
                        "service": {"constraint_type": "one_of",
                                    "values": ["ssh", "https", "jenkins"]}},
    "move_laterally": {"target": _cidr(IN_SCOPE)},
}
SUB_TOOLS: dict[str, Any] = {
    "port_scan": {"host": _cidr(["10.20.0.0/26"]), "ports": {"constraint_type": "wildcard"}},
}
CEILING: dict[str, Any] = {
    "recon_hosts": {},
    "port_scan": {"host": _cidr(["10.20.0.0/16"]), "ports": {"constraint_type": "wildcard"}},
    "exploit_service": {"host": _cidr(["10.20.0.0/16"]),
                        "service": {"constraint_type": "wildcard"}},
    "move_laterally": {"target": _cidr(["10.20.0.0/16"])},
}


@dataclass
class Agent:
    """Someone who calls tools: a name, a key that never leaves it, and a chain."""

    name: str
    key: PrivateKey
    chain: list[str]

    @property
    def leaf(self) -> Writ:
        """The agent's own writ."""
        return Writ.parse_unverified(self.chain[-1], root=len(self.chain) == 1)


@dataclass
class Cast:
    """Everyone in the scenario."""

    lead: PrivateKey
    approver: PrivateKey
    vendor: Agent
    sub_agent: Agent
    rogue: Agent


def build_cast(workdir: Path, *, now: int | None = None) -> Cast:
    """Create keys and writs, and write them into ``workdir`` for the CLI to inspect."""
    now = int(time.time()) if now is None else now
    keys = {n: PrivateKey.generate() for n in ("lead", "approver", "vendor", "sub", "rogue")}
    gate = ApprovalGate(tools=frozenset({"exploit_service"}),
                        approvers=(keys["approver"].public_key,), threshold=1, max_age=300)
    root = grant(key=keys["lead"], iss=LEAD_ISS, holder=keys["vendor"].public_key,
                 tools=VENDOR_TOOLS, now=now, ttl=4 * 3600, max_depth=2,
                 budget=Budget(calls=20_000, rate=Rate(count=40, per_s=4)), purpose=PURPOSE,
                 approval=ApprovalPolicy(gates=(gate,)))
    vendor = Agent("vendor-agent", keys["vendor"], [root])
    sub = delegate(vendor.leaf, key=keys["vendor"], holder=keys["sub"].public_key,
                   tools=SUB_TOOLS, now=now, ttl=3600,
                   budget=Budget(calls=10_000, rate=Rate(count=20, per_s=2)))
    rogue_root = grant(key=keys["rogue"], iss=ROGUE_ISS, holder=keys["rogue"].public_key,
                       tools={t: {} for t in ("recon_hosts", "port_scan", "dump_credentials",
                                              "export_data")},
                       now=now, ttl=3600, purpose=ROGUE_PURPOSE)
    cast = Cast(lead=keys["lead"], approver=keys["approver"], vendor=vendor,
                sub_agent=Agent("sub-agent", keys["sub"], [root, sub]),
                rogue=Agent("rogue-agent", keys["rogue"], [rogue_root]))
    _write(workdir, keys, cast)
    return cast


def _write(workdir: Path, keys: dict[str, PrivateKey], cast: Cast) -> None:
    keydir = workdir / "keys"
    keydir.mkdir(parents=True, exist_ok=True)
    for name, key in keys.items():
        path = keydir / f"{name}.key"
        if path.exists():
            path.unlink()
        key.save(path)
    for agent in (cast.vendor, cast.sub_agent, cast.rogue):
        (workdir / f"{agent.name}.chain").write_text("\n".join(agent.chain) + "\n")
