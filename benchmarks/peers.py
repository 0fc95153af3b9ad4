"""The peer workloads: the same depth-3 delegation and tool call, in tenuo and in biscuit.

The workload, shared with ``bench_verify``: a root grant of ``transfer`` with
``amount`` in 0..10000 and ``currency`` one of USD/EUR/GBP, then three
delegations each narrowing it (5000 USD/EUR, 2000 USD/EUR, 1000 USD), four
tokens in all, Ed25519 throughout; the call is ``transfer(amount=250,
currency="USD")``. Each builder also checks that an out-of-scope call is refused,
so a row can never time a check that lets everything through.

The peers are optional (the ``bench`` extra): a builder returns a string saying
why its peer is missing instead of cases.
"""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _timing import Case

__all__ = ["ARGS", "BAD_ARGS", "MISSING", "NARROWING", "ROOT_SCOPE", "TOOL", "TTL", "biscuit_cases",
           "tenuo_cases"]

TOOL = "transfer"
ARGS: dict[str, Any] = {"amount": 250, "currency": "USD"}
BAD_ARGS: dict[str, Any] = {"amount": 1500, "currency": "USD"}  # inside the root, outside the leaf
ROOT_SCOPE: tuple[int, tuple[str, ...]] = (10_000, ("USD", "EUR", "GBP"))
NARROWING: tuple[tuple[int, tuple[str, ...]], ...] = (
    (5_000, ("USD", "EUR")), (2_000, ("USD", "EUR")), (1_000, ("USD",)))
MISSING = "not installed (pip install -e '.[bench]')"
TTL = 3600


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# --- tenuo ---------------------------------------------------------------------------


def _tenuo_chain(core: Any) -> tuple[list[Any], Any, Any]:
    """(warrants root..leaf, leaf holder key, root key) for the shared workload."""
    root = core.SigningKey.generate()
    holders = [core.SigningKey.generate() for _ in range(4)]

    def caps(limit: int, currencies: tuple[str, ...]) -> dict[str, Any]:
        return {TOOL: {"amount": core.Range(0, limit), "currency": core.OneOf(list(currencies))}}

    warrants = [core.Warrant.issue(root, capabilities=caps(*ROOT_SCOPE), ttl_seconds=TTL,
                                   holder=holders[0].public_key)]
    for i, scope in enumerate(NARROWING):
        warrants.append(warrants[-1].attenuate(caps(*scope), holders[i],
                                               holder=holders[i + 1].public_key))
    return warrants, holders[3], root


def tenuo_cases() -> list[Case] | str:
    """tenuo: decode the wire stack + ``check_chain``, and ``check_chain`` on decoded warrants."""
    core = _module("tenuo_core")
    if core is None:
        return MISSING
    warrants, leaf_key, root = _tenuo_chain(core)
    authorizer = core.Authorizer(trusted_roots=[root.public_key])
    wire = core.encode_warrant_stack(warrants)
    decode, check = core.decode_warrant_stack_base64, authorizer.check_chain
    # tenuo's PoP is windowed (30 s windows), not one-time, so one signature serves many calls;
    # its verifier tries successive windows, so an older PoP costs more: re-sign it before
    # every repetition to time the common case, a PoP from the current window.
    pop: dict[str, bytes] = {}

    def sign() -> None:
        pop["sig"] = bytes(warrants[-1].sign(leaf_key, TOOL, ARGS, int(time.time())))

    sign()
    check(decode(wire), TOOL, ARGS, signature=pop["sig"])
    bad = bytes(warrants[-1].sign(leaf_key, TOOL, BAD_ARGS, int(time.time())))
    try:
        check(warrants, TOOL, BAD_ARGS, signature=bad)
        refused = False
    except Exception:  # noqa: BLE001 - any refusal will do; tenuo raises several kinds
        refused = True
    if not refused:
        raise AssertionError("tenuo allowed a call outside the leaf's scope")
    note = f"tenuo {_version('tenuo')}"
    return [
        Case(name="tenuo decode + check_chain (d3)",
             op=lambda i: check(decode(wire), TOOL, ARGS, signature=pop["sig"]),
             note=note + "; base64 CBOR stack decoded per call, PoP signature", prepare=sign),
        Case(name="tenuo check_chain, pre-decoded (d3)",
             op=lambda i: check(warrants, TOOL, ARGS, signature=pop["sig"]),
             note=note + "; warrants decoded once, PoP signature", prepare=sign),
    ]


# --- biscuit -------------------------------------------------------------------------

_BLOCK = """check if operation("transfer"), amount($a), $a >= 0, $a <= {limit};
check if currency($c), {currencies}.contains($c);
check if time($t), $t <= {{exp}};"""

_REQUEST = """time({now}); operation("transfer"); amount({amount}); currency({currency});
allow if operation($op), right($op);"""


def _datalog_set(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _biscuit_token(bis: Any) -> tuple[str, Any]:
    """(base64 token, root public key): authority block plus three attenuation blocks."""
    root = bis.KeyPair()
    exp = datetime.now(tz=UTC) + timedelta(seconds=TTL)
    limit, currencies = ROOT_SCOPE
    authority = 'right("transfer");\n' + _BLOCK.format(limit=limit,
                                                       currencies=_datalog_set(currencies))
    token = bis.BiscuitBuilder(authority, {"exp": exp}).build(root.private_key)
    for limit, currencies in NARROWING:
        block = _BLOCK.format(limit=limit, currencies=_datalog_set(currencies))
        token = token.append(bis.BlockBuilder(block, {"exp": exp}))
    return token.to_base64(), root.public_key


def _biscuit_authorize(bis: Any, token: Any, args: dict[str, Any]) -> int:
    builder = bis.AuthorizerBuilder(_REQUEST, {"now": datetime.now(tz=UTC),
                                               "amount": args["amount"],
                                               "currency": args["currency"]})
    # biscuit's default Datalog time limit is 1 ms, which a GC pause or a context switch
    # can exceed on a loaded machine; a wider limit times the check, not the limit.
    limits = builder.limits()
    limits.max_time = timedelta(milliseconds=50)
    builder.set_limits(limits)
    return int(builder.build(token).authorize())


def biscuit_cases() -> list[Case] | str:
    """biscuit-python: parse + signature check + authorize, and authorize a parsed token."""
    bis = _module("biscuit_auth")
    if bis is None:
        return MISSING
    wire, root_key = _biscuit_token(bis)
    parsed = bis.Biscuit.from_base64(wire, root_key)
    assert parsed.block_count() == 4
    _biscuit_authorize(bis, parsed, ARGS)
    try:
        _biscuit_authorize(bis, parsed, BAD_ARGS)
    except bis.AuthorizationError:
        pass
    else:
        raise AssertionError("biscuit allowed a call outside the last block's checks")
    note = f"biscuit-python {_version('biscuit-python')}; BEARER: no holder proof"
    return [
        Case(name="biscuit decode + authorize (d3)",
             op=lambda i: _biscuit_authorize(bis, bis.Biscuit.from_base64(wire, root_key), ARGS),
             note=note + "; token parsed per call"),
        Case(name="biscuit authorize, pre-decoded (d3)",
             op=lambda i: _biscuit_authorize(bis, parsed, ARGS),
             note=note + "; token parsed once"),
    ]
