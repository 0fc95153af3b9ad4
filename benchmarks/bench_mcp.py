"""MCP call overhead of the Writ guard: the same server, guarded and not, on real transports.

Run: ``.venv/bin/python benchmarks/bench_mcp.py [--calls 500] [--repeats 5] [--state memory:]``

For each transport (stdio, streamable HTTP on loopback) it starts three server processes
from this very file (``--serve``): one plain, one with ``protect(server, verifier)``, and
one with ``protect(server, verifier, offload=False)`` (the check inline on the event loop,
fine for a verifier with memory stores and no log). Each has one ``echo`` tool that returns
its arguments. A client sends ``--calls`` sequential ``tools/call`` requests per block;
blocks alternate between the servers (``--repeats`` each), and the median block gives the
per-call time. The guarded client is ``WritClientSession``, so the overhead includes
signing the PoP on the agent side, carrying the proof, verifying it, and the replay-store write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

ISS, AUD = "https://bench.example", "https://mcp.bench.example"
ARGS = {"account": "acct-1", "amount": "12.50", "memo": "benchmark"}


def serve(config_path: str, transport: str, guard: str) -> None:
    """The benchmark server: one echo tool; guard is "none", "thread" or "inline"."""
    import mcp_types as types
    import uvicorn
    from mcp.server.lowlevel import Server

    from writ import ReceiverConfig, Verifier
    from writ.mcp import protect

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        text = json.dumps(params.arguments or {})
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        tool = types.Tool(name="echo", input_schema={"type": "object"})
        return types.ListToolsResult(tools=[tool])

    server: Server[Any] = Server("bench", on_call_tool=call_tool, on_list_tools=list_tools)
    if guard != "none":
        config = ReceiverConfig.from_json(json.loads(Path(config_path).read_text()))
        protect(server, Verifier(config), offload=guard == "thread")

    async def run() -> None:
        if transport == "stdio":
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())
            return
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)

        class Announcing(uvicorn.Server):
            async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                await super().startup(sockets=sockets)
                print(f"READY {sock.getsockname()[1]}", flush=True)

        app = server.streamable_http_app()
        await Announcing(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock])

    asyncio.run(run())


@asynccontextmanager
async def session_to(transport: str, config: Path, guard: str) -> AsyncIterator[Any]:
    """A connected ``ClientSession`` to a fresh benchmark server."""
    from mcp.client import Client
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    argv = [__file__, "--serve", str(config), "--transport", transport, "--guard", guard]
    if transport == "stdio":
        params = StdioServerParameters(command=sys.executable, args=argv)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            yield s
        return
    with http_server(argv) as port:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            yield client.session


@contextmanager
def http_server(argv: list[str]) -> Iterator[int]:
    """Start the server over HTTP; yield its port once it announced readiness (no sleeping)."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=30):
                raise RuntimeError("the benchmark server did not start")
        yield int(proc.stdout.readline().split()[1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def block(call: Callable[[], Awaitable[Any]], n: int) -> float:
    """Seconds per call over ``n`` sequential calls."""
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n


async def measure(transport: str, config: Path, chain: list[str], key: Any,
                  calls: int, repeats: int) -> dict[str, float]:
    """Median seconds per call: unguarded, guarded (worker thread), guarded (inline)."""
    from writ.mcp import WritClientSession

    async with AsyncExitStack() as stack:
        plain = await stack.enter_async_context(session_to(transport, config, "none"))
        agents = {}
        for guard in ("thread", "inline"):
            session = await stack.enter_async_context(session_to(transport, config, guard))
            agents[guard] = WritClientSession(session, chain=chain, key=key, audience=AUD)
        cases = {"plain": lambda: plain.call_tool("echo", ARGS),
                 "thread": lambda: agents["thread"].call_tool("echo", ARGS),
                 "inline": lambda: agents["inline"].call_tool("echo", ARGS)}
        for call in cases.values():
            await block(call, max(calls // 10, 20))  # warm-up: imports, caches, connections
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(repeats):
            for name, call in cases.items():
                times[name].append(await block(call, calls))
    return {name: statistics.median(values) for name, values in times.items()}


def setup(folder: Path, state: str) -> tuple[Path, list[str], Any]:
    """A principal, an agent's writ for ``echo``, and a receiver configuration file."""
    from writ import PrivateKey, grant

    principal, agent = PrivateKey.generate(), PrivateKey.generate()
    chain = [grant(key=principal, iss=ISS, holder=agent.public_key, tools={"echo": {}},
                   now=int(time.time()), ttl=3600)]
    config = folder / "receiver.json"
    config.write_text(json.dumps({"audience": AUD, "state": state, "trust_anchors": [
        {"iss": ISS, "jwk": principal.public_key.jwk}]}))
    return config, chain, agent


def components(chain: list[str], key: Any, config: Path, n: int = 2000) -> tuple[float, float]:
    """(sign, check) seconds per call, in process: the two halves of the overhead."""
    from writ import ReceiverConfig, Verifier, sign_pop

    verifier = Verifier(ReceiverConfig.from_json(json.loads(config.read_text())))
    pops = []
    start = time.perf_counter()
    for _ in range(n):
        pops.append(sign_pop(key=key, leaf=chain[-1], tool="echo", args=ARGS,
                             now=int(time.time()), aud=AUD))
    sign = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for pop in pops:
        assert verifier.check(chain=chain, pop=pop, tool="echo", args=ARGS).allowed
    return sign, (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--state", default="memory:")
    parser.add_argument("--transports", default="stdio,http")
    parser.add_argument("--serve")
    parser.add_argument("--transport")
    parser.add_argument("--guard", choices=["none", "thread", "inline"], default="none")
    opts = parser.parse_args()
    if opts.serve:
        serve(opts.serve, opts.transport, opts.guard)
        return
    with tempfile.TemporaryDirectory() as folder:
        config, chain, key = setup(Path(folder), opts.state)
        sign, check = components(chain, key, config)
        print(f"in process: sign_pop {sign * 1e6:.0f} µs, Verifier.check {check * 1e6:.0f} µs "
              f"(state {opts.state})")
        print(f"{'transport':<10} {'plain ms':>9} {'writ ms':>8} {'overhead µs':>12} "
              f"{'ratio':>6} {'inline ms':>10} {'overhead µs':>12} {'ratio':>6}")
        for transport in opts.transports.split(","):
            t = asyncio.run(measure(transport, config, chain, key, opts.calls, opts.repeats))
            plain, thread, inline = t["plain"], t["thread"], t["inline"]
            print(f"{transport:<10} {plain * 1e3:>9.3f} {thread * 1e3:>8.3f} "
                  f"{(thread - plain) * 1e6:>12.0f} {thread / plain:>6.2f} "
                  f"{inline * 1e3:>10.3f} {(inline - plain) * 1e6:>12.0f} {inline / plain:>6.2f}")


if __name__ == "__main__":
    main()
