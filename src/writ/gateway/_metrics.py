"""Prometheus metrics and structured JSON logs for the gateway's decisions."""

from __future__ import annotations

import json
import logging
import sys
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from writ._decision import Decision

__all__ = ["Telemetry"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                   "msg": record.getMessage()}
        payload.update(getattr(record, "fields", {}))
        return json.dumps(payload, separators=(",", ":"), default=str)


class Telemetry:
    """Counts decisions by code, times them, counts store errors, and logs each as JSON."""

    def __init__(self, *, log_decisions: bool = True) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter("writ_decisions_total", "Decisions by outcome and code.",
                                 ["decision", "code"], registry=self.registry)
        self.latency = Histogram("writ_decision_seconds", "Time to decide one request.",
                                 buckets=_BUCKETS, registry=self.registry)
        self.store_errors = Counter("writ_store_errors_total",
                                    "Decisions denied because a store or the log failed.",
                                    registry=self.registry)
        self.upstream = Histogram("writ_upstream_seconds", "Upstream response time.",
                                  buckets=_BUCKETS, registry=self.registry)
        self.logger = logging.getLogger("writ.gateway")
        if log_decisions and not self.logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(_JsonFormatter())
            self.logger.addHandler(handler)
            self.logger.setLevel(logging.INFO)
            self.logger.propagate = False
        self.log_decisions = log_decisions

    def observe(self, decision: Decision, seconds: float) -> None:
        """Record one decision (a Verifier observer)."""
        outcome = "allow" if decision.allowed else "deny"
        self.decisions.labels(outcome, decision.code or "").inc()
        self.latency.observe(seconds)
        if decision.code == "state_unavailable":
            self.store_errors.inc()
        if self.log_decisions:
            chain = decision.chain
            self.logger.info("decision", extra={"fields": {
                "event": "decision", "decision_id": decision.decision_id,
                "decision": outcome, "code": decision.code, "tool": decision.tool,
                "agent": chain.agent if chain else None,
                "principal": chain.principal if chain else None,
                "latency_ms": round(seconds * 1000, 3)}})

    def event(self, message: str, **fields: object) -> None:
        """Log an operational event (startup, reload, shutdown)."""
        self.logger.info(message, extra={"fields": {"event": message, **fields,
                                                    "at": time.time()}})

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
