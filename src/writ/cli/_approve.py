"""``writ approve`` (sign one approval request) and ``writ approvals serve`` (the local page).

Exit codes: 0 approved (or the server stopped cleanly), 1 declined, 2 error. The
request, the arguments and the chain go to stderr for the human; the approval JWS
(or, with ``--json``, an object holding it) goes to stdout or ``-o``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from writ._approval_request import sign_approval
from writ._errors import ConfigurationError, MalformedError
from writ._json import loads_strict
from writ._keys import PrivateKey
from writ.approvals._request import ApprovalRequest
from writ.cli._inputs import dump, write_text
from writ.cli._output import EXIT_DENY, emit, fail, guarded, stderr

__all__ = ["register"]

approvals_app = typer.Typer(help="The approver's local approvals page.", no_args_is_help=True)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _read_request(source: str) -> ApprovalRequest:
    text = sys.stdin.read() if source == "-" else Path(source).read_bytes()
    try:
        return ApprovalRequest.parse(loads_strict(text))
    except MalformedError as exc:
        raise ConfigurationError(f"{source}: not a usable approval request: {exc}") from None


def _say(text: str) -> None:
    stderr.print(text, markup=False, highlight=False, soft_wrap=True)


def _show(request: ApprovalRequest, key: PrivateKey, now: float) -> None:
    view = request.view(now=now, approver=key)
    _say(view["summary"])
    _say(f"  tool:      {request.binding.tool}")
    _say("  arguments: " + dump(view["args"]).replace("\n", "\n             "))
    _say(f"  receiver:  {request.binding.aud}")
    _say(f"  principal: {request.principal or '(not reported)'}  (as reported by the agent)")
    _say(f"  purpose:   {request.purpose or '(none)'}  (as reported by the agent)")
    _say(f"  agent:     {request.binding.agent}")
    _say(f"  needs:     {view['needs']}")
    _say(f"  expires:   {view['expires_at']} (in {int(request.expires - now)} s)")


def approve_cmd(
    request: Annotated[str, typer.Argument(help="Approval request JSON file (or a problem "
                                                "body holding one), or - for stdin.")],
    key: Annotated[Path, typer.Option(help="The approver's key file.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without asking.")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--out",
                                                help="Write the approval here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Show an approval request and, once confirmed, sign the approval for that exact call."""
    with guarded():
        if request == "-" and not yes:
            raise ConfigurationError("a request read from stdin leaves no stdin to confirm "
                                     "with; pass --yes, or give the request as a file")
        approver = PrivateKey.load(key)
        parsed = _read_request(request)
        now = time.time()
        if parsed.expired(now):
            raise ConfigurationError(f"the request expired at {parsed.view(now=now)['expires_at']}"
                                     "; the agent must ask again")
        if not parsed.may_sign(approver):
            raise ConfigurationError(f"{key} ({approver.public_key.thumbprint_uri}) is not one "
                                     "of this request's approvers")
        _show(parsed, approver, now)
        if not yes and not typer.confirm("Approve this exact call?", default=False, err=True):
            _say("declined: nothing was signed")
            raise typer.Exit(EXIT_DENY)
        approval = sign_approval(parsed.raw, key=approver, now=int(time.time()))
        _deliver(approval, parsed, approver, out=out, as_json=as_json)


def _deliver(approval: str, request: ApprovalRequest, approver: PrivateKey, *,
             out: Path | None, as_json: bool) -> None:
    data = {"approval": approval, "approver": approver.public_key.thumbprint_uri,
            "request": request.id, "tool": request.binding.tool}
    if out is not None:
        write_text(str(out), approval)
        _say(f"approved: wrote {out}")
        if as_json:
            emit(data, as_json=True)
        return
    if as_json:
        emit(data, as_json=True)
    else:
        sys.stdout.write(approval + "\n")  # bare, so `writ approve ... > approval.jws` works


@approvals_app.command("serve")
def serve_cmd(
    key: Annotated[Path, typer.Option(help="The approver's key file: approvals are signed "
                                           "with it.")],
    inbox: Annotated[str | None, typer.Option(
        help="Pending requests: a directory, or a SQLite file (*.db). Default: memory.")] = None,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8790,
) -> None:
    """Serve the approvals page on loopback; prints its URL on stdout once listening."""
    with guarded():
        if host not in _LOOPBACK_HOSTS:
            raise ConfigurationError(f"the approvals page binds loopback only, not {host!r}")
        from writ.approvals._inbox import open_inbox
        from writ.approvals._server import create_app

        app = create_app(key=PrivateKey.load(key), inbox=open_inbox(inbox))
        sock = _bind(host, port)
    try:
        asyncio.run(_serve(app, sock))
    except KeyboardInterrupt:
        pass


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.listen(128)
    return sock


async def _serve(app: Any, sock: socket.socket) -> None:
    import uvicorn

    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    class Announcing(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            sys.stdout.write(url + "\n")  # the line a script (or a test) waits for
            sys.stdout.flush()

    # Long-polls hold connections open; on Ctrl-C cut them after a second (pollers re-poll).
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    await Announcing(config).serve(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add ``approve`` and ``approvals`` to the ``writ`` app."""
    app.command("approve")(approve_cmd)
    app.add_typer(approvals_app, name="approvals")
