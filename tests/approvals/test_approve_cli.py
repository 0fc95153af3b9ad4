"""``writ approve``: show the request, confirm, sign; exit 0 approved, 1 declined, 2 error."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from _approvals_kit import ARGS, Gated
from typer.testing import CliRunner

from writ import PrivateKey
from writ.cli._approve import register

RUN = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    register(app)
    return app


APP = _app()


def approve(*argv: str, code: int, stdin: str | None = None) -> Any:
    result = RUN.invoke(APP, ["approve", *argv], input=stdin)
    out = result.stdout + result.stderr
    assert result.exit_code == code, (argv, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in out
    return result


@pytest.fixture
def gated(tmp_path: Path) -> Gated:
    world = Gated()
    world.keys[0].save(tmp_path / "approver.key")
    (tmp_path / "request.json").write_text(json.dumps(world.request()))
    return world


def test_yes_signs_an_approval_the_verifier_accepts_once(tmp_path: Path, gated: Gated) -> None:
    result = approve(
        str(tmp_path / "request.json"), "--key", str(tmp_path / "approver.key"), "--yes", code=0
    )
    approval = result.stdout.strip()
    assert approval.count(".") == 2
    # The human saw the call: tool, arguments, receiver, chain, expiry.
    for shown in (
        "transfer",
        "acct-7",
        "250.00",
        "https://api.target.example",
        "https://security.target.example",
        gated.agent.public_key.thumbprint_uri,
        "Treasury run ENG-2026-114",
        "1 of 1 approvers",
        "expires",
    ):
        assert shown in result.stderr
    assert gated.ask(approvals=[approval]).allowed
    assert gated.ask(approvals=[approval]).code == "approval_invalid"


def test_interactive_yes_and_no(tmp_path: Path, gated: Gated) -> None:
    args = (str(tmp_path / "request.json"), "--key", str(tmp_path / "approver.key"))
    declined = approve(*args, code=1, stdin="n\n")
    assert declined.stdout.strip() in ("", "n")  # CliRunner echoes the typed answer

    assert "Approve this exact call?" in declined.stderr and "declined" in declined.stderr
    approved = approve(*args, code=0, stdin="y\n")
    assert gated.ask(approvals=[approved.stdout.split()[-1]]).allowed


def test_no_answer_is_no(tmp_path: Path, gated: Gated) -> None:
    approve(
        str(tmp_path / "request.json"), "--key", str(tmp_path / "approver.key"), code=1, stdin="\n"
    )


def test_problem_body_from_stdin_to_a_file_with_json(tmp_path: Path, gated: Gated) -> None:
    problem = {
        "type": "urn:writ:decision:approval_required",
        "code": "approval_required",
        "status": 403,
        "approval_request": gated.request(),
    }
    out = tmp_path / "approval.jws"
    result = approve(
        "-",
        "--key",
        str(tmp_path / "approver.key"),
        "--yes",
        "-o",
        str(out),
        "--json",
        code=0,
        stdin=json.dumps(problem),
    )
    data = json.loads(result.stdout)
    assert data["approval"] == out.read_text().strip()
    assert data["approver"] == gated.keys[0].public_key.thumbprint_uri
    assert gated.ask(approvals=[data["approval"]]).allowed


def test_an_mcp_error_is_accepted_too(tmp_path: Path, gated: Gated) -> None:
    error = {
        "code": "approval_required",
        "reason": "…",
        "challenge": {"approval_request": gated.request()},
    }
    (tmp_path / "error.json").write_text(json.dumps(error))
    result = approve(
        str(tmp_path / "error.json"), "--key", str(tmp_path / "approver.key"), "--yes", code=0
    )
    assert gated.ask(approvals=[result.stdout.strip()]).allowed


def test_stdin_without_yes_is_refused(tmp_path: Path, gated: Gated) -> None:
    result = approve(
        "-",
        "--key",
        str(tmp_path / "approver.key"),
        code=2,
        stdin=(tmp_path / "request.json").read_text(),
    )
    assert "--yes" in result.stderr


def test_an_expired_request_is_refused(tmp_path: Path) -> None:
    world = Gated(max_age=60, now=int(time.time()) - 120)  # asked two minutes ago
    world.keys[0].save(tmp_path / "approver.key")
    old = world.request()
    (tmp_path / "old.json").write_text(json.dumps(old))
    result = approve(
        str(tmp_path / "old.json"), "--key", str(tmp_path / "approver.key"), "--yes", code=2
    )
    assert "expired" in result.stderr and result.stdout == ""


@pytest.mark.parametrize("content", ["not json", '{"kty": "OKP"}', "[]", "\x00\xff"])
def test_a_bad_key_file_is_a_sentence(tmp_path: Path, gated: Gated, content: str) -> None:
    (tmp_path / "bad.key").write_text(content)
    result = approve(
        str(tmp_path / "request.json"), "--key", str(tmp_path / "bad.key"), "--yes", code=2
    )
    assert "error:" in result.stderr and result.stdout == ""


def test_a_missing_key_file_is_a_sentence(tmp_path: Path, gated: Gated) -> None:
    result = approve(
        str(tmp_path / "request.json"), "--key", str(tmp_path / "absent.key"), "--yes", code=2
    )
    assert "absent.key" in result.stderr


def test_a_key_outside_the_approvers_is_refused(tmp_path: Path, gated: Gated) -> None:
    PrivateKey.generate().save(tmp_path / "stranger.key")
    result = approve(
        str(tmp_path / "request.json"), "--key", str(tmp_path / "stranger.key"), "--yes", code=2
    )
    assert "not one of this request's approvers" in result.stderr


def test_arguments_that_do_not_match_the_binding_are_refused(tmp_path: Path, gated: Gated) -> None:
    # An agent shows the human a harmless amount while the binding hashes the real one.
    request = gated.request({**ARGS, "amount": "9999.00"})
    request["args"] = ARGS
    (tmp_path / "forged.json").write_text(json.dumps(request))
    result = approve(
        str(tmp_path / "forged.json"), "--key", str(tmp_path / "approver.key"), "--yes", code=2
    )
    assert "args_hash" in result.stderr


@pytest.mark.parametrize(
    "content", ["{}", "[1]", '{"type": "writ-approval-request"}', "{", '{"a": 1, "a": 2}']
)
def test_not_a_request_is_a_sentence(tmp_path: Path, gated: Gated, content: str) -> None:
    (tmp_path / "junk.json").write_text(content)
    result = approve(
        str(tmp_path / "junk.json"), "--key", str(tmp_path / "approver.key"), "--yes", code=2
    )
    assert "error:" in result.stderr


def test_a_missing_request_file_is_a_sentence(tmp_path: Path, gated: Gated) -> None:
    approve(str(tmp_path / "nope.json"), "--key", str(tmp_path / "approver.key"), "--yes", code=2)
