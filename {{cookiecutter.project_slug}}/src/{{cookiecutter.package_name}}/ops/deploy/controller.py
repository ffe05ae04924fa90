"""The canary controller: one state machine for every target.

Flagger's shape: each tick observes, decides (a pure function of the saved rollout and the new
observation) and acts; nothing lives only in memory between ticks. Argo's: the desired traffic is
set idempotently and the target verifies it. The clock and sleep are injected, so the unit tests
drive a fake target through every path instantly.

Phases and their transitions (the only ones `decide` makes):
    shadow  -> canary (shadow time passed) | rolled_back
    canary  -> canary at the next step | promoted (after the last step) | rolled_back
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from ..config import Canary
from .policy import Check, Verdict, judge, merge
from .target import Observation, Release, Target, TargetError


class Phase(StrEnum):
    SHADOW = "shadow"
    CANARY = "canary"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


TRANSITIONS = {
    Phase.SHADOW: {Phase.CANARY, Phase.ROLLED_BACK},
    Phase.CANARY: {Phase.CANARY, Phase.PROMOTED, Phase.ROLLED_BACK},
    Phase.PROMOTED: set(),
    Phase.ROLLED_BACK: set(),
}


@dataclass(frozen=True)
class Action:
    kind: str  # "traffic" | "mirror" | "promote" | "rollback"
    percent: int | None = None


@dataclass(frozen=True)
class Row:
    """One check, as the live table and the job summary show it."""

    at: float
    phase: str
    percent: int
    requests: int
    error_rate: float | None
    p95_ms: float | None
    agreement: float | None
    verdict: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rollout:
    candidate: Release
    stable: Release | None
    phase: Phase
    started: float
    step_started: float
    last_progress: float
    step: int = 0
    passed: int = 0  # checks passed at this step
    failed: int = 0  # failed checks in this rollout (Flagger counts them against its threshold)
    window: Observation = Observation()  # traffic since the last verdict
    rows: tuple[Row, ...] = ()
    reason: str | None = None

    @property
    def done(self) -> bool:
        return self.phase in (Phase.PROMOTED, Phase.ROLLED_BACK)

    def to_dict(self) -> dict:
        return asdict(self)


def steps(policy: Canary) -> list[int]:
    return [100] if policy.mode == "all-at-once" else list(policy.steps)


def percent(rollout: Rollout, policy: Canary) -> int:
    return 0 if rollout.phase is Phase.SHADOW else steps(policy)[rollout.step]


def begin(policy: Canary, candidate: Release, stable: Release, now: float) -> tuple[Rollout, list[Action]]:
    if policy.mode == "shadow-then-canary":
        return Rollout(candidate, stable, Phase.SHADOW, now, now, now), [Action("mirror", policy.shadow_percent)]
    return Rollout(candidate, stable, Phase.CANARY, now, now, now), [Action("traffic", steps(policy)[0])]


def decide(rollout: Rollout, seen: Observation, policy: Canary, now: float) -> tuple[Rollout, list[Action]]:
    """The next rollout state and what to do: one check of `seen` (plus the waiting window)."""
    window = merge(rollout.window, seen)
    check = judge(window, policy)
    rollout = replace(rollout, rows=(*rollout.rows, _row(rollout, policy, window, check, now)))
    if check.verdict is Verdict.FAIL:
        rollout = replace(rollout, failed=rollout.failed + 1, window=Observation())
        if rollout.failed >= policy.failure_limit:
            return _roll_back(rollout, policy, "; ".join(check.reasons))
    elif check.verdict is Verdict.PASS:
        rollout = replace(rollout, passed=rollout.passed + 1, window=Observation(), last_progress=now)
    else:
        rollout = replace(rollout, window=window)
    if now - rollout.last_progress > policy.progress_deadline_seconds:
        deadline = policy.progress_deadline_seconds
        return _roll_back(rollout, policy, f"no verdict for {deadline:.0f} s (too little traffic)")
    held = policy.shadow_seconds if rollout.phase is Phase.SHADOW else policy.step_seconds
    if rollout.passed and now - rollout.step_started >= held:
        return _advance(rollout, policy, now)
    return rollout, []


def _advance(rollout: Rollout, policy: Canary, now: float) -> tuple[Rollout, list[Action]]:
    fresh = {"passed": 0, "step_started": now, "last_progress": now, "window": Observation()}
    if rollout.phase is Phase.SHADOW:
        first = steps(policy)[0]
        return replace(rollout, phase=Phase.CANARY, step=0, **fresh), [Action("mirror", 0), Action("traffic", first)]
    if rollout.step + 1 < len(steps(policy)):
        step = rollout.step + 1
        return replace(rollout, step=step, **fresh), [Action("traffic", steps(policy)[step])]
    return replace(rollout, phase=Phase.PROMOTED, **fresh), [Action("promote")]


def _roll_back(rollout: Rollout, policy: Canary, why: str) -> tuple[Rollout, list[Action]]:
    where = "shadow" if rollout.phase is Phase.SHADOW else f"step {rollout.step + 1} ({percent(rollout, policy)}%)"
    return replace(rollout, phase=Phase.ROLLED_BACK, reason=f"{why} at {where}"), [Action("rollback")]


def _row(rollout: Rollout, policy: Canary, window: Observation, check: Check, now: float) -> Row:
    cand = window.candidate
    return Row(
        at=round(now - rollout.started, 3),
        phase=rollout.phase.value,
        percent=percent(rollout, policy),
        requests=cand.requests,
        error_rate=cand.error_rate,
        p95_ms=cand.p95_ms,
        agreement=window.agreed / window.compared if window.compared else None,
        verdict=check.verdict.value,
        reasons=tuple(check.reasons),
    )


@dataclass
class Result:
    outcome: str  # "promoted" | "rolled_back" | "unchanged" | "first_deploy"
    release: Release
    stable: Release | None = None  # what was stable before this run
    reason: str | None = None
    rows: list[Row] = field(default_factory=list)
    reconciled: str | None = None  # what reconciliation undid, if anything

    @property
    def ok(self) -> bool:
        return self.outcome != "rolled_back"


class Controller:
    """Runs one rollout of a release to a target: reconcile, deploy beside stable, step, decide."""

    def __init__(
        self,
        target: Target,
        policy: Canary,
        *,
        sample_rows: Sequence[dict] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_check: Callable[[Rollout], None] = lambda rollout: None,
        state_file: Path | None = None,
    ) -> None:
        self.target, self.policy = target, policy
        self.sample_rows = list(sample_rows)  # reference rows: first-deploy smoke test and replayed agreement
        self.clock, self.sleep, self.on_check = clock, sleep, on_check
        self.state_file = state_file
        self._replayed = 0

    def reconcile(self) -> str | None:
        """Bring an interrupted rollout back to clean stable (a rerun is always safe)."""
        state = self.target.describe()
        if state.candidate is None:
            return None
        if state.mirror_percent:
            self.target.set_mirror(0)
        self.target.rollback()
        return f"rolled back the leftover candidate {state.candidate.bento} of an interrupted rollout"

    def run(self, release: Release) -> Result:
        reconciled = self.reconcile()
        stable = self.target.describe().stable
        if stable is not None and stable.bento == release.bento:
            return Result("unchanged", release, stable, f"{release.bento} is already stable", reconciled=reconciled)
        self.target.deploy_candidate(release)
        try:
            result = self._first_deploy(release) if stable is None else self._progress(release, stable)
        except BaseException:  # interrupted or the platform failed: never leave the candidate serving
            self.target.rollback()
            raise
        result.reconciled = reconciled
        return result

    def _first_deploy(self, release: Release) -> Result:
        """No stable yet: smoke-test the candidate on reference rows, then give it all traffic."""
        rows = self.sample_rows[:5]
        if rows:
            answers = self.target.predict(rows, "candidate")
            if len(answers) != len(rows):
                self.target.rollback()
                return Result("rolled_back", release, None, f"smoke test: {len(answers)} answers to {len(rows)} rows")
        self.target.set_traffic(100)
        self.target.promote()
        return Result("first_deploy", release)

    def _warm_up(self, requests: int = 16, clients: int = 4) -> bool:
        """Single-row requests straight to the candidate, a few at a time, before it gets traffic: a
        fresh server's first answers are slow (lazy imports, worker threads starting), no fault of the
        model. Errors are the gates' business; only a candidate that answers none is refused here."""
        from concurrent.futures import ThreadPoolExecutor

        def one(row: dict) -> bool:
            try:
                return len(self.target.predict([row], "candidate")) == 1
            except TargetError:
                return False

        with ThreadPoolExecutor(clients) as pool:
            answered = sum(pool.map(one, self.sample_rows[:requests]))
        return answered > 0 or not self.sample_rows

    def _progress(self, release: Release, stable: Release) -> Result:
        if not self._warm_up():
            self.target.rollback()
            return Result("rolled_back", release, stable, "warm-up: the candidate answered none of its requests")
        rollout, actions = begin(self.policy, release, stable, self.clock())
        self.target.observe()  # every window starts here: warm-up requests are not judged
        while True:
            self._apply(actions)
            self._save(rollout)
            if rollout.done:
                outcome = rollout.phase.value
                return Result(outcome, release, stable, rollout.reason, list(rollout.rows))
            self.sleep(self.policy.interval_seconds)
            rollout, actions = decide(rollout, self._observe(), self.policy, self.clock())
            self.on_check(rollout)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if action.kind == "traffic":
                self.target.set_traffic(action.percent)
            elif action.kind == "mirror":
                self.target.set_mirror(action.percent)
            elif action.kind == "promote":
                self.target.promote()
            else:
                self.target.rollback()

    def _observe(self) -> Observation:
        seen = self.target.observe()
        agreed, compared = self._replay()
        return replace(seen, agreed=seen.agreed + agreed, compared=seen.compared + compared)

    def _replay(self) -> tuple[int, int]:
        """Send the next `replay_rows` reference rows to both sides; count equal predictions."""
        size = self.policy.replay_rows
        if not size or not self.sample_rows:
            return 0, 0
        start = self._replayed % len(self.sample_rows)
        rows = (self.sample_rows[start:] + self.sample_rows[:start])[:size]
        self._replayed += size
        try:
            stable, candidate = self.target.predict(rows, "stable"), self.target.predict(rows, "candidate")
        except TargetError:  # a failing side shows in its error rate; no pairs from this replay
            return 0, 0
        return sum(a == b for a, b in zip(stable, candidate, strict=False)), min(len(stable), len(candidate))

    def _save(self, rollout: Rollout) -> None:
        """The last rollout, for `mlops status` (the platform itself stays the source of truth)."""
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(rollout.to_dict(), default=str, indent=2) + "\n")
        tmp.replace(self.state_file)
