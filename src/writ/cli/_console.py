"""``writ console``: serve the local web console over a decision log (glue over ``writ.console``)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated

import typer

from writ._errors import ConfigurationError
from writ._keys import PrivateKey, PublicKey
from writ.cli._output import guarded, stderr

__all__ = ["load_log_key", "register"]


def load_log_key(value: str) -> tuple[PublicKey, str | None]:
    """A log key from a key file, a public JWK file, or a C2SP vkey; (key, key name or None)."""
    from writ.log._note import Ed25519Verifier

    path = Path(value)
    if not path.exists():
        if "+" not in value:
            raise ConfigurationError(f"--log-key {value!r}: no such file, and not a vkey")
        verifier = Ed25519Verifier.from_vkey(value)
        return verifier.public_key, verifier.name
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--log-key {value!r}: {exc}") from None
    if isinstance(data, dict) and "d" in data:
        return PrivateKey.from_jwk(data).public_key, None
    return PublicKey.from_jwk(data), None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def console_cmd(
    log: Annotated[str, typer.Option(help="Decision log URL (sqlite:…, postgresql:…).")],
    archive: Annotated[Path, typer.Option(help="Chain archive (SQLite file) the receiver fills.")],
    witness: Annotated[Path | None, typer.Option(help="Witness state (SQLite file).")] = None,
    log_key: Annotated[str | None, typer.Option(
        "--log-key", help="The log's key: key file, public JWK file, or vkey.")] = None,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8788,
) -> None:
    """Serve the web console: live decisions, delegation graph, proofs checked in the page."""
    import uvicorn

    from writ.console._app import ConsoleSources, build_app
    from writ.console._archive import ChainArchive
    from writ.log._appender import open_log_reader

    with guarded():
        key, name = load_log_key(log_key) if log_key else (None, None)
        if witness is not None and not witness.exists():
            raise ConfigurationError(f"--witness {str(witness)!r}: no such file")
        if not _loopback(host):
            # No authentication, and WebCrypto needs a secure context: loopback only by intent.
            stderr.print(f"[yellow]warning:[/] serving on {host}: the console has no login")
        sources = ConsoleSources(reader=open_log_reader(log), archive=ChainArchive(archive),
                                 witness_path=str(witness) if witness else None,
                                 log_key=key, log_key_name=name)
        app = build_app(sources, allowed_hosts=[] if _loopback(host) else [host])
        stderr.print(f"writ console on http://{host}:{port}/")
        uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Attach ``writ console``."""
    app.command("console")(console_cmd)
