"""``writ gateway``: run the verifying reverse proxy / MCP proxy from a gateway.toml."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from writ.cli._output import guarded

__all__ = ["register"]


def gateway_cmd(
    config: Annotated[Path, typer.Option(help="gateway.toml.")],
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Verify every request before it reaches the upstream; SIGHUP reloads anchors and revocations."""
    import uvicorn

    from writ.gateway._app import CONFIG_ENV
    from writ.gateway._config import GatewayConfig

    with guarded():
        GatewayConfig.load(config)  # refuse a bad file before any worker starts (exit 2)
        os.environ[CONFIG_ENV] = str(config.resolve())
        uvicorn.run("writ.gateway._app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="warning", timeout_graceful_shutdown=10,
                    lifespan="on")


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("gateway")(gateway_cmd)
