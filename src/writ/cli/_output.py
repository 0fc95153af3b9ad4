"""How the CLI speaks: data on stdout (``--json``), people's text on stderr, named exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from writ._errors import WritError

__all__ = ["EXIT_DENY", "EXIT_ERROR", "EXIT_OK", "emit", "fail", "guarded", "stderr"]

EXIT_OK = 0  # ok, or allow
EXIT_DENY = 1  # the decision was deny, or a verification failed
EXIT_ERROR = 2  # usage or configuration error

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)
if not stdout.is_terminal:
    stdout = Console(highlight=False, width=140)  # tables stay legible in logs and CI


def emit(data: Any, *, as_json: bool, human: Callable[[], None] | None = None) -> None:
    """Write ``data`` as JSON on stdout, or call ``human`` to render it for people."""
    if as_json or human is None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    else:
        human()


def fail(message: str, *, code: int = EXIT_ERROR) -> NoReturn:
    """Print an error sentence on stderr and exit; never a traceback."""
    stderr.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextmanager
def guarded() -> Iterator[None]:
    """Turn Writ's errors into a sentence and exit code 2."""
    try:
        yield
    except WritError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "))
    except UnicodeDecodeError:
        fail("an input file is not UTF-8 text")
