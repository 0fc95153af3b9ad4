"""CLI commands for keys and writs: key new/show, grant, delegate, sign, inspect."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from writ._attenuation import tools_to_json
from writ._keys import PrivateKey
from writ._pop import sign_pop
from writ._token import Writ, delegate, grant
from writ.cli._inputs import (
    parse_ttl,
    read_budget,
    read_caps,
    read_chain,
    read_holder,
    read_json_arg,
    write_text,
)
from writ.cli._output import emit, fail, guarded, stdout

__all__ = ["key_app", "register"]

key_app = typer.Typer(help="Create and show Ed25519 keys.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]


def _key_info(key: PrivateKey) -> dict[str, Any]:
    return {"jwk": key.public_key.jwk, "thumbprint_uri": key.public_key.thumbprint_uri}


@key_app.command("new")
def key_new(out: Annotated[Path, typer.Option("-o", "--out", help="Key file (mode 0600).")],
            as_json: JsonOpt = False) -> None:
    """Create a key; print its public JWK and thumbprint URI (never the private key)."""
    with guarded():
        key = PrivateKey.generate()
        key.save(out)
        info = _key_info(key)
        emit(info, as_json=as_json, human=lambda: stdout.print(
            f"wrote {out} (mode 0600)\npublic JWK: {info['jwk']}\nholder: {info['thumbprint_uri']}"))


@key_app.command("show")
def key_show(path: Path, as_json: JsonOpt = False) -> None:
    """Show a key file's public half."""
    with guarded():
        info = _key_info(PrivateKey.load(path))
        emit(info, as_json=as_json, human=lambda: stdout.print(
            f"public JWK: {info['jwk']}\nholder: {info['thumbprint_uri']}"))


