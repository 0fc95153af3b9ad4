"""What the approver is shown matches what is signed; an inbox entry is decided at most once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from _approvals_kit import Gated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from writ._approval_request import Binding, approval_request, args_hash
from writ._decision import ChainSummary
from writ._errors import MalformedError
from writ.approvals import ApprovalRequest, DirInbox, Entry, SqliteInbox, find_request

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8)
arguments = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)
WORLD = Gated()


def request_for(args: dict[str, Any]) -> dict[str, Any]:
    binding = Binding(tool="transfer", args_hash=args_hash(args), aud="https://pay.example",
                      agent=WORLD.agent.public_key.thumbprint_uri, request="r-1")
    summary = ChainSummary(principal="https://treasury.example", purpose=None,
                           holders=(binding.agent,), tokens=(), token_hashes=())
    return approval_request(binding=binding, args=args, gates=WORLD.policy.gates,
                            summary=summary, now=WORLD.now)


@given(arguments)
def test_what_is_shown_is_what_is_bound(args: dict[str, Any]) -> None:
    parsed = ApprovalRequest.parse(request_for(args))
    assert parsed.args == args and args_hash(parsed.args) == parsed.binding.args_hash
    assert parsed.view(now=WORLD.now)["args"] == args
    assert parsed.may_sign(WORLD.keys[0])


@given(arguments, arguments)
def test_shown_arguments_other_than_the_bound_ones_are_refused(shown: dict[str, Any],
                                                               bound: dict[str, Any]) -> None:
    request = request_for(bound)
    request["args"] = shown
    if args_hash(shown) == args_hash(bound):
        ApprovalRequest.parse(request)
    else:
        with pytest.raises(MalformedError):
            ApprovalRequest.parse(request)


def test_the_wrappers_are_found_and_junk_is_not() -> None:
    request = request_for({"a": 1})
    for wrapped in (request, {"code": "approval_required", "approval_request": request},
                    {"challenge": {"approval_request": request}},
                    {"jsonrpc": "2.0", "error": {"data": {"challenge": {
                        "approval_request": request}}}}):
        assert find_request(wrapped) is request
    for junk in (None, [], {}, {"approval_request": "x"}, {"type": "other"}):
        with pytest.raises(MalformedError):
            find_request(junk)
    for field, value in (("binding", None), ("expires", "soon"), ("max_age", 0),
                         ("gates", []), ("args", [])):
        broken = copy.deepcopy(request)
        broken[field] = value
        with pytest.raises(MalformedError):
            ApprovalRequest.parse(broken)


operations = st.lists(st.tuples(st.sampled_from(["put", "approve", "deny"]),
                                st.integers(0, 3)), max_size=25)


@pytest.mark.parametrize("kind", ["sqlite", "dir"])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_an_entry_is_decided_at_most_once(tmp_path_factory: pytest.TempPathFactory, kind: str,
                                          ops: list[tuple[str, int]]) -> None:
    folder = tmp_path_factory.mktemp("inbox")
    inbox = SqliteInbox(str(folder / "i.db")) if kind == "sqlite" else DirInbox(folder / "d")
    model: dict[str, str] = {}
    for step, (op, n) in enumerate(ops):
        entry_id = f"e{n}"
        if op == "put":
            stored = inbox.put(Entry(id=entry_id, request={"n": n}, received=float(step)))
            model.setdefault(entry_id, "pending")
            assert stored.status == model[entry_id]
            continue
        status = "approved" if op == "approve" else "denied"
        done = inbox.decide(entry_id, status=status, approval="a.b.c" if op == "approve"
                            else None, now=float(step))
        if model.get(entry_id) == "pending":
            assert done is not None and done.status == status
            model[entry_id] = status
        else:
            assert done is None
    assert {e.id: e.status for e in inbox.entries()} == model


def test_open_inbox_picks_the_backend(tmp_path: Path) -> None:
    from writ.approvals import open_inbox

    assert isinstance(open_inbox(None), SqliteInbox)
    assert isinstance(open_inbox(str(tmp_path / "a.db")), SqliteInbox)
    assert isinstance(open_inbox(f"sqlite://{tmp_path}/b.sqlite3"), SqliteInbox)
    assert (tmp_path / "b.sqlite3").exists()
    assert isinstance(open_inbox(str(tmp_path / "folder")), DirInbox)
