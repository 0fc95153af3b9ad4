"""``writ gateway`` in front of an unmodified MCP server, over stdio and streamable HTTP."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from _procs import WRIT, free_port, running
from mcp.client import Client

from factory import Cast
from writ.mcp import WritClientSession, WritDenied

SERVER = str(Path(__file__).resolve().parents[1] / "mcp" / "_guarded_server.py")
TOOLS = {"echo": {"text": {"constraint_type": "one_of", "values": ["hello", "again"]}}}


def write_config(tmp: Path, cast: Cast, port: int, mcp_table: str) -> Path:
    x = cast.principal.public_key.jwk["x"]
    (tmp / "dummy.json").write_text(
        json.dumps(
            {
                "audience": "http://unused.example",
                "trust_anchors": [
                    {"iss": "https://x.example", "jwk": cast.principal.public_key.jwk}
                ],
            }
        )
    )
    path = tmp / "gateway.toml"
    path.write_text(
        f'[receiver]\naudience = "http://127.0.0.1:{port}"\nstate = "sqlite:state.db"\n'
        f'log = "sqlite:log.db"\nlog_key = "log.key"\n'
        f'[[receiver.trust_anchors]]\niss = "https://security.target.example"\n'
        f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{x}" }}\n{mcp_table}'
    )
    return path


def counts(tmp: Path) -> dict[str, int]:
    path = tmp / "counts.json"
    return json.loads(path.read_text()) if path.exists() else {}


async def session_calls(url: str, cast: Cast, chain: list[str], port: int) -> list[Any]:
    outcomes: list[Any] = []
    async with Client(url) as client:
        agent = WritClientSession(
            client.session, chain=chain, key=cast.agents[0], audience=f"http://127.0.0.1:{port}"
        )
        result = await agent.call_tool("echo", {"text": "hello"})
        outcomes.append(json.loads(result.content[0].text)["arguments"])
        for args in ({"text": "bye"}, {"text": "hello", "extra": 1}):
            try:
                await agent.call_tool("echo", args)
                outcomes.append("allowed?!")
            except WritDenied as denied:
                outcomes.append(denied.denial.code)
        try:
            await agent.call_tool("transfer", {"to": "acct-1", "amount": "5"})
        except WritDenied as denied:
            outcomes.append(denied.denial.code)
    return outcomes


def exercise(tmp: Path, config: Path, cast: Cast, chain: list[str], port: int) -> None:
    with running(
        [*WRIT, "gateway", "--config", str(config), "--port", str(port)],
        f"http://127.0.0.1:{port}/healthz",
        cwd=tmp,
    ):
        outcomes = anyio.run(session_calls, f"http://127.0.0.1:{port}/mcp", cast, chain, port)
    assert outcomes == [
        {"text": "hello"},
        "argument_violation",
        "argument_violation",
        "tool_not_granted",
    ]
    assert counts(tmp) == {"echo": 1}  # the denied calls never reached the upstream


def test_gateway_fronts_a_stdio_mcp_server(tmp_path: Path) -> None:
    cast = Cast(now=int(time.time()))
    chain = cast.root(TOOLS)
    port = free_port()
    table = (
        f'[mcp]\npath = "/mcp"\ncommand = ["{sys.executable}", "{SERVER}", "--config", '
        f'"{tmp_path / "dummy.json"}", "--counter", "{tmp_path / "counts.json"}", '
        '"--unguarded"]\n'
    )
    exercise(tmp_path, write_config(tmp_path, cast, port, table), cast, chain, port)


def test_gateway_fronts_a_streamable_http_mcp_server(tmp_path: Path) -> None:
    from _mcp_harness import http_server

    cast = Cast(now=int(time.time()))
    chain = cast.root(TOOLS)
    port = free_port()
    config = write_config(tmp_path, cast, port, "")
    with http_server(
        [
            SERVER,
            "--config",
            str(tmp_path / "dummy.json"),
            "--counter",
            str(tmp_path / "counts.json"),
            "--unguarded",
        ]
    ) as url:
        config.write_text(config.read_text() + f'[mcp]\npath = "/mcp"\nurl = "{url}"\n')
        exercise(tmp_path, config, cast, chain, port)
