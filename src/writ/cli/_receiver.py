"""CLI commands on the receiver side: check, revoke, revocations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from writ._config import ReceiverConfig
from writ._keys import PrivateKey
from writ._revocation import parse_revocation, sign_revocation
from writ._verify import Verifier
from writ.cli._inputs import read_chain, read_json_arg, write_text
from writ.cli._output import EXIT_DENY, emit, fail, guarded, stdout
from writ.stores import open_stores

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
revocations_app = typer.Typer(help="Manage a receiver's revocations.", no_args_is_help=True)


def check_cmd(
    receiver: Annotated[Path, typer.Option(help="RECEIVER.toml.")],
    chain: Annotated[Path, typer.Option(help="Chain file, root first.")],
    pop: Annotated[Path, typer.Option(help="PoP file (aat-pop+jwt).")],
    tool: Annotated[str, typer.Option(help="Tool being called.")],
    args: Annotated[str, typer.Option(help="Arguments: JSON object or file.")],
    now: Annotated[int | None, typer.Option(help="Clock, in Unix seconds.")] = None,
    nonce: Annotated[str | None, typer.Option(help="A nonce this receiver issued.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide one call as the receiver would; exit 0 allow, 1 deny."""
    with guarded():
        config = ReceiverConfig.load(receiver)
        arguments = read_json_arg(args, "args")
        if not isinstance(arguments, dict):
            fail("--args is a JSON object")
        stores = open_stores(config.state)
        log = _open_log(config)
        try:
            verifier = Verifier(config, stores=stores, log=log)
            decision = verifier.check(chain=read_chain(str(chain)),
                                      pop=pop.read_text().strip(), tool=tool, args=arguments,
                                      now=now, nonce=nonce)
        finally:
            stores.close()
            if log is not None:
                log.close()
        verdict = "[green]ALLOW[/]" if decision.allowed else f"[red]DENY[/] {decision.code}"
        emit(decision.to_json(), as_json=as_json, human=lambda: stdout.print(
            f"{verdict}: {decision.reason}" + (f" (step {decision.step}: {decision.detail})"
                                               if not decision.allowed else "")))
        if not decision.allowed:
            raise typer.Exit(EXIT_DENY)


def _open_log(config: ReceiverConfig) -> Any:
    if config.log is None:
        return None
    from writ.log._decisions import open_decision_log

    return open_decision_log(config)


def revoke_cmd(
    key: Annotated[Path, typer.Option(help="Key of the anchor or of a holder above the token.")],
    jti: Annotated[str, typer.Option(help="The token id to revoke (kills its subtree).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Statement file to write.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign a revocation statement."""
    with guarded():
        statement = sign_revocation(key=PrivateKey.load(key), jti=jti, now=int(time.time()),
                                    reason=reason)
        write_text(str(out), statement)
        emit({"statement_file": str(out), "revokes": jti}, as_json=as_json,
             human=lambda: stdout.print(f"wrote {out}: revokes {jti}"))


@revocations_app.command("load")
def load_cmd(
    receiver: Annotated[Path, typer.Option(help="RECEIVER.toml whose state to update.")],
    statements: Annotated[list[Path], typer.Argument(help="Statement files.")],
    as_json: JsonOpt = False,
) -> None:
    """Verify statements and load them into the receiver's state."""
    with guarded():
        config = ReceiverConfig.load(receiver)
        parsed = [parse_revocation(p.read_text()) for p in statements]
        stores = open_stores(config.state)
        try:
            for revocation in parsed:
                stores.revocations.add(revocation)
        finally:
            stores.close()
        emit({"loaded": [r.jti for r in parsed]}, as_json=as_json,
             human=lambda: stdout.print(f"loaded {len(parsed)} revocation(s)"))


def register(app: typer.Typer) -> None:
    """Attach these commands to the main app."""
    app.command("check")(check_cmd)
    app.command("revoke")(revoke_cmd)
    app.add_typer(revocations_app, name="revocations")
