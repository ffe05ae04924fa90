"""The pure judge of one check: gates (mlops.yaml `deploy.canary.gates`) against an observed window.

Argo Rollouts' shape: a verdict is pass, fail or wait ("inconclusive": too few requests). Pure
functions only, so the gate table tests need no target and no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..config import Canary
from .target import Observation, Window


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WAIT = "wait"


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    reasons: list[str] = field(default_factory=list)  # each failed gate with its figures


def merge(a: Observation, b: Observation) -> Observation:
    """Two windows as one (a verdict can need several intervals' worth of requests)."""
    return Observation(
        stable=_merge_side(a.stable, b.stable),
        candidate=_merge_side(a.candidate, b.candidate),
        agreed=a.agreed + b.agreed,
        compared=a.compared + b.compared,
    )


def _merge_side(a: Window, b: Window) -> Window:
    # p95 of the union is unknown from two p95s: keep the worse one (conservative for a gate).
    p95s = [p for p in (a.p95_ms, b.p95_ms) if p is not None]
    return Window(a.requests + b.requests, a.errors + b.errors, max(p95s) if p95s else None)


def judge(window: Observation, policy: Canary) -> Check:
    """The verdict on `window`, the candidate's traffic (live or mirrored) since the last verdict."""
    gates, cand = policy.gates, window.candidate
    # Errors already beyond the limit for a full sample: enough evidence, fail now (fast rollback).
    if cand.errors > gates.max_error_rate * max(cand.requests, policy.min_requests):
        return Check(Verdict.FAIL, [f"error rate {cand.errors}/{cand.requests} > {gates.max_error_rate:.2%}"])
    if cand.requests < policy.min_requests:
        return Check(Verdict.WAIT)
    reasons = [*_latency(window, policy), *_agreement(window, policy)]
    return Check(Verdict.FAIL if reasons else Verdict.PASS, reasons)


def _latency(window: Observation, policy: Canary) -> list[str]:
    gates, cand, stable = policy.gates, window.candidate.p95_ms, window.stable.p95_ms
    if cand is None:
        return []
    if cand > gates.max_p95_latency_ms:
        return [f"p95 latency {cand:.0f} ms > {gates.max_p95_latency_ms:.0f} ms"]
    if gates.max_p95_increase_ms is not None and stable is not None and cand - stable > gates.max_p95_increase_ms:
        return [f"p95 latency {cand:.0f} ms > stable's {stable:.0f} ms + {gates.max_p95_increase_ms:.0f} ms"]
    return []


def _agreement(window: Observation, policy: Canary) -> list[str]:
    if not window.compared:
        return []
    share, floor = window.agreed / window.compared, policy.gates.min_prediction_agreement
    if share < floor:
        return [f"prediction agreement {window.agreed}/{window.compared} = {share:.1%} < {floor:.0%}"]
    return []
