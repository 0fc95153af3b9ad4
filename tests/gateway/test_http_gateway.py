"""``writ gateway`` in front of an unmodified HTTP service: real processes on loopback."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _procs import WRIT, free_port, running

from factory import Cast
from writ import PrivateKey, sign_revocation
from writ.http import WritAuth

HERE = Path(__file__).parent
TOOLS = {"read_customer": {"id": {"constraint_type": "one_of", "values": ["7", "8"]}}, "slow": {}}


def gateway_toml(
    anchor: PrivateKey,
    *,
    port: int,
    upstream: int,
    tmp: Path,
    extra_anchor: PrivateKey | None = None,
) -> str:
    anchors = [anchor] + ([extra_anchor] if extra_anchor else [])
    lines = [
        'revocations_dir = "revocations"',
        "[receiver]",
        f'audience = "http://127.0.0.1:{port}"',
        'state = "sqlite:state.db"',
        'log = "sqlite:log.db"',
        'log_key = "log.key"',
    ]
    for i, key in enumerate(anchors):
        lines += [
            "[[receiver.trust_anchors]]",
            f'iss = "https://lead{i}.acme.example"',
            f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{key.public_key.jwk["x"]}" }}',
        ]
    lines += [
        "[http]",
        f'upstream = "http://127.0.0.1:{upstream}"',
        "timeout = 1.0",
        'public_paths = ["/health"]',
        "[http.routes]",
        '"GET /customers/{id}" = "read_customer"',
        '"POST /export" = "export_customers"',
        '"GET /slow" = "slow"',
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Deployment:
    tmp: Path
    origin: str
    cast: Cast
    chain: list[str]
    served: Path
    process: Any
    upstream_port: int

    def requests(self) -> list[dict[str, Any]]:
        if not self.served.exists():
            return []
        return [json.loads(line) for line in self.served.read_text().splitlines()]

    def client(self) -> httpx.Client:
        return httpx.Client(auth=WritAuth(self.chain, self.cast.agents[0]), timeout=10)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    cast = Cast(now=int(time.time()))
    chain = cast.root(TOOLS, iss="https://lead0.acme.example")
    up_port, gw_port = free_port(), free_port()
    served = tmp_path / "served.jsonl"
    (tmp_path / "revocations").mkdir()
    (tmp_path / "gateway.toml").write_text(
        gateway_toml(cast.principal, port=gw_port, upstream=up_port, tmp=tmp_path)
    )
    with running(
        [sys.executable, str(HERE / "_upstream.py"), str(up_port), str(served)],
        f"http://127.0.0.1:{up_port}/health",
    ), running(
        [*WRIT, "gateway", "--config", str(tmp_path / "gateway.toml"), "--port", str(gw_port)],
        f"http://127.0.0.1:{gw_port}/healthz",
    ) as gw:
        yield Deployment(
            tmp_path, f"http://127.0.0.1:{gw_port}", cast, chain, served, gw, up_port
        )


def test_allowed_request_reaches_the_upstream_with_identity_not_proof(
    deployment: Deployment,
) -> None:
    with deployment.client() as client:
        response = client.get(f"{deployment.origin}/customers/7")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "7", "name": "Ada Example"}
    assert "x-internal" not in response.headers  # named in Connection: hop-by-hop
    (seen,) = deployment.requests()
    headers = seen["headers"]
    assert headers["writ-principal"] == "https://lead0.acme.example"
    assert headers["writ-agent"] == deployment.cast.agents[0].public_key.thumbprint_uri
    assert not {"signature", "signature-input", "writ-chain"} & set(headers)


def test_denied_requests_never_reach_the_upstream(deployment: Deployment) -> None:
    with deployment.client() as client:
        out_of_scope = client.get(f"{deployment.origin}/customers/9")
        export = client.post(f"{deployment.origin}/export", json={})
    unsigned = httpx.get(f"{deployment.origin}/customers/7", headers={"writ-principal": "forged"})
    assert out_of_scope.status_code == 403 and out_of_scope.json()["code"] == "argument_violation"
    assert export.status_code == 403 and export.json()["code"] == "tool_not_granted"
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "proof_missing"
    assert deployment.requests() == []


def test_upstream_timeout_is_a_clean_504(deployment: Deployment) -> None:
    with deployment.client() as client:
        response = client.get(f"{deployment.origin}/slow")
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"


def test_health_readiness_and_metrics(deployment: Deployment) -> None:
    assert httpx.get(f"{deployment.origin}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{deployment.origin}/readyz").json() == {"status": "ready"}
    with deployment.client() as client:
        client.get(f"{deployment.origin}/customers/7")
        client.get(f"{deployment.origin}/customers/9")
    metrics = httpx.get(f"{deployment.origin}/metrics").text
    assert 'writ_decisions_total{code="",decision="allow"} 1.0' in metrics
    assert 'writ_decisions_total{code="argument_violation",decision="deny"} 1.0' in metrics
    assert "writ_decision_seconds_bucket" in metrics


def _poll(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)  # polling an external process for a state change
    return False


def test_sighup_reloads_anchors_and_revocations(deployment: Deployment) -> None:
    newcomer = Cast(now=int(time.time()))
    chain = newcomer.root(TOOLS, iss="https://lead1.acme.example")

    def newcomer_status() -> int:
        with httpx.Client(auth=WritAuth(chain, newcomer.agents[0])) as client:
            return client.get(f"{deployment.origin}/customers/8").status_code

    assert newcomer_status() == 403  # untrusted_root
    port = int(deployment.origin.rsplit(":", 1)[1])
    (deployment.tmp / "gateway.toml").write_text(
        gateway_toml(
            deployment.cast.principal,
            port=port,
            upstream=deployment.upstream_port,
            tmp=deployment.tmp,
            extra_anchor=newcomer.principal,
        )
    )
    deployment.process.send_signal(signal.SIGHUP)
    assert _poll(lambda: newcomer_status() == 200)
    from writ import Writ

    jti = Writ.parse_unverified(deployment.chain[0], root=True).jti
    (deployment.tmp / "revocations" / "stop.jws").write_text(
        sign_revocation(key=deployment.cast.principal, jti=jti, now=int(time.time()))
    )
    deployment.process.send_signal(signal.SIGHUP)

    def revoked() -> bool:
        with deployment.client() as client:
            response = client.get(f"{deployment.origin}/customers/7")
        return response.status_code == 403 and response.json()["code"] == "revoked"

    assert _poll(revoked)


def test_graceful_shutdown_leaves_a_verifiable_log(deployment: Deployment) -> None:
    with deployment.client() as client:
        assert client.get(f"{deployment.origin}/customers/7").status_code == 200
    deployment.process.send_signal(signal.SIGTERM)
    # uvicorn finishes in-flight requests, runs shutdown, then re-raises the signal.
    assert deployment.process.wait(timeout=15) in (0, -signal.SIGTERM)
    events = [
        json.loads(line)
        for line in deployment.process.stderr.read().decode().splitlines()
        if line.startswith("{")
    ]
    assert {"started", "stopping"} <= {e.get("event") for e in events}
    assert any(e.get("event") == "decision" and e["decision"] == "allow" for e in events)
    from writ.log._appender import open_log_reader

    reader = open_log_reader(f"sqlite://{deployment.tmp / 'log.db'}")
    assert reader.size() >= 1 and reader.verify_integrity().ok
    reader.close()
