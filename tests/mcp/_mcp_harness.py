"""Launch the guarded test server on a real transport and connect a real SDK client to it.

stdio: the SDK's ``stdio_client`` spawns the server; a plain ``ClientSession`` runs the
legacy ``initialize`` handshake. Streamable HTTP: the server runs as a subprocess under
uvicorn on 127.0.0.1 port 0 and prints ``READY <port>`` once it listens; the SDK's
``Client`` connects in its default mode (it probes ``server/discover``, the 2026 era).
Nothing sleeps: readiness is a line read with a deadline.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from writ import PrivateKey, grant
from writ.mcp import WritClientSession

SCRIPT = str(Path(__file__).with_name("_guarded_server.py"))
AUD = "https://mcp.target.example"
ISS = "https://security.target.example"
TOOLS: dict[str, Any] = {
    "transfer": {
        "to": {"constraint_type": "glob", "pattern": "acct-*"},
        "amount": {"constraint_type": "wildcard"},
    },
    "echo": {},
    "resources/read": {
        "uri": {
            "constraint_type": "one_of",
            "values": ["file:///reports/q3.txt", "file:///reports/q4.txt"],
        }
    },
    "prompts/get:summary": {},
}


@dataclass
class World:
    """A principal, an agent holding a writ, and a receiver configuration on disk."""

    root: Path
    principal: PrivateKey = field(default_factory=PrivateKey.generate)
    agent: PrivateKey = field(default_factory=PrivateKey.generate)
    tools: Mapping[str, Any] = field(default_factory=lambda: dict(TOOLS))

    def __post_init__(self) -> None:
        self.chain = [
            grant(
                key=self.principal,
                iss=ISS,
                holder=self.agent.public_key,
                tools=self.tools,
                now=int(time.time()),
                ttl=3600,
            )
        ]
        self.counter = self.root / "counts.json"

    def config(self, **options: Any) -> Path:
        """Write a receiver configuration (JSON) enrolling the principal; return its path."""
        table = {
            "audience": AUD,
            "state": "sqlite:state.db",
            "trust_anchors": [{"iss": ISS, "jwk": self.principal.public_key.jwk}],
            **options,
        }
        path = self.root / f"receiver-{len(list(self.root.glob('receiver-*')))}.json"
        path.write_text(json.dumps(table))
        return path

    def counts(self) -> dict[str, int]:
        """What the server's handlers actually ran."""
        return json.loads(self.counter.read_text()) if self.counter.exists() else {}

    def reset(self) -> None:
        """Forget earlier side effects."""
        self.counter.unlink(missing_ok=True)

    def args(self, config: Path, *extra: str) -> list[str]:
        """The server script's command line."""
        return [SCRIPT, "--config", str(config), "--counter", str(self.counter), *extra]

    def wrap(self, session: ClientSession, **options: Any) -> WritClientSession:
        """The agent's signing session."""
        return WritClientSession(session, chain=self.chain, key=self.agent, audience=AUD, **options)


@contextmanager
def http_server(args: list[str]) -> Iterator[str]:
    """Run the server over streamable HTTP; yield its MCP endpoint URL."""
    proc = subprocess.Popen(
        [sys.executable, *args, "--transport", "http"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=30):
                raise RuntimeError("the MCP test server did not start")
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the MCP test server failed: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@asynccontextmanager
async def stdio_session(args: list[str]) -> AsyncIterator[ClientSession]:
    """Spawn the server over stdio; yield an initialised ``ClientSession``."""
    params = StdioServerParameters(command=sys.executable, args=args)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    """Connect the SDK's ``Client`` to a running server; yield its session."""
    async with Client(url) as client:
        yield client.session


@asynccontextmanager
async def connect(transport: str, args: list[str]) -> AsyncIterator[ClientSession]:
    """A session to a fresh server on ``transport`` ("stdio" or "http")."""
    if transport == "stdio":
        async with stdio_session(args) as session:
            yield session
        return
    with http_server(args) as url:
        async with http_session(url) as session:
            yield session
