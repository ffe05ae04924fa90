"""The pure judge of one check: gates (mlops.yaml `deploy.canary.gates`) against an observed window.

Argo Rollouts' shape: a verdict is pass, fail or wait ("inconclusive": too few requests). Pure
functions only, so the gate table tests need no target and no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    requests, errors = a.requests + b.requests, a.errors + b.errors
    if a.latency and b.latency:  # histograms add up: the p95 of the union is exact
        bounds = dict(a.latency)
        latency = tuple((upper, count + bounds.get(upper, 0)) for upper, count in b.latency)
        p95 = histogram_quantile(0.95, latency)
        return Window(requests, errors, None if p95 is None else p95 * 1000, latency)
    if not (a.requests and b.requests):  # one side is empty: the other is the union
        return replace(b if b.requests else a, requests=requests, errors=errors)
    # Two p95s alone do not give the union's: keep the worse one (conservative for a gate).
    p95s = [p for p in (a.p95_ms, b.p95_ms) if p is not None]
    return Window(requests, errors, max(p95s) if p95s else None)


def histogram_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """Prometheus' histogram_quantile: find the bucket holding rank q * total, interpolate linearly in it
    (from 0 for the first bucket); a rank in the +Inf bucket gives the highest finite bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


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
    # Relative to stable only while stable carries live traffic too (at 100 % it serves none: an idle
    # server's p95 says nothing about the candidate's load).
    compared = stable is not None and window.stable.requests >= policy.min_requests
    if gates.max_p95_increase_ms is not None and compared and cand - stable > gates.max_p95_increase_ms:
        return [f"p95 latency {cand:.0f} ms > stable's {stable:.0f} ms + {gates.max_p95_increase_ms:.0f} ms"]
    return []


def _agreement(window: Observation, policy: Canary) -> list[str]:
    if not window.compared:
        return []
    share, floor = window.agreed / window.compared, policy.gates.min_prediction_agreement
    if share < floor:
        return [f"prediction agreement {window.agreed}/{window.compared} = {share:.1%} < {floor:.0%}"]
    return []
