"""``writ gateway``: verify, then forward — in front of services that cannot import Writ.

Routes: ``/healthz`` (alive), ``/readyz`` (stores and log reachable), ``/metrics``
(Prometheus), the MCP proxy at ``[mcp] path``, and everything else through
``WritMiddleware`` to the HTTP upstream. ``SIGHUP`` reloads trust anchors (the
config file) and revocation statements (``revocations_dir``) without a restart.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from writ._errors import MalformedError, StoreUnavailable
from writ._nonce import NonceIssuer
from writ._revocation import parse_revocation
from writ._verify import Verifier
from writ.gateway._config import GatewayConfig
from writ.gateway._metrics import Telemetry
from writ.gateway._proxy import ReverseProxy
from writ.http._middleware import WritMiddleware
from writ.stores import open_stores

__all__ = ["Gateway", "app_from_env"]

CONFIG_ENV = "WRIT_GATEWAY_CONFIG"
NONCE_SECRET_ENV = "WRIT_NONCE_SECRET"


class Gateway:
    """The parts of one gateway process, and the ASGI app that ties them together."""

    def __init__(self, config: GatewayConfig, *, log_decisions: bool = True) -> None:
        self.config = config
        self.telemetry = Telemetry(log_decisions=log_decisions)
        self.stores = open_stores(config.receiver.state)
        self.log = self._open_log()
        secret = os.environ.get(NONCE_SECRET_ENV)
        self.verifier = Verifier(config.receiver, stores=self.stores, log=self.log,
                                 nonces=NonceIssuer(secret=secret.encode()) if secret else None,
                                 observers=[self.telemetry.observe])
        self.proxy: ReverseProxy | None = None
        self.mcp: Any = None
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)

    def _open_log(self) -> Any:
        if self.config.receiver.log is None:
            return None
        from writ.log._decisions import open_decision_log

        return open_decision_log(self.config.receiver)

    def _routes(self) -> list[Any]:
        routes: list[Any] = [Route("/healthz", self.healthz), Route("/readyz", self.readyz),
                             Route("/metrics", self.metrics)]
        if self.config.mcp is not None:
            from writ.gateway._mcp_proxy import McpProxy

            self.mcp = McpProxy(self.config.mcp, self.verifier)
            routes.append(Mount(self.config.mcp.path, app=self.mcp.asgi))
        if self.config.http is not None:
            http = self.config.http
            self.proxy = ReverseProxy(http.upstream, timeout=http.timeout,
                                      forward_identity=http.forward_identity)
            routes.append(Mount("/", app=WritMiddleware(
                self.proxy, verifier=self.verifier, routes=http.routes,
                unmatched=http.unmatched, public_paths=http.public_paths,
                max_body=http.max_body)))
        return routes

    async def healthz(self, request: Request) -> Response:
        """Alive."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        """Ready when the stores answer; 503 otherwise (the gateway would deny everything)."""
        try:
            now = time.time()
            self.stores.replay.add_once(f"readyz:{os.getpid()}:{now}", expires_at=now + 5,
                                        now=now)
            self.stores.revocations.find(["readyz"])
        except StoreUnavailable as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(self, request: Request) -> Response:
        """Prometheus exposition."""
        return Response(self.telemetry.exposition(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    def reload(self) -> None:
        """Re-read trust anchors from the config file and load revocation statements."""
        if self.config.source is not None:
            fresh = GatewayConfig.load(self.config.source)
            self.verifier.reload(fresh.receiver)
            self.config = fresh
        loaded = self.load_revocations()
        self.telemetry.event("reloaded", anchors=len(self.config.receiver.trust_anchors),
                             revocations=loaded)

    def load_revocations(self) -> int:
        """Load every statement file in ``revocations_dir``; bad files are logged, skipped."""
        folder = self.config.revocations_dir
        if folder is None or not folder.is_dir():
            return 0
        count = 0
        for path in sorted(Path(folder).glob("*")):
            try:
                self.stores.revocations.add(parse_revocation(path.read_text()))
                count += 1
            except (MalformedError, OSError) as exc:
                self.telemetry.event("revocation_refused", file=str(path), reason=str(exc))
        return count

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        import asyncio

        self.load_revocations()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if self.mcp is not None:
                    await stack.enter_async_context(self.mcp.running())
                self.telemetry.event("started", pid=os.getpid())
                yield
                self.telemetry.event("stopping", pid=os.getpid())
        finally:
            if self.proxy is not None:
                await self.proxy.aclose()
            if self.log is not None:
                self.log.close()
            self.stores.close()


def app_from_env() -> Starlette:
    """The uvicorn factory for worker processes: reads the config path from the environment."""
    return Gateway(GatewayConfig.load(os.environ[CONFIG_ENV])).app
