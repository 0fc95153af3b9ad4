"""The MCP proxy: a guarded MCP server whose handlers forward to an unmodified upstream.

Agents connect over streamable HTTP at ``[mcp] path``; every ``tools/call``,
``resources/read`` and ``prompts/get`` is verified by ``WritGuard`` before it is
forwarded, with the proof removed, to the upstream over stdio (a child process the
gateway starts) or streamable HTTP. Listings pass through (optionally filtered to the
caller's grant).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import mcp_types as types
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from writ._verify import Verifier
from writ.gateway._config import McpUpstream
from writ.mcp import protect

__all__ = ["McpProxy"]


class McpProxy:
    """One upstream MCP server behind one guarded MCP endpoint."""

    def __init__(self, config: McpUpstream, verifier: Verifier) -> None:
        self.config = config
        self.upstream: ClientSession | None = None
        self.server = self._server()
        protect(self.server, verifier, filter_tools=config.filter_tools)
        hosts = [urlsplit(a).netloc for a in verifier.config.audiences]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[*hosts, "127.0.0.1:*", "localhost:*"],
            allowed_origins=[*verifier.config.audiences, "http://127.0.0.1:*",
                             "http://localhost:*"])
        self.manager = StreamableHTTPSessionManager(app=self.server, security_settings=security)
        self.asgi = StreamableHTTPASGIApp(self.manager)
        self._stack: contextlib.AsyncExitStack | None = None

    def _up(self) -> ClientSession:
        if self.upstream is None:
            raise RuntimeError("the MCP upstream is not connected")
        return self.upstream

    def _server(self) -> Server[Any]:
        async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
            return await self._up().list_tools()

        async def call_tool(ctx: ServerRequestContext[Any],
                            params: types.CallToolRequestParams) -> types.CallToolResult:
            return await self._up().call_tool(params.name, dict(params.arguments or {}))

        async def list_resources(ctx: ServerRequestContext[Any],
                                 params: Any) -> types.ListResourcesResult:
            return await self._up().list_resources()

        async def read_resource(ctx: ServerRequestContext[Any],
                                params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
            return await self._up().read_resource(str(params.uri))

        async def list_prompts(ctx: ServerRequestContext[Any],
                               params: Any) -> types.ListPromptsResult:
            return await self._up().list_prompts()

        async def get_prompt(ctx: ServerRequestContext[Any],
                             params: types.GetPromptRequestParams) -> types.GetPromptResult:
            return await self._up().get_prompt(params.name, dict(params.arguments or {}))

        return Server("writ-gateway", on_list_tools=list_tools, on_call_tool=call_tool,
                      on_list_resources=list_resources, on_read_resource=read_resource,
                      on_list_prompts=list_prompts, on_get_prompt=get_prompt)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Connect the upstream and run the session manager for the gateway's lifetime."""
        async with contextlib.AsyncExitStack() as stack:
            if self.config.command:
                params = StdioServerParameters(command=self.config.command[0],
                                               args=list(self.config.command[1:]))
                read, write = await stack.enter_async_context(stdio_client(params))
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
            else:
                assert self.config.url is not None
                client = await stack.enter_async_context(Client(self.config.url))
                session = client.session
            self.upstream = session
            await stack.enter_async_context(self.manager.run())
            try:
                yield
            finally:
                self.upstream = None
