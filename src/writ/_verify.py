"""The receiver's verifier: one decision per call, made before the action runs.

The steps, in order (AAT draft-02 §7 with Writ's steps added; DESIGN §3):

 1–2  size limits and distinct token ids (draft steps 1, 2a–2c)
 3    chain: signatures, root against its trust anchor and ceiling, links I1–I5,
      structure (draft steps 3, 4, 5), cached; expiry and issue times every call
 4    scope: tool and arguments against the leaf and every ancestor (draft 6a, 6b)
      and chain audience (draft 6c)
 5    holder proof: the PoP JWT or the RFC 9421 signature (draft 7a–7h)
 6    revocation of any token in the chain
 7    replay: the proof's jti, and a receiver nonce, used once
 8    approval gates
 9    budgets and rate limits, debited atomically for every token in the chain
 10   the decision is appended to the log, durably
 11   allow

Scope (4) precedes the proof (5) as in the draft, whose vectors pin it (J.20.3).
Every failure is a ``Decision`` with a stable code; nothing raised by hostile input
escapes ``check``. Any store or log failure denies with ``state_unavailable``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from writ import _record
from writ._approval_request import Binding, args_hash, check_approvals
from writ._budget import parse_amount
from writ._chain import ChainVerifier, VerifiedChain, check_scope, claimed_root
from writ._config import ReceiverConfig
from writ._decision import CODES, Decision, Denial
from writ._errors import MalformedError, StoreUnavailable
from writ._holder import HolderProof, PopProof
from writ._nonce import NonceIssuer
from writ._token import new_id
from writ.stores import Charge, Stores, open_stores

__all__ = ["Verifier"]


class Verifier:
    """Decides calls for one receiver; safe to share between threads of one process."""

    def __init__(
        self,
        config: ReceiverConfig,
        *,
        stores: Stores | None = None,
        log: Any = None,
        clock: Callable[[], float] = time.time,
        nonces: NonceIssuer | None = None,
        cache_size: int = 4096,
        observers: Sequence[Callable[[Decision, float], None]] = (),
        on_new_chain: Callable[[VerifiedChain], None] | None = None,
    ) -> None:
        self.config = config
        self.observers = list(observers)  # called with (decision, seconds) after each decision
        self.stores = stores if stores is not None else open_stores(config.state)
        self.log = log
        self.clock = clock
        self.nonces = nonces or NonceIssuer()
        self._on_new_chain = on_new_chain
        self._chains = ChainVerifier(config, cache_size=cache_size, on_new_chain=on_new_chain)

    def reload(self, config: ReceiverConfig) -> None:
        """Swap in a new configuration (trust anchors, limits); drops every cached chain."""
        self.config = config
        self._chains = ChainVerifier(config, cache_size=self._chains._cache_size,
                                     on_new_chain=self._on_new_chain)

    def verify_chain(self, chain: Sequence[str], *, now: float | None = None) -> VerifiedChain:
        """Only the chain steps (signatures, links, anchor, ceiling, time): for listings that
        carry no per-call proof. Raises ``Denial``; a call is still decided by ``check``."""
        return self._chains.verify(chain, now=self.clock() if now is None else now)

    def issue_nonce(self, *, now: float | None = None) -> str:
        """A fresh receiver nonce for a challenge."""
        return self.nonces.issue(now=self.clock() if now is None else now)

    def deny(self, code: str, detail: str, *, tool: str | None = None,
             now: float | None = None) -> Decision:
        """A denial a transport decided before the verifier could (malformed request, size);
        logged like any other decision."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        decision = self._finish(False, code, CODES[code][1], None, detail, new_id(), None, tool,
                                None, None, now, {})
        return self._observed(decision, started)

    def _observed(self, decision: Decision, started: float) -> Decision:
        elapsed = time.perf_counter() - started
        for observer in self.observers:
            with contextlib.suppress(Exception):  # metrics and logs must never change a decision
                observer(decision, elapsed)
        return decision

    def check(
        self,
        *,
        chain: Sequence[str],
        pop: str | None,
        tool: str,
        args: Mapping[str, Any],
        now: float | None = None,
        nonce: str | None = None,
        approvals: Sequence[str] = (),
    ) -> Decision:
        """Decide one MCP-style call carrying an ``aat-pop+jwt``; ``nonce`` is one we issued."""
        proof = PopProof(pop) if pop else None
        return self.decide(chain=chain, proof=proof, tool=tool, args=args, now=now,
                           expected_nonce=nonce, approvals=approvals)

    def decide(
        self,
        *,
        chain: Sequence[str],
        proof: HolderProof | None,
        tool: str,
        args: Mapping[str, Any],
        now: float | None = None,
        expected_nonce: str | None = None,
        approvals: Sequence[str] = (),
    ) -> Decision:
        """Decide one call whose holder proof is ``proof`` (PoP JWT or HTTP signature)."""
        started = time.perf_counter()
        decision = self._decide(chain=chain, proof=proof, tool=tool, args=args, now=now,
                                expected_nonce=expected_nonce, approvals=approvals)
        return self._observed(decision, started) if self.observers else decision

    def _decide(self, *, chain: Sequence[str], proof: HolderProof | None, tool: str,
                args: Mapping[str, Any], now: float | None, expected_nonce: str | None,
                approvals: Sequence[str]) -> Decision:
        now = self.clock() if now is None else now
        decision_id = new_id()
        if not isinstance(now, (int, float)) or not math.isfinite(now):
            # Every time check would pass against NaN: an unusable clock must fail closed.
            return self._finish(False, "state_unavailable", CODES["state_unavailable"][1],
                                None, "the clock is not a finite number", decision_id, None,
                                tool, args, None, 0.0, {})
        verified: VerifiedChain | None = None
        charged: dict[str, Any] = {}
        try:
            if not chain or proof is None:
                raise Denial("proof_missing", "no chain or no holder proof", step="1",
                             extra={"challenge": True})
            if not isinstance(tool, str) or not isinstance(args, Mapping) \
                    or not all(isinstance(k, str) for k in args):
                raise Denial("proof_invalid", "tool is a string and args a JSON object")
            verified = self._chains.verify(chain, now=now)
            check_scope(verified, tool, args)
            self._check_chain_audience(verified)
            proof.verify(verified.leaf, tool=tool, args=args, now=now, config=self.config,
                         expected_nonce=expected_nonce, nonces=self.nonces)
            self._check_revocation(verified)
            self._check_replay(verified, proof, now)
            self._check_approval(verified, proof, tool, args, approvals, now)
            charged = self._charge(verified, tool, args, now)
            return self._finish(True, None, "allowed", None, None, decision_id, verified, tool,
                                args, proof, now, charged, approvals=approvals)
        except Denial as denial:
            extra = dict(denial.extra)
            if verified is None:
                extra["claimed"] = claimed_root(chain)
            return self._finish(False, denial.code, CODES[denial.code][1], denial.step,
                                denial.detail, decision_id, verified, tool, args, proof, now,
                                charged, extra=extra, approvals=approvals)
        except StoreUnavailable as exc:
            return self._finish(False, "state_unavailable", CODES["state_unavailable"][1], None,
                                str(exc), decision_id, verified, tool, args, proof, now, charged)
        except (MalformedError, ValueError, TypeError, KeyError, RecursionError) as exc:
            # Defence in depth: hostile input must deny, never raise (STYLE rule 5).
            return self._finish(False, "proof_invalid", CODES["proof_invalid"][1], None,
                                f"unexpected input: {exc!r}", decision_id, verified, tool, args,
                                proof, now, charged)

    def _check_chain_audience(self, verified: VerifiedChain) -> None:
        carried = [w.aud for w in verified.writs if w.aud is not None]
        for aud in carried:
            if not self.config.identifies_us(aud):
                raise Denial("audience_mismatch", "a token in the chain names another audience",
                             step="6c")
        if self.config.require_chain_audience and not carried:
            raise Denial("audience_mismatch", "no token in the chain names an audience",
                         step="6c")

    def _check_revocation(self, verified: VerifiedChain) -> None:
        position = {w.jti: i for i, w in enumerate(verified.writs)}
        for revocation in self.stores.revocations.find(list(position)):
            index = position.get(revocation.jti)
            if index is None:
                continue
            # Who may revoke token i: its root's anchor, any holder above it, or its own holder.
            allowed = {verified.anchor.key.thumbprint_uri,
                       *(w.holder.thumbprint_uri for w in verified.writs[: index + 1])}
            if revocation.signer in allowed:
                raise Denial("revoked", f"token {index} ({revocation.jti}) is revoked",
                             step="revocation")

    def _check_replay(self, verified: VerifiedChain, proof: HolderProof, now: float) -> None:
        replay = self.stores.replay
        until = proof.replay_until(self.config.limits)
        key = f"pop:{verified.leaf.holder.thumbprint}:{proof.replay_id}"
        if not replay.add_once(key, expires_at=until, now=now):
            raise Denial("replayed", "this proof was already presented", step="replay")
        if proof.nonce is not None and self.config.require_nonce:
            expires = self.nonces.expires_at(proof.nonce, now=now)
            if not replay.add_once(f"nonce:{proof.nonce}", expires_at=expires, now=now):
                raise Denial("replayed", "this receiver nonce was already used", step="replay")

    def _check_approval(self, verified: VerifiedChain, proof: HolderProof, tool: str,
                        args: Mapping[str, Any], approvals: Sequence[str], now: float) -> None:
        gates = [g for w in verified.writs if w.approval for g in w.approval.gates_for(tool, args)]
        if not gates:
            return
        binding = Binding(tool=tool, args_hash=args_hash(args), aud=self.config.audiences[0],
                          agent=verified.leaf.holder.thumbprint_uri, request=proof.replay_id)
        request = check_approvals(approvals, gates=gates, binding=binding,
                                  audiences=self.config.audiences, args=args,
                                  summary=verified.summary, now=now,
                                  skew=self.config.limits.max_iat_skew)
        until = now + max(g.max_age for g in gates) + self.config.limits.max_iat_skew
        if not self.stores.replay.add_once(f"approval:{binding.agent}:{request}",
                                           expires_at=until, now=now):
            raise Denial("approval_invalid", "these approvals were already used", step="approval")

    def _charge(self, verified: VerifiedChain, tool: str, args: Mapping[str, Any],
                now: float) -> dict[str, Any]:
        charges = []
        for writ in verified.writs:
            budget = writ.budget
            if budget is None:
                continue
            amount = Decimal(0)
            if budget.spend is not None and budget.spend.arg in args:
                try:
                    amount = parse_amount(args[budget.spend.arg])
                except MalformedError as exc:
                    raise Denial("argument_violation", str(exc), step="budget") from None
            charges.append(Charge(
                key=writ.jti, calls_max=budget.calls,
                rate_count=budget.rate.count if budget.rate else None,
                rate_per_s=budget.rate.per_s if budget.rate else None,
                spend_max=budget.spend.max if budget.spend else None, amount=amount,
                expires_at=float(writ.exp)))
        if not charges:
            return {}
        result = self.stores.counters.charge(charges, now=now)
        if not result.ok:
            code = result.code if result.code in CODES else "budget_exhausted"
            raise Denial(code, f"limit reached on token {result.key}", step="budget")
        return {"tokens": [c.key for c in charges], "amount": str(charges[-1].amount)}

    def _finish(self, allowed: bool, code: str | None, reason: str, step: str | None,
                detail: str | None, decision_id: str, verified: VerifiedChain | None, tool: Any,
                args: Any, proof: HolderProof | None, now: float, charged: dict[str, Any],
                extra: dict[str, Any] | None = None, approvals: Sequence[str] = ()) -> Decision:
        summary = verified.summary if verified is not None else None
        receipt = None
        if self.log is not None:
            leaf = _record.encode_safely(decision_id=decision_id, now=now, config=self.config,
                                         tool=tool, args=args, allowed=allowed, code=code,
                                         step=step, detail=detail, summary=summary, proof=proof,
                                         salt_key=getattr(self.log, "salt_key", None),
                                         approvals=approvals,
                                         claimed=(extra or {}).get("claimed"))
            try:
                receipt = self.log.append(leaf)
            except StoreUnavailable as exc:
                allowed, code, reason = False, "state_unavailable", CODES["state_unavailable"][1]
                detail = f"decision log: {exc}"
        challenge = None
        if not allowed and code in ("proof_missing", "proof_invalid", "expired", "replayed"):
            challenge = {"nonce": self.issue_nonce(now=now), "aud": self.config.audiences[0]}
        if extra and "approval_request" in extra:
            challenge = {"approval_request": extra["approval_request"]}
        return Decision(allowed=allowed, code=code, reason=reason, step=step, detail=detail,
                        decision_id=decision_id, chain=summary,
                        tool=tool if isinstance(tool, str) else None, charged=charged,
                        challenge=challenge, receipt=receipt)
