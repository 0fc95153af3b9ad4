"""Two ``writ gateway`` replicas behind a simulated load balancer, on shared Redis and PostgreSQL.

Both replicas serve one public origin, ``http://writ.test``, and share one
configuration file (so one ``log_key``), one Redis database and one PostgreSQL
decision log. Agents sign for the public origin; the ``Balancer`` transport plays
the load balancer: it delivers each request to the replica the caller names, on
loopback, keeping the ``Host: writ.test`` header the request was signed with. The
gateway rebuilds ``@target-uri`` from the configured audience whose authority is the
Host header, exactly as it would behind a real balancer.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _procs import WRIT, free_port, running

from writ import PrivateKey
from writ.log._receipt import Receipt

HERE = Path(__file__).parent
PUBLIC = "http://writ.test"
ISS = "https://lead.acme.example"
NONCE_SECRET = "replicas-share-this-nonce-secret"
CLAIM = "writ-replica-test:claim"  # marks the Redis database a replica test is using


def gateway_toml(anchor: PrivateKey, *, state: str, log: str, upstream: int) -> str:
    """One configuration for every replica: only the port (on the command line) differs."""
    return (
        "\n".join(
            [
                'revocations_dir = "revocations"',
                "[receiver]",
                f'audience = "{PUBLIC}"',
                f'state = "{state}"',
                f'log = "{log}"',
                'log_key = "log.key"',
                "[[receiver.trust_anchors]]",
                f'iss = "{ISS}"',
                f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{anchor.public_key.jwk["x"]}" }}',
                "[http]",
                f'upstream = "http://127.0.0.1:{upstream}"',
                "[http.routes]",
                '"GET /customers/{id}" = "read_customer"',
                '"POST /customers/{id}" = "pay"',
            ]
        )
        + "\n"
    )


def receiver_toml(anchor: PrivateKey, *, state: str) -> str:
    """The receiver part alone, for ``writ revocations load --receiver``."""
    return (
        "\n".join(
            [
                f'audience = "{PUBLIC}"',
                f'state = "{state}"',
                "[[trust_anchors]]",
                f'iss = "{ISS}"',
                f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{anchor.public_key.jwk["x"]}" }}',
            ]
        )
        + "\n"
    )


@dataclass
class Traffic:
    """What the balancer forwarded: one decision per request, and the receipts handed back."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    decisions: int = 0
    receipts: list[tuple[int, Receipt]] = field(default_factory=list)

    def record(self, replica: int, response: httpx.Response) -> None:
        """Count a decision and keep its receipt with the replica that made it."""
        header = response.headers.get("writ-receipt")
        with self.lock:
            self.decisions += 1
            if header is not None:
                self.receipts.append((replica, Receipt.from_header(header)))


class Balancer(httpx.BaseTransport):
    """Deliver each request to replica ``extensions["replica"]`` (0 or 1), Host unchanged."""

    def __init__(self, ports: list[int], traffic: Traffic) -> None:
        self.ports, self.traffic = ports, traffic
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Rewrite only the connection target; the signed Host header stays ``writ.test``."""
        replica = int(request.extensions.get("replica", 0))
        assert request.headers["host"] == "writ.test"
        request.url = request.url.copy_with(host="127.0.0.1", port=self.ports[replica])
        response = self._inner.handle_request(request)
        response.read()
        self.traffic.record(replica, response)
        return response

    def close(self) -> None:
        """Close the pooled connections."""
        self._inner.close()


def events(stderr: Path) -> list[dict[str, Any]]:
    """The JSON event lines a gateway wrote to stderr."""
    lines = stderr.read_text().splitlines() if stderr.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


@dataclass
class Cluster:
    """The running replicas and how to reach them."""

    tmp: Path
    ports: list[int]
    processes: list[Any]
    traffic: Traffic
    log_url: str
    log_key: PrivateKey
    served: Path

    def client(self, auth: httpx.Auth | None = None) -> httpx.Client:
        """A client whose requests go through the balancer."""
        return httpx.Client(auth=auth, transport=Balancer(self.ports, self.traffic), timeout=30)


@contextmanager
def replicas(
    tmp: Path, anchor: PrivateKey, *, state: str, log_url: str, count: int = 2, workers: int = 1
) -> Iterator[Cluster]:
    """An upstream and ``count`` gateway replicas (of ``workers`` processes) on one config."""
    up_port, ports = free_port(), [free_port() for _ in range(count)]
    served = tmp / "served.jsonl"
    config = tmp / "gateway.toml"
    config.write_text(gateway_toml(anchor, state=state, log=log_url, upstream=up_port))
    (tmp / "receiver.toml").write_text(receiver_toml(anchor, state=state))
    (tmp / "revocations").mkdir()
    log_key = PrivateKey.generate()
    log_key.save(tmp / "log.key")  # before the replicas start: they must share one key
    env = {"WRIT_NONCE_SECRET": NONCE_SECRET}
    with ExitStack() as stack:
        stack.enter_context(
            running(
                [sys.executable, str(HERE / "_upstream.py"), str(up_port), str(served)],
                f"http://127.0.0.1:{up_port}/health",
            )
        )
        processes = [
            stack.enter_context(
                running(
                    [
                        *WRIT,
                        "gateway",
                        "--config",
                        str(config),
                        "--port",
                        str(port),
                        "--workers",
                        str(workers),
                    ],
                    f"http://127.0.0.1:{port}/healthz",
                    stderr_path=tmp / f"replica-{i}.log",
                    env=env,
                )
            )
            for i, port in enumerate(ports)
        ]
        yield Cluster(tmp, ports, processes, Traffic(), log_url, log_key, served)


def free_redis_db(url: str) -> str:
    """A Redis URL on a database number nobody is using, claimed (the server's config is
    untouched: databases 1-15 exist by default)."""
    import redis

    base = url.rsplit("/", 1)[0]
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{db}")
        try:
            # Claim it: a concurrent run then sees a non-empty database and moves on.
            if client.set(CLAIM, "1", nx=True, ex=3600):
                if client.dbsize() == 1:
                    return f"{base}/{db}"
                client.delete(CLAIM)  # someone else's data is here: leave it as it was
        finally:
            client.close()
    raise RuntimeError("no empty Redis database for the replica test")


def delete_writ_keys(url: str) -> int:
    """Delete the keys the replicas wrote (namespace ``writ:``) from their database."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="writ:*"))
        if keys:
            client.delete(*keys)
        client.delete(CLAIM)
        return len(keys)
    finally:
        client.close()
