"""The demo's real processes on loopback: the guarded MCP tool server, the customer API
behind ``writ gateway``, and a witness. Started in order, each polled until it answers,
and stopped together (SIGTERM, then SIGKILL) when the demo ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from writ._errors import ConfigurationError
from writ._keys import PrivateKey
from writ.demo._cast import CEILING, LEAD_ISS, Cast

__all__ = ["Stack", "start_stack"]

PY = sys.executable
LOG_ORIGIN = "acme.example/writ-decisions"  # one log for the target's MCP server and gateway


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """Where everything listens, and the files it keeps."""

    workdir: Path
    mcp_url: str
    mcp_audience: str
    gateway: str
    witness: str
    log: str  # the one decision log both receivers append to
    log_key: Path
    receivers: dict[str, Path]
    archive: Path


def _receiver_toml(cast: Cast, audience: str, name: str, workdir: Path) -> str:
    x = cast.lead.public_key.jwk["x"]
    lines = [f'audience = "{audience}"', f'state = "sqlite:{workdir / "state.db"}"',
             f'log = "sqlite:{workdir / "decisions.db"}"', 'log_key = "log.key"',
             f'log_origin = "{LOG_ORIGIN}"',
             "[[trust_anchors]]", f'iss = "{LEAD_ISS}"',
             f'jwk = {{ kty = "OKP", crv = "Ed25519", x = "{x}" }}',
             "[trust_anchors.ceiling]"]
    for tool, constraints in CEILING.items():
        inner = ", ".join(f'{arg} = {_inline(c)}' for arg, c in constraints.items())
        lines.append(f"{tool} = {{ {inner} }}")
    return "\n".join(lines) + "\n"


def _inline(constraint: dict[str, object]) -> str:
    parts = []
    for key, value in constraint.items():
        if isinstance(value, list):
            parts.append(f'{key} = [{", ".join(repr(v).replace(chr(39), chr(34)) for v in value)}]')
        else:
            parts.append(f'{key} = "{value}"')
    return "{ " + ", ".join(parts) + " }"


def _wait(url: str, process: subprocess.Popen[bytes], what: str, errors: Path,
          timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = errors.read_text(errors="replace").strip()[-800:]
            raise ConfigurationError(f"{what} exited early: {tail}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.02)  # not listening yet: poll again
    raise ConfigurationError(f"{what} did not start within {timeout:.0f} s")


@contextmanager
def _process(argv: Sequence[str], ready: str, what: str, workdir: Path) -> Iterator[None]:
    errors = workdir / f"{what.replace(' ', '-')}.log"
    with open(errors, "wb") as sink:
        process = subprocess.Popen(list(argv), cwd=workdir, stdout=subprocess.DEVNULL,
                                   stderr=sink, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            _wait(ready, process, what, errors)
            yield
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def start_stack(cast: Cast, workdir: Path) -> Iterator[Stack]:
    """Write the configurations and run every process until the block ends."""
    mcp_port, api_port, gw_port, wit_port = (_free_port() for _ in range(4))
    mcp_aud, gw_aud = f"http://127.0.0.1:{mcp_port}", f"http://127.0.0.1:{gw_port}"
    receivers = {"mcp": workdir / "mcp-receiver.toml", "gateway": workdir / "gateway.toml"}
    receivers["mcp"].write_text(_receiver_toml(cast, mcp_aud, "mcp", workdir))
    body = _receiver_toml(cast, gw_aud, "gateway", workdir)
    body = body.replace("[[trust_anchors]]", "[[receiver.trust_anchors]]").replace(
        "[trust_anchors.ceiling]", "[receiver.trust_anchors.ceiling]")
    receivers["gateway"].write_text(
        "[receiver]\n" + body +
        f'[http]\nupstream = "http://127.0.0.1:{api_port}"\npublic_paths = ["/health"]\n'
        '[http.routes]\n"GET /customers/{id}" = "read_customer"\n'
        '"POST /export" = "export_customers"\n')
    log_key = workdir / "log.key"
    PrivateKey.generate().save(log_key)
    archive = workdir / "chains.db"
    writ = [PY, "-m", "writ.cli"]
    vkeys = [_vkey(log_key)]
    with ExitStack() as stack:
        stack.enter_context(_process(
            [PY, "-m", "writ.demo.customer_api", "--port", str(api_port)],
            f"http://127.0.0.1:{api_port}/health", "customer api", workdir))
        stack.enter_context(_process(
            [PY, "-m", "writ.demo.mcp_server", "--config", str(receivers["mcp"]), "--port",
             str(mcp_port), "--archive", str(archive)], f"{mcp_aud}/mcp", "mcp server", workdir))
        stack.enter_context(_process(
            [*writ, "gateway", "--config", str(receivers["gateway"]), "--port", str(gw_port)],
            f"{gw_aud}/healthz", "gateway", workdir))
        stack.enter_context(_process(
            [*writ, "witness", "serve", "--state", str(workdir / "witness.db"), "--key",
             str(workdir / "witness.key"), "--port", str(wit_port),
             *[a for v in vkeys for a in ("--log", v)]],
            f"http://127.0.0.1:{wit_port}/add-checkpoint", "witness", workdir))
        yield Stack(workdir=workdir, mcp_url=f"{mcp_aud}/mcp", mcp_audience=mcp_aud,
                    gateway=gw_aud, witness=f"http://127.0.0.1:{wit_port}",
                    log=f"sqlite://{workdir / 'decisions.db'}", log_key=log_key,
                    receivers=receivers, archive=archive)


def _vkey(key: Path) -> str:
    from writ.log._note import Ed25519Verifier

    return Ed25519Verifier(LOG_ORIGIN, PrivateKey.load(key).public_key).vkey
