"""The ``writ`` command line: glue over the library (exit 0 ok/allow, 1 deny, 2 error)."""

from __future__ import annotations

import sys

import typer

from writ.cli import _approve, _console, _demo, _gateway, _log, _receiver, _tokens, _witness
from writ.cli._output import EXIT_ERROR, stderr

__all__ = ["app", "main"]

app = typer.Typer(
    name="writ",
    help="Writ: cryptographic authority for AI agents, verified by the receiver.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_tokens.register(app)
_receiver.register(app)
_demo.register(app)
_log.register(app)
_gateway.register(app)
_witness.register(app)
_console.register(app)
_approve.register(app)


def main() -> None:
    """Entry point: run the app; an unexpected failure is a sentence and exit 2."""
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI contract forbids tracebacks
        stderr.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        sys.exit(EXIT_ERROR)
