"""The verifier's Writ-specific steps: trust, ceilings, scope, replay, revocation, budgets."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from factory import ISS, NOW, Cast, receiver, verifier
from writ import Budget, PrivateKey, Rate, Spend, StoreUnavailable, sign_revocation
from writ._revocation import parse_revocation
from writ.stores import Charge, ChargeResult, open_stores

SCAN = {"port_scan": {"host": {"constraint_type": "cidr", "networks": ["10.20.0.0/16"]}}}


def call(v: Any, cast: Cast, chain: Sequence[str], args: dict[str, Any], *, tool: str = "port_scan",
         now: int = NOW, **pop: Any) -> Any:
    return v.check(chain=chain, pop=cast.pop(chain, tool, args, now=now, **pop), tool=tool,
                   args=args, now=now)


def test_in_scope_call_is_allowed_and_summarised() -> None:
    cast = Cast()
    chain = cast.root(SCAN, purpose="ENG-2291 external pentest")
    decision = call(verifier(receiver(cast.principal)), cast, chain, {"host": "10.20.3.4"})
    assert decision.allowed and decision.code is None
    assert decision.chain is not None
    assert decision.chain.principal == ISS
    assert decision.chain.purpose == "ENG-2291 external pentest"
    assert decision.chain.agent == cast.agents[0].public_key.thumbprint_uri


def test_self_issued_root_is_untrusted_whatever_its_purpose() -> None:
    target, rogue = Cast(), Cast()
    chain = rogue.root(SCAN, iss="https://legit-security-firm.example",
                       purpose="employee of a legitimate security firm doing defensive testing")
    decision = call(verifier(receiver(target.principal)), rogue, chain, {"host": "10.20.3.4"})
    assert not decision.allowed and decision.code == "untrusted_root"


def test_root_signed_by_another_key_under_an_enrolled_name_is_refused() -> None:
    target, impostor = Cast(), Cast()
    chain = impostor.root(SCAN)  # same iss string as the enrolled principal, other key
    decision = call(verifier(receiver(target.principal)), impostor, chain, {"host": "10.20.3.4"})
    assert not decision.allowed and decision.code == "proof_invalid" and decision.step == "3b"


def test_grant_wider_than_the_ceiling_is_refused() -> None:
    cast = Cast()
    config = receiver(cast.principal, ceiling={"port_scan": {
        "host": {"constraint_type": "cidr", "networks": ["10.20.0.0/16"]}}})
    wide = cast.root({"port_scan": {"host": {"constraint_type": "cidr", "networks": ["10.0.0.0/8"]}}})
    assert call(verifier(config), cast, wide, {"host": "10.20.3.4"}).code == "ceiling_exceeded"
    extra_tool = cast.root({**SCAN, "export_data": {}})
    assert call(verifier(config), cast, extra_tool, {"host": "10.20.3.4"}).code == "ceiling_exceeded"
    narrow = cast.root({"port_scan": {"host": {"constraint_type": "cidr",
                                               "networks": ["10.20.5.0/24"]}}})
    assert call(verifier(config), cast, narrow, {"host": "10.20.5.9"}).allowed


def test_out_of_scope_argument_and_tool_are_denied() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    v = verifier(receiver(cast.principal))
    assert call(v, cast, chain, {"host": "10.99.0.1"}).code == "argument_violation"
    assert call(v, cast, chain, {"host": "::ffff:10.99.0.1"}).code == "argument_violation"
    assert call(v, cast, chain, {}, tool="dump_credentials").code == "tool_not_granted"


def test_scope_is_checked_against_every_token_not_only_the_leaf() -> None:
    # A leaf narrower than its parent passes; the ancestor check must also hold.
    cast = Cast()
    chain = cast.extend(cast.root(SCAN), {"port_scan": {"host": {
        "constraint_type": "cidr", "networks": ["10.20.1.0/24"]}}})
    v = verifier(receiver(cast.principal))
    assert call(v, cast, chain, {"host": "10.20.1.7"}).allowed
    assert call(v, cast, chain, {"host": "10.20.2.7"}).code == "argument_violation"


def test_a_proof_is_accepted_once() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    v = verifier(receiver(cast.principal))
    pop = cast.pop(chain, "port_scan", {"host": "10.20.0.1"})
    first = v.check(chain=chain, pop=pop, tool="port_scan", args={"host": "10.20.0.1"}, now=NOW)
    again = v.check(chain=chain, pop=pop, tool="port_scan", args={"host": "10.20.0.1"}, now=NOW + 1)
    assert first.allowed and not again.allowed and again.code == "replayed"


def test_replay_protection_survives_a_restart_on_sqlite(tmp_path: Any) -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    state = f"sqlite://{tmp_path}/state.db"
    pop = cast.pop(chain, "port_scan", {"host": "10.20.0.1"})
    kwargs = {"chain": chain, "pop": pop, "tool": "port_scan", "args": {"host": "10.20.0.1"},
              "now": NOW}
    assert verifier(receiver(cast.principal), state=state).check(**kwargs).allowed
    assert verifier(receiver(cast.principal), state=state).check(**kwargs).code == "replayed"


def test_stolen_writ_without_the_holder_key_is_useless() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    thief = PrivateKey.generate()
    decision = call(verifier(receiver(cast.principal)), cast, chain, {"host": "10.20.0.1"},
                    key=thief)
    assert decision.code == "proof_invalid" and decision.step == "7b"


def test_pop_for_another_receiver_is_refused() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    v = verifier(receiver(cast.principal))
    assert call(v, cast, chain, {"host": "10.20.0.1"}, aud="https://other.example").code \
        == "audience_mismatch"
    # This receiver requires a PoP audience by default.
    assert call(v, cast, chain, {"host": "10.20.0.1"}, aud=None).code == "audience_mismatch"


def test_revocation_kills_the_whole_subtree_and_needs_authority(tmp_path: Any) -> None:
    cast = Cast()
    root = cast.root(SCAN)
    child = cast.extend(root, SCAN)
    stores = open_stores(f"sqlite://{tmp_path}/s.db")
    v = verifier(receiver(cast.principal), state=f"sqlite://{tmp_path}/s.db")
    assert call(v, cast, child, {"host": "10.20.0.1"}).allowed
    from writ import Writ
    root_jti = Writ.parse_unverified(root[0], root=True).jti
    # A stranger's statement is stored but carries no authority over this chain.
    stranger = PrivateKey.generate()
    stores.revocations.add(parse_revocation(sign_revocation(key=stranger, jti=root_jti, now=NOW)))
    assert call(v, cast, child, {"host": "10.20.0.2"}).allowed
    stores.revocations.add(parse_revocation(sign_revocation(key=cast.principal, jti=root_jti,
                                                            now=NOW)))
    decision = call(v, cast, child, {"host": "10.20.0.3"})
    assert decision.code == "revoked"
    assert call(v, cast, root, {"host": "10.20.0.4"}).code == "revoked"


def test_a_child_cannot_revoke_its_parent() -> None:
    cast = Cast()
    root = cast.root(SCAN)
    child = cast.extend(root, SCAN)
    stores = open_stores("memory:")
    from writ import Verifier, Writ
    v = Verifier(receiver(cast.principal), stores=stores)
    root_jti = Writ.parse_unverified(root[0], root=True).jti
    stores.revocations.add(parse_revocation(sign_revocation(key=cast.agents[1], jti=root_jti,
                                                            now=NOW)))
    assert call(v, cast, child, {"host": "10.20.0.1"}).allowed


def test_calls_budget_is_enforced_per_token_in_the_chain() -> None:
    cast = Cast()
    root = cast.root(SCAN, budget=Budget(calls=3))
    kids = [cast.extend(root, SCAN), cast.extend(root, SCAN)]  # siblings share the root budget
    v = verifier(receiver(cast.principal))
    outcomes = [call(v, cast, kids[i % 2], {"host": f"10.20.0.{i}"}, now=NOW + i) for i in range(5)]
    assert [d.allowed for d in outcomes] == [True, True, True, False, False]
    assert outcomes[3].code == "budget_exhausted"


def test_rate_limit_cuts_a_burst_and_recovers() -> None:
    cast = Cast()
    chain = cast.root(SCAN, budget=Budget(rate=Rate(count=5, per_s=10)))
    v = verifier(receiver(cast.principal))
    burst = [call(v, cast, chain, {"host": "10.20.0.1"}) for _ in range(8)]
    assert sum(d.allowed for d in burst) == 5
    assert {d.code for d in burst if not d.allowed} == {"rate_limited"}
    assert call(v, cast, chain, {"host": "10.20.0.1"}, now=NOW + 2).allowed


def test_spend_is_exact_decimal_and_refuses_floats() -> None:
    cast = Cast()
    tools = {"refund": {"amount": {"constraint_type": "wildcard"}}}
    budget = Budget(spend=Spend(arg="amount", currency="USD", max=Decimal("100.00")))
    chain = cast.root(tools, budget=budget)
    v = verifier(receiver(cast.principal))
    spends = [call(v, cast, chain, {"amount": a}, tool="refund") for a in ("33.33", "33.33",
                                                                           "33.33", "0.02")]
    assert [d.allowed for d in spends] == [True, True, True, False]
    assert call(v, cast, chain, {"amount": "0.01"}, tool="refund").allowed
    assert call(v, cast, chain, {"amount": 0.01}, tool="refund").code == "argument_violation"


class _BrokenCounters:
    def charge(self, charges: Sequence[Charge], *, now: float) -> ChargeResult:
        raise StoreUnavailable("counter store is down")


def test_store_failure_denies_with_state_unavailable() -> None:
    cast = Cast()
    chain = cast.root(SCAN, budget=Budget(calls=10))
    v = verifier(receiver(cast.principal))
    object.__setattr__(v.stores, "counters", _BrokenCounters())
    decision = call(v, cast, chain, {"host": "10.20.0.1"})
    assert not decision.allowed and decision.code == "state_unavailable"


class _BrokenLog:
    def append(self, leaf: bytes) -> Any:
        raise StoreUnavailable("disk full")


def test_no_allow_without_a_durable_log_entry() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    v = verifier(receiver(cast.principal), log=_BrokenLog())
    decision = call(v, cast, chain, {"host": "10.20.0.1"})
    assert not decision.allowed and decision.code == "state_unavailable"


def test_expired_and_future_writs() -> None:
    cast = Cast()
    chain = cast.root(SCAN, ttl=60)
    v = verifier(receiver(cast.principal))
    assert call(v, cast, chain, {"host": "10.20.0.1"}, now=NOW + 61).code == "expired"
    future = cast.root(SCAN, now=NOW + 120)
    assert call(v, cast, future, {"host": "10.20.0.1"}).code == "not_yet_valid"


def test_receiver_nonce_is_required_and_single_use() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    v = verifier(receiver(cast.principal, require_nonce=True))
    missing = call(v, cast, chain, {"host": "10.20.0.1"})
    assert missing.code == "proof_invalid" and missing.challenge and "nonce" in missing.challenge
    nonce = v.issue_nonce(now=NOW)
    assert call(v, cast, chain, {"host": "10.20.0.1"}, nonce=nonce).allowed
    reused = call(v, cast, chain, {"host": "10.20.0.1"}, nonce=nonce)
    assert reused.code == "replayed"
    forged = call(v, cast, chain, {"host": "10.20.0.1"}, nonce=nonce[:-2] + "AA")
    assert forged.code == "proof_invalid"


def test_chain_is_cached_but_expiry_is_not() -> None:
    cast = Cast()
    chain = cast.root(SCAN, ttl=100)
    v = verifier(receiver(cast.principal))
    assert call(v, cast, chain, {"host": "10.20.0.1"}).allowed
    assert call(v, cast, chain, {"host": "10.20.0.1"}, now=NOW + 100).code == "expired"


def test_cached_chain_with_a_swapped_signature_is_not_trusted() -> None:
    cast = Cast()
    chain = cast.root(SCAN)
    v = verifier(receiver(cast.principal))
    assert call(v, cast, chain, {"host": "10.20.0.1"}).allowed
    head, payload, sig = chain[0].split(".")
    forged = [f"{head}.{payload}.{sig[:-4]}AAAA"]
    assert call(v, cast, forged, {"host": "10.20.0.1"}).code == "proof_invalid"


def test_hostile_inputs_deny_without_raising() -> None:
    cast = Cast()
    v = verifier(receiver(cast.principal))
    for chain, pop, tool, args in [([], "x", "t", {}), (["a.b.c"], None, "t", {}),
                                   (["x" * 300_000], "p", "t", {}), ([1], "p", "t", {}),
                                   (["a.b.c"], "p", 7, {}), (["a.b.c"], "p", "t", [1])]:
        decision = v.check(chain=chain, pop=pop, tool=tool, args=args, now=NOW)  # type: ignore[arg-type]
        assert not decision.allowed and decision.code is not None


def test_a_verifier_without_a_chain_cache_still_decides() -> None:
    from writ import Verifier
    from writ.stores import open_stores

    cast = Cast()
    chain = cast.root(SCAN)
    v = Verifier(receiver(cast.principal), stores=open_stores("memory:"), cache_size=0)
    assert call(v, cast, chain, {"host": "10.20.0.1"}).allowed
    assert call(v, cast, chain, {"host": "10.20.0.2"}).allowed
