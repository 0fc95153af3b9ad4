"""``writ log …``: read, prove, export and verify the decision log (glue over ``writ.log``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

from writ._config import ReceiverConfig
from writ._errors import ConfigurationError, MalformedError
from writ._json import loads_strict
from writ._keys import PrivateKey, PublicKey
from writ.cli._inputs import read_json_arg, write_text
from writ.cli._output import EXIT_DENY, emit, fail, guarded, stderr, stdout
from writ.log._appender import open_log_reader
from writ.log._storage import LogReader

__all__ = ["register"]

log_app = typer.Typer(help="Read, prove, export and verify the decision log.",
                      no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
LogOpt = Annotated[str | None, typer.Option("--log", help="Log URL (sqlite:…, postgresql:…).")]
ReceiverOpt = Annotated[Path | None, typer.Option(help="RECEIVER.toml naming the log.")]


def _reader(log: str | None, receiver: Path | None) -> LogReader:
    if log is None and receiver is not None:
        log = ReceiverConfig.load(receiver).log
    if log is None:
        raise ConfigurationError("name the log with --log URL or --receiver FILE")
    return open_log_reader(log)


def _record(data: bytes) -> Any:
    try:
        return loads_strict(data)
    except MalformedError:
        return {"raw": data.hex()}


def _hex(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


@log_app.command("tail")
def tail_cmd(log: LogOpt = None, receiver: ReceiverOpt = None,
             n: Annotated[int, typer.Option("-n", help="How many entries.")] = 20,
             as_json: JsonOpt = False) -> None:
    """The last N decisions."""
    with guarded():
        reader = _reader(log, receiver)
        size = reader.size()
        rows = [{"index": i, **_record(e)} for i, e in
                zip(range(max(0, size - n), size), reader.entries(max(0, size - n), size))]
        reader.close()

        def human() -> None:
            for row in rows:
                chain = row.get("chain") or {}
                stdout.print(f"{row['index']:>6} {row.get('decision', '?'):5} "
                             f"{row.get('code') or '':20} {row.get('tool') or '':18} "
                             f"{(chain.get('agent') or '')[-16:]}")
        emit(rows, as_json=as_json, human=human)


@log_app.command("show")
def show_cmd(index: int, log: LogOpt = None, receiver: ReceiverOpt = None,
             as_json: JsonOpt = False) -> None:
    """One decision record."""
    with guarded():
        reader = _reader(log, receiver)
        if not 0 <= index < reader.size():
            fail(f"index {index} is outside the log (size {reader.size()})")
        record = {"index": index, "leaf_hash": reader.leaf_hash(index).hex(),
                  "record": _record(reader.entry(index))}
        reader.close()
        emit(record, as_json=as_json,
             human=lambda: stdout.print_json(json.dumps(record)))


@log_app.command("prove")
def prove_cmd(index: int, log: LogOpt = None, receiver: ReceiverOpt = None,
              size: Annotated[int | None, typer.Option(help="Tree size (default: now).")] = None,
              as_json: JsonOpt = False) -> None:
    """The RFC 9162 inclusion proof of entry INDEX."""
    with guarded():
        reader = _reader(log, receiver)
        size = reader.size() if size is None else size
        out = {"index": index, "tree_size": size, "leaf_hash": reader.leaf_hash(index).hex(),
               "root": reader.root(size).hex(), "proof": _hex(reader.inclusion_proof(index, size))}
        reader.close()
        emit(out, as_json=as_json, human=lambda: stdout.print_json(json.dumps(out)))


@log_app.command("consistency")
def consistency_cmd(old: int, new: int, log: LogOpt = None, receiver: ReceiverOpt = None,
                    as_json: JsonOpt = False) -> None:
    """The RFC 9162 consistency proof between two tree sizes."""
    with guarded():
        reader = _reader(log, receiver)
        out = {"old_size": old, "new_size": new, "old_root": reader.root(old).hex(),
               "new_root": reader.root(new).hex(),
               "proof": _hex(reader.consistency_proof(old, new))}
        reader.close()
        emit(out, as_json=as_json, human=lambda: stdout.print_json(json.dumps(out)))


def _latest_note(reader: LogReader) -> str:
    signed = [c for c in reader.checkpoints() if c.note]
    if not signed:
        raise ConfigurationError("the log has no signed checkpoint yet")
    note = signed[-1].note
    assert note is not None
    return note.decode("utf-8")


@log_app.command("checkpoint")
def checkpoint_cmd(log: LogOpt = None, receiver: ReceiverOpt = None,
                   as_json: JsonOpt = False) -> None:
    """The latest signed checkpoint (C2SP tlog-checkpoint as a signed note)."""
    with guarded():
        reader = _reader(log, receiver)
        note = _latest_note(reader)
        reader.close()
        emit({"checkpoint": note}, as_json=as_json, human=lambda: stdout.out(note, end=""))


def _log_key(pubkey: str) -> PublicKey | str:
    """A key file, a public JWK (inline or file), or a C2SP vkey string."""
    path = Path(pubkey)
    if "+" in pubkey and not path.exists():
        return pubkey
    data = read_json_arg(pubkey, "pubkey")
    if isinstance(data, dict) and "d" in data:
        return PrivateKey.from_jwk(data).public_key
    return PublicKey.from_jwk(data)


@log_app.command("export")
def export_cmd(out: Annotated[Path, typer.Option("-o", "--out", help="Bundle file.")],
               log: LogOpt = None, receiver: ReceiverOpt = None,
               from_: Annotated[int, typer.Option("--from", help="First entry.")] = 0,
               to: Annotated[int | None, typer.Option("--to", help="End (exclusive).")] = None,
               as_json: JsonOpt = False) -> None:
    """Write a self-contained bundle: entries, checkpoint, proofs and the log's keys."""
    from writ.log._bundle import export_bundle
    from writ.log._checkpoint import Checkpoint
    from writ.log._note import Note

    with guarded():
        reader = _reader(log, receiver)
        note = _latest_note(reader)
        origin = Checkpoint.parse(Note.parse(note).text).origin
        vkey = _vkey_of_note(note, origin, receiver)
        bundle = export_bundle(reader, note, [vkey], start=from_, stop=to)
        reader.close()
        write_text(str(out), json.dumps(bundle))
        summary = {"bundle": str(out), "origin": origin, "entries": bundle.get("stop", 0) -
                   bundle.get("start", 0)}
        emit(summary, as_json=as_json, human=lambda: stdout.print(
            f"wrote {out}: {summary['entries']} entries of {origin}"))


