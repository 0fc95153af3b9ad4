"""A real MCP server for the tests and the benchmark, guarded by Writ (or not).

    python _guarded_server.py --config receiver.json [--counter counts.json]
        [--transport stdio|http] [--unguarded] [--filter-tools] [--log sqlite:///…]

It builds a ``Verifier`` from the receiver configuration (TOML or JSON, by suffix) and
serves, with the SDK's low-level ``Server`` so handlers see the raw arguments:

* tools ``transfer`` and ``echo``: count the call in the counter file, and return the
  exact arguments the handler received (so a test sees ``_writ`` never reaches it);
* resource ``file:///reports/{name}``; prompt ``summary``.

Over HTTP it binds 127.0.0.1 port 0 itself and prints ``READY <port>`` on stdout once
uvicorn has started, so the test reads one line instead of sleeping.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from writ import ReceiverConfig, Verifier
from writ.mcp import current_decision, protect
from writ.stores import open_stores


class Counter:
    """Side effects, persisted so the test process can read them."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def bump(self, name: str) -> None:
        if self.path is None:
            return
        counts = json.loads(self.path.read_text()) if self.path.exists() else {}
        counts[name] = counts.get(name, 0) + 1
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(counts))
        os.replace(tmp, self.path)


def build(counter: Counter) -> Server[Any]:
    """The server, unguarded."""

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        schema = {"type": "object", "additionalProperties": True}
        return types.ListToolsResult(
            tools=[
                types.Tool(name=n, description=n, input_schema=schema)
                for n in ("transfer", "echo", "delete_all")
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        counter.bump(params.name)
        decision = current_decision()
        seen = {
            "tool": params.name,
            "arguments": params.arguments or {},
            "meta_keys": sorted((params.meta or {}).keys()),
            "principal": decision.chain.principal if decision and decision.chain else None,
        }
        return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(seen))])

    async def list_resources(
        ctx: ServerRequestContext[Any], params: Any
    ) -> types.ListResourcesResult:
        return types.ListResourcesResult(
            resources=[types.Resource(uri="file:///reports/q3.txt", name="q3")]
        )

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        counter.bump("resource")
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=str(params.uri), text=f"contents of {params.uri}")
            ]
        )

    async def list_prompts(ctx: ServerRequestContext[Any], params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[types.Prompt(name="summary")])

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        counter.bump("prompt")
        text = json.dumps(params.arguments or {}, sort_keys=True)
        return types.GetPromptResult(
            messages=[
                types.PromptMessage(role="user", content=types.TextContent(type="text", text=text))
            ]
        )

    return Server(
        "writ-test",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


def load_config(path: str) -> ReceiverConfig:
    """TOML or JSON, by suffix."""
    if path.endswith(".json"):
        return ReceiverConfig.from_json(
            json.loads(Path(path).read_text()), base=Path(path).resolve().parent, source=path
        )
    return ReceiverConfig.load(path)


def make_verifier(config: ReceiverConfig, log_url: str | None) -> Verifier:
    """A verifier on the configured state, with a decision log when asked."""
    log = None
    if log_url:
        from writ.log._appender import open_log

        log = open_log(log_url)
    return Verifier(config, stores=open_stores(config.state), log=log)


async def serve_http(server: Server[Any]) -> None:
    """Streamable HTTP on a socket bound here, announced once uvicorn is up."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    app = server.streamable_http_app()

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(f"READY {sock.getsockname()[1]}", flush=True)

    await Announcing(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--counter")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--unguarded", action="store_true")
    parser.add_argument("--filter-tools", action="store_true")
    parser.add_argument("--log")
    opts = parser.parse_args()
    server = build(Counter(opts.counter))
    if not opts.unguarded:
        protect(
            server,
            make_verifier(load_config(opts.config), opts.log),
            filter_tools=opts.filter_tools,
        )
    if opts.transport == "http":
        await serve_http(server)
        return
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
