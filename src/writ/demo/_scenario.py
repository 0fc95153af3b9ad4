"""The GTG-1002 campaign, replayed against targets protected by Writ, phase by phase."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from writ._approval_request import sign_approval
from writ._revocation import sign_revocation
from writ.demo._cast import Agent, Cast
from writ.demo._channel import Channel, Outcome

__all__ = ["Row", "run_scenario"]

BURST = 2000


@dataclass
class Row:
    """One line of the demo's table."""

    phase: str
    agent: str
    tool: str
    allowed: bool
    code: str | None
    note: str
    expected: str | None  # the code we expect; None for allow

    @property
    def as_expected(self) -> bool:
        """True when the outcome is the one the scenario expects."""
        return (self.code if not self.allowed else None) == self.expected

    def to_json(self) -> dict[str, Any]:
        """For ``writ demo --json``."""
        return {"phase": self.phase, "agent": self.agent, "tool": self.tool,
                "decision": "allow" if self.allowed else "deny", "code": self.code,
                "note": self.note, "expected": self.expected or "allow",
                "as_expected": self.as_expected}


Say = Callable[[str], None]


def _row(phase: str, agent: Agent, tool: str, out: Outcome, expected: str | None,
         note: str = "") -> Row:
    return Row(phase=phase, agent=agent.name, tool=tool, allowed=out.allowed,
               code=None if out.allowed else out.code, note=note or (out.detail or out.reason),
               expected=expected)


def run_scenario(cast: Cast, channel: Channel, *, say: Say = lambda _: None,
                 burst: int = BURST) -> list[Row]:
    """Run every phase in order and return the table."""
    rows: list[Row] = []
    vendor, sub, rogue = cast.vendor, cast.sub_agent, cast.rogue

    say("1. Recon and scanning in scope")
    out = channel.call(vendor, "recon_hosts", {"cidr": "10.20.0.0/24"})
    rows.append(_row("1 recon", vendor, "recon_hosts", out, None, f"found {out.result}"))
    out = channel.call(sub, "port_scan", {"host": "10.20.0.12", "ports": [443, 1194]})
    rows.append(_row("1 scan", sub, "port_scan", out, None, f"open {out.result}"))
    replayed = channel.call(sub, "port_scan", {"host": "10.20.0.12", "ports": [443, 1194]},
                            replay=out.proof)
    rows.append(_row("1 replay", sub, "port_scan", replayed, "replayed",
                     "the same signed request sent again"))

    say("2. A rogue operator's agent: 'a legitimate security firm doing defensive testing'")
    out = channel.call(rogue, "port_scan", {"host": "10.20.0.10"})
    rows.append(_row("2 rogue", rogue, "port_scan", out, "untrusted_root",
                     "self-issued root; its story is not a key the target enrolled"))
    out = channel.call(rogue, "read_customer", {"id": "7"})
    rows.append(_row("2 rogue", rogue, "read_customer", out, "untrusted_root",
                     "the same story at the customer API's gateway"))

    say("3. Exploitation waits for a human approval")
    rows.extend(_exploit(cast, channel, say))

    say("4-6. Credential theft, lateral movement out of scope, exfiltration")
    out = channel.call(vendor, "dump_credentials", {"host": "10.20.0.10"})
    rows.append(_row("4 credentials", vendor, "dump_credentials", out, "tool_not_granted"))
    out = channel.call(vendor, "move_laterally", {"target": "10.30.0.5"})
    rows.append(_row("5 lateral", vendor, "move_laterally", out, "argument_violation",
                     "10.30.0.5 (db-prod-01) is outside 10.20.0.0/24"))
    out = channel.call(vendor, "export_data", {"table": "customers"})
    rows.append(_row("6 export", vendor, "export_data", out, "tool_not_granted"))
    out = channel.call(vendor, "export_customers", {})
    rows.append(_row("6 export", vendor, "export_customers", out, "tool_not_granted",
                     "POST /export at the gateway; the customer API never sees it"))

    say(f"7. A burst of {burst} scan requests at machine speed")
    rows.append(_burst(sub, channel, burst))

    say("8. The security lead revokes the vendor's writ mid-run")
    statement = sign_revocation(key=cast.lead, jti=vendor.leaf.jti, now=int(time.time()),
                                reason="engagement halted")
    channel.revoke(statement)
    for agent, tool, args in ((vendor, "recon_hosts", {"cidr": "10.20.0.0/24"}),
                              (sub, "port_scan", {"host": "10.20.0.11", "ports": [22]})):
        out = channel.call(agent, tool, args)
        rows.append(_row("8 revoked", agent, tool, out, "revoked"))
    return rows


def _exploit(cast: Cast, channel: Channel, say: Say) -> list[Row]:
    vendor = cast.vendor
    args = {"host": "10.20.0.12", "service": "https"}
    first = channel.call(vendor, "exploit_service", args)
    rows = [_row("3 exploit", vendor, "exploit_service", first, "approval_required",
                 "held for approval")]
    request = (first.challenge or {}).get("approval_request")
    if request is None:
        return rows
    say(f"   approver's screen: {request['summary']}")
    say(f"   arguments: {request['args']}  — approve? [y/N] y (scripted)")
    approval = sign_approval(request, key=cast.approver, now=int(time.time()))
    second = channel.call(vendor, "exploit_service", args, approvals=[approval])
    rows.append(_row("3 exploit", vendor, "exploit_service", second, None,
                     "approved by the lead's approver, bound to this exact call"))
    again = channel.call(vendor, "exploit_service", args, approvals=[approval])
    rows.append(_row("3 exploit", vendor, "exploit_service", again, "approval_invalid",
                     "the same approval used a second time"))
    return rows


def _burst(agent: Agent, channel: Channel, count: int) -> Row:
    codes: dict[str, int] = {}
    calls = [{"host": f"10.20.0.{i % 60 + 1}", "ports": [22]} for i in range(count)]
    many = getattr(channel, "call_many", None)
    outcomes = many(agent, "port_scan", calls) if many else [
        channel.call(agent, "port_scan", args) for args in calls]
    for out in outcomes:
        key = "allow" if out.allowed else (out.code or "?")
        codes[key] = codes.get(key, 0) + 1
    summary = ", ".join(f"{n} {c}" for c, n in sorted(codes.items(), key=lambda kv: -kv[1]))
    allowed = codes.get("allow", 0)
    return Row(phase="7 burst", agent=agent.name, tool="port_scan",
               allowed=False, code="rate_limited" if codes.get("rate_limited") else None,
               note=f"{count} requests: {summary}; {allowed} got through", expected="rate_limited")