def _vkey_of_note(note: str, origin: str, receiver: Path | None) -> str:
    from writ.log._note import Ed25519Verifier

    if receiver is not None:
        config = ReceiverConfig.load(receiver)
        if config.log_key:
            return Ed25519Verifier(origin, PrivateKey.load(config.log_key).public_key).vkey
    raise ConfigurationError("export needs the log key: pass --receiver (its log_key)")


@log_app.command("verify")
def verify_cmd(bundle: Path,
               pubkey: Annotated[str | None, typer.Option(
                   help="The log's public key: key/JWK file, inline JWK or vkey.")] = None,
               as_json: JsonOpt = False) -> None:
    """Verify a bundle offline, with no database; exit 0 ok, 1 on any problem."""
    from writ.log._audit import verify_bundle

    with guarded():
        data = bundle.read_bytes()
        key = _log_key(pubkey) if pubkey else None
        if as_json:
            report = verify_bundle(data, key)
        else:
            with Progress(console=stderr, transient=True) as progress:
                task = progress.add_task("verifying entries", total=None)
                report = verify_bundle(data, key, progress=lambda done, total: progress.update(
                    task, completed=done, total=total))
        out = {"ok": report.ok, "origin": report.origin, "tree_size": report.tree_size,
               "entries_verified": report.entries_verified, "complete": report.complete,
               "key_source": report.key_source, "checks": list(report.checks),
               "problems": [{"code": p.code, "message": p.message, "index": p.index}
                            for p in report.problems]}

        def human() -> None:
            for check in report.checks:
                stdout.print(f"[green]✓[/] {check}")
            for p in report.problems:
                stdout.print(f"[red]✗ {p.code}[/]: {p.message}")
            if report.key_source == "bundle":
                stdout.print("[yellow]! no --pubkey given: checked against the keys the bundle "
                             "lists, which proves only internal consistency[/]")
            stdout.print("[bold green]bundle verifies[/]" if report.ok
                         else "[bold red]bundle does NOT verify[/]")
        emit(out, as_json=as_json, human=human)
        if not report.ok:
            raise typer.Exit(EXIT_DENY)


@log_app.command("verify-receipt")
def verify_receipt_cmd(receipt: str,
                       pubkey: Annotated[str, typer.Option(help="The log's public key.")],
                       leaf: Annotated[Path | None, typer.Option(
                           help="The decision record the receipt is for.")] = None,
                       as_json: JsonOpt = False) -> None:
    """Verify a receipt (file, JSON, or Writ-Receipt header value) offline."""
    from writ.log._receipt import verify_receipt

    with guarded():
        path = Path(receipt)
        text = path.read_text().strip() if path.exists() else receipt.strip()
        result = verify_receipt(text, _log_key(pubkey), leaf.read_bytes() if leaf else None)
        out = {"ok": result.ok, "code": result.code, "reason": result.reason,
               "index": result.index}
        emit(out, as_json=as_json, human=lambda: stdout.print(
            ("[green]receipt verifies[/]" if result.ok else f"[red]{result.code}[/]") +
            f": {result.reason}"))
        if not result.ok:
            raise typer.Exit(EXIT_DENY)


def register(app: typer.Typer) -> None:
    """Attach ``writ log``."""
    app.add_typer(log_app, name="log")
