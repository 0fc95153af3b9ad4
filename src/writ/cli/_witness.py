"""``writ witness …``: run a witness (C2SP tlog-witness) and feed it a log's checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from writ._errors import ConfigurationError
from writ._keys import PrivateKey
from writ.cli._output import emit, guarded, stdout

__all__ = ["register"]

witness_app_cli = typer.Typer(help="A witness that cosigns checkpoints and refuses forks.",
                              no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _logs(specs: list[str]) -> dict[str, list[object]]:
    from writ.log._note import Ed25519Verifier

    logs: dict[str, list[object]] = {}
    for spec in specs:
        if "+" not in spec:
            raise ConfigurationError(f"--log takes a log's vkey (origin+keyid+key), got {spec!r}")
        verifier = Ed25519Verifier.from_vkey(spec)
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


@witness_app_cli.command("serve")
def serve_cmd(
    state: Annotated[Path, typer.Option(help="SQLite file for the witness's state.")],
    key: Annotated[Path, typer.Option(help="The witness's key file (created if missing).")],
    log: Annotated[list[str], typer.Option(help="A trusted log's vkey (repeatable).")],
    name: Annotated[str, typer.Option(help="The witness's name.")] = "witness.writ.local",
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8789,
) -> None:
    """Serve add-checkpoint; cosign only checkpoints consistent with what it saw before."""
    import uvicorn

    from writ.log._witness import Witness, witness_app

    with guarded():
        if not key.exists():
            PrivateKey.generate().save(key)
        witness = Witness(state, name=name, key=PrivateKey.load(key), logs=_logs(log))  # type: ignore[arg-type]
        stdout.print(f"witness {witness.verifier.vkey} on http://{host}:{port}")
        uvicorn.run(witness_app(witness, time.time), host=host, port=port, log_level="warning")


@witness_app_cli.command("vkey")
def vkey_cmd(key: Annotated[Path, typer.Option(help="A key file.")],
             name: Annotated[str, typer.Option(help="The key's name (a log's origin, or the "
                                                    "witness's name).")],
             cosigner: Annotated[bool, typer.Option(help="A witness cosigning key.")] = False,
             as_json: JsonOpt = False) -> None:
    """Print the C2SP verifier key string for a key file."""
    from writ.log._cosignature import CosignatureVerifier
    from writ.log._note import Ed25519Verifier

    with guarded():
        public = PrivateKey.load(key).public_key
        vkey = (CosignatureVerifier(name, public) if cosigner else Ed25519Verifier(name, public)).vkey
        emit({"vkey": vkey}, as_json=as_json, human=lambda: stdout.print(vkey))


@witness_app_cli.command("submit")
def submit_cmd(url: Annotated[str, typer.Option(help="The witness's base URL.")],
               log_url: Annotated[str, typer.Option("--log", help="The log URL.")],
               old_size: Annotated[int | None, typer.Option(
                   help="The size the witness saw last (default: ask by trying 0).")] = None,
               as_json: JsonOpt = False) -> None:
    """Send the log's latest signed checkpoint to a witness; print the cosignature."""
    from writ.log._appender import open_log_reader
    from writ.log._witness_client import submit_checkpoint

    with guarded():
        reader = open_log_reader(log_url)
        signed = [c for c in reader.checkpoints() if c.note]
        if not signed:
            raise ConfigurationError("the log has no signed checkpoint yet")
        note = (signed[-1].note or b"").decode()
        line, size = submit_checkpoint(url, reader, note, old_size=old_size or 0)
        reader.close()
        emit({"cosignature": line.strip(), "size": size}, as_json=as_json,
             human=lambda: stdout.print(f"cosigned at size {size}: {line.strip()}"))


def register(app: typer.Typer) -> None:
    """Attach ``writ witness``."""
    app.add_typer(witness_app_cli, name="witness")
