"""``writ demo``: run the GTG-1002 scenario and show every decision."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from writ.cli._output import EXIT_DENY, emit, guarded, stderr, stdout

__all__ = ["register"]


def demo_cmd(
    workdir: Annotated[Path, typer.Option(help="Where keys, writs, state and log go.")] = Path(
        ".writ-demo"),
    burst: Annotated[int, typer.Option(help="Requests in the machine-speed burst.")] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    in_process: Annotated[bool, typer.Option(
        help="Run the receivers inside this process instead of real servers.")] = False,
) -> None:
    """Replay the GTG-1002 campaign against targets protected by Writ (loopback only)."""
    from writ.demo import run_demo

    with guarded():
        if as_json:
            result = run_demo(workdir, burst=burst, in_process=in_process)
        else:
            with stderr.status("running the scenario…") as status:
                def say(text: str) -> None:
                    status.update(text)
                    stderr.print(f"[dim]{text}[/]")
                result = run_demo(workdir, say=say, burst=burst, in_process=in_process)
        emit(result.to_json(), as_json=as_json, human=lambda: _show(result))
        if not result.ok:
            raise typer.Exit(EXIT_DENY)


def _show(result: object) -> None:
    from writ.demo import DemoResult

    assert isinstance(result, DemoResult)
    table = Table(title="GTG-1002, replayed against receivers that verify before they act")
    for column in ("phase", "agent", "tool", "decision", "code", "what happened"):
        table.add_column(column)
    for row in result.rows:
        decision = "[green]allow[/]" if row.allowed else "[red]deny[/]"
        mark = "" if row.as_expected else " [bold red](unexpected)[/]"
        table.add_row(row.phase, row.agent, row.tool, decision + mark, row.code or "",
                      row.note)
    stdout.print(table)
    stdout.print(f"files: {result.workdir}/ (keys, writs, state, decision log, bundle)")
    for audit in result.audit:
        witness = audit["witness"]
        cosigned = (f"cosigned by the witness at size {witness['size']}" if witness.get("cosigned")
                    else f"not witnessed ({witness.get('reason')})")
        verdict = "[green]verifies offline[/]" if audit["ok"] else "[red]does NOT verify[/]"
        stdout.print(f"the decision log (MCP server and gateway): {audit['entries']} entries, "
                     f"{cosigned}; bundle {audit['bundle']} {verdict}")
    if result.console:
        stdout.print(f"browse the decisions: [bold]{result.console}[/] "
                     "(then open http://127.0.0.1:8788)")


def register(app: typer.Typer) -> None:
    """Attach the command."""
    app.command("demo")(demo_cmd)