def grant_cmd(
    key: Annotated[Path, typer.Option(help="The principal's root key file.")],
    iss: Annotated[str, typer.Option(help="The principal's issuer URI (as enrolled).")],
    holder: Annotated[str, typer.Option(help="Holder public JWK, JWK file or key file.")],
    caps: Annotated[str, typer.Option(help="CAPS.json: tools map or authorization_details.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Chain file to write.")],
    aud: Annotated[list[str] | None, typer.Option(help="Audience (repeatable).")] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime: 90s, 30m, 1h, 2d.")] = "1h",
    max_depth: Annotated[int, typer.Option(help="Maximum delegation depth.")] = 3,
    budget: Annotated[str | None, typer.Option(help="BUDGET.json (writ_budget).")] = None,
    approval: Annotated[str | None, typer.Option(help="APPROVAL.json (writ_approval).")] = None,
    purpose: Annotated[str | None, typer.Option(help="writ_purpose text.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mint a root writ for an agent."""
    from writ._approval import ApprovalPolicy

    with guarded():
        token = grant(key=PrivateKey.load(key), iss=iss, holder=read_holder(holder),
                      tools=read_caps(caps), now=int(time.time()), ttl=parse_ttl(ttl),
                      max_depth=max_depth, aud=aud, budget=read_budget(budget), purpose=purpose,
                      approval=ApprovalPolicy.parse(read_json_arg(approval, "approval"))
                      if approval else None)
        write_text(str(out), token)
        _report_token(token, out, root=True, as_json=as_json)


def delegate_cmd(
    chain: Annotated[Path, typer.Option(help="The delegating holder's chain file.")],
    key: Annotated[Path, typer.Option(help="The delegating holder's key file.")],
    holder: Annotated[str, typer.Option(help="New holder public JWK, JWK file or key file.")],
    caps: Annotated[str, typer.Option(help="CAPS.json for the child (must be narrower).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Chain file to write.")],
    ttl: Annotated[str | None, typer.Option(help="Lifetime (default: the parent's).")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Maximum delegation depth.")] = None,
    budget: Annotated[str | None, typer.Option(help="BUDGET.json (default: parent's).")] = None,
    aud: Annotated[list[str] | None, typer.Option(help="Audience (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Mint a narrower child writ; refused with the widened axis named."""
    with guarded():
        tokens = read_chain(str(chain))
        parent = Writ.parse_unverified(tokens[-1], root=len(tokens) == 1)
        token = delegate(parent, key=PrivateKey.load(key), holder=read_holder(holder),
                         tools=read_caps(caps), now=int(time.time()),
                         ttl=parse_ttl(ttl) if ttl else None, max_depth=max_depth,
                         budget=read_budget(budget), aud=aud)
        write_text(str(out), "\n".join([*tokens, token]))
        _report_token(token, out, root=False, as_json=as_json)


def _report_token(token: str, out: Path, *, root: bool, as_json: bool) -> None:
    writ = Writ.parse_unverified(token, root=root)
    info = {"jti": writ.jti, "holder": writ.holder.thumbprint_uri, "exp": writ.exp,
            "chain_file": str(out)}
    emit(info, as_json=as_json, human=lambda: stdout.print(
        f"wrote {out}: writ {writ.jti} for {writ.holder.thumbprint_uri}, expires {_when(writ.exp)}"))


def sign_cmd(
    chain: Annotated[Path, typer.Option(help="The holder's chain file.")],
    key: Annotated[Path, typer.Option(help="The leaf holder's key file.")],
    tool: Annotated[str, typer.Option(help="Tool name.")],
    args: Annotated[str, typer.Option(help="Arguments: JSON object or file.")],
    aud: Annotated[str, typer.Option(help="The receiver's audience URI.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="PoP file to write.")],
    nonce: Annotated[str | None, typer.Option(help="A nonce the receiver issued.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign one call (aat-pop+jwt) with the leaf holder's key."""
    with guarded():
        arguments = read_json_arg(args, "args")
        if not isinstance(arguments, dict):
            fail("--args is a JSON object")
        pop = sign_pop(key=PrivateKey.load(key), leaf=read_chain(str(chain))[-1], tool=tool,
                       args=arguments, now=int(time.time()), aud=aud, nonce=nonce)
        write_text(str(out), pop)
        emit({"pop_file": str(out)}, as_json=as_json,
             human=lambda: stdout.print(f"wrote {out}"))


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def inspect_cmd(chain: Path, as_json: JsonOpt = False) -> None:
    """Show a chain as a tree: issuer → holder, tools, constraints, expiry, budget, purpose.

    This reads the tokens without verifying them; use ``writ check`` to decide.
    """
    with guarded():
        tokens = read_chain(str(chain))
        writs = [Writ.parse_unverified(t, root=i == 0) for i, t in enumerate(tokens)]
        data = [_describe(w) for w in writs]
        emit(data, as_json=as_json, human=lambda: stdout.print(_tree(writs)))


def _describe(writ: Writ) -> dict[str, Any]:
    return {"jti": writ.jti, "iss": writ.iss, "holder": writ.holder.thumbprint_uri,
            "iat": writ.iat, "exp": writ.exp, "del_depth": writ.del_depth,
            "del_max_depth": writ.del_max_depth, "aud": list(writ.aud) if writ.aud else None,
            "tools": tools_to_json(writ.tools) if writ.tools is not None else None,
            "budget": writ.budget.to_json() if writ.budget else None, "purpose": writ.purpose,
            "approval": writ.approval.to_json() if writ.approval else None}


def _tree(writs: list[Writ]) -> Tree:
    root = Tree(f"[bold]{writs[0].iss}[/] (principal)"
                + (f" — purpose: [italic]{writs[0].purpose}[/]" if writs[0].purpose else ""))
    node = root
    for writ in writs:
        node = node.add(f"[bold cyan]{writ.holder.thumbprint_uri[-16:]}[/] writ {writ.jti} "
                        f"depth {writ.del_depth}/{writ.del_max_depth}, expires {_when(writ.exp)}")
        for tool, constraints in (writ.tools or {}).items():
            shown = ", ".join(f"{a}: {c.to_json()}" for a, c in constraints.items()) or "any args"
            node.add(f"[green]{tool}[/] ({shown})")
        if writ.budget:
            node.add(f"budget {writ.budget.to_json()}")
        for gate in writ.approval.gates if writ.approval else ():
            node.add(f"[yellow]approval[/] {sorted(gate.tools)}: {gate.threshold} of "
                     f"{len(gate.approvers)}")
    return root


def register(app: typer.Typer) -> None:
    """Attach these commands to the main app."""
    app.add_typer(key_app, name="key")
    app.command("grant")(grant_cmd)
    app.command("delegate")(delegate_cmd)
    app.command("sign")(sign_cmd)
    app.command("inspect")(inspect_cmd)
