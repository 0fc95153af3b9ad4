"""The target's MCP tool server, guarded by Writ: ``python -m writ.demo.mcp_server``.

    python -m writ.demo.mcp_server --config receiver.toml --port 8787 [--archive chains.db]

Tools ``recon_hosts``, ``port_scan``, ``exploit_service``, ``dump_credentials``,
``move_laterally`` and ``export_data`` are simulated against a made-up inventory;
nothing leaves loopback. Every call is verified before its handler runs. Prints
``READY <port>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from writ._config import ReceiverConfig
from writ._verify import Verifier
from writ.demo._inventory import run_tool
from writ.mcp import protect
from writ.stores import open_stores

TOOLS = ("recon_hosts", "port_scan", "exploit_service", "dump_credentials", "move_laterally",
         "export_data")


def build() -> Server[Any]:
    """The unguarded tool server."""

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        schema = {"type": "object", "additionalProperties": True}
        return types.ListToolsResult(tools=[types.Tool(name=n, description=n, input_schema=schema)
                                            for n in TOOLS])

    async def call_tool(ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        result = run_tool(params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(type="text",
                                                               text=json.dumps(result))])

    return Server("acme-pentest-tools", on_list_tools=list_tools, on_call_tool=call_tool)


def verifier_for(config: ReceiverConfig, archive: str | None) -> Verifier:
    """A verifier on the configured state and decision log, feeding the console's archive."""
    log = None
    if config.log is not None:
        from writ.log._decisions import open_decision_log

        log = open_decision_log(config)
    on_new_chain = None
    if archive:
        try:
            from writ.console._archive import ChainArchive
        except ImportError:  # the console is optional; the tool server works without it
            ChainArchive = None  # type: ignore[assignment,misc]
        if ChainArchive is not None:
            on_new_chain = ChainArchive(archive).record
    return Verifier(config, stores=open_stores(config.state), log=log, on_new_chain=on_new_chain)


async def serve(port: int, config: ReceiverConfig, archive: str | None) -> None:
    """Serve streamable HTTP on 127.0.0.1:port."""
    server = build()
    protect(server, verifier_for(config, archive))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(256)

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(f"READY {sock.getsockname()[1]}", flush=True)

    app = server.streamable_http_app()
    await Announcing(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock])


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--archive")
    opts = parser.parse_args()
    asyncio.run(serve(opts.port, ReceiverConfig.load(opts.config), opts.archive))


if __name__ == "__main__":
    main()
