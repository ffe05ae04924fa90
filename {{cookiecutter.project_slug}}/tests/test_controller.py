"""The canary controller against the in-memory target, with a scripted clock: instant and exact."""

import pytest

from {{ cookiecutter.package_name }}.ops.config import Canary
from {{ cookiecutter.package_name }}.ops.deploy.controller import Controller, Phase, begin, decide
from {{ cookiecutter.package_name }}.ops.deploy.fake import FakeTarget, healthy
from {{ cookiecutter.package_name }}.ops.deploy.policy import Verdict, judge
from {{ cookiecutter.package_name }}.ops.deploy.target import Observation, Release, TargetError, Window

STABLE, CANDIDATE = Release("model:stable", "1"), Release("model:candidate", "2")
ROWS = [{"x": i} for i in range(50)]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def policy(**changes) -> Canary:
    base = {"steps": [10, 50, 100], "step_seconds": 10, "interval_seconds": 1, "min_requests": 20}
    return Canary.model_validate(base | changes)


def controller(target: FakeTarget, canary: Canary, clock: Clock | None = None) -> Controller:
    clock = clock or Clock()
    return Controller(target, canary, sample_rows=ROWS, clock=clock, sleep=clock.sleep)


def traffic_calls(target: FakeTarget) -> list:
    return [call for call in target.calls if call[0] in ("set_traffic", "set_mirror", "promote", "rollback")]


def failing_candidate(errors: int, p95: float = 5.0):
    def traffic(state):
        seen = healthy(state)
        return Observation(seen.stable, Window(seen.candidate.requests, errors, p95))

    return traffic


def test_a_good_candidate_is_promoted_through_every_step():
    target = FakeTarget(STABLE)
    result = controller(target, policy()).run(CANDIDATE)
    assert result.outcome == "promoted" and result.ok
    assert traffic_calls(target) == [("set_traffic", 10), ("set_traffic", 50), ("set_traffic", 100), ("promote", None)]
    assert target.state.stable == CANDIDATE and target.state.candidate is None
    assert {row.percent for row in result.rows} == {10, 50, 100}
    assert {row.verdict for row in result.rows} == {"wait", "pass"}  # 10 requests a check at 10%: two per verdict
    assert {row.agreement for row in result.rows} == {1.0}


@pytest.mark.parametrize(
    ("traffic", "predictions", "expected"),
    [
        (failing_candidate(errors=5), None, "error rate 5/10 > 1.00% at step 1 (10%)"),
        (failing_candidate(errors=0, p95=350), None, "p95 latency 350 ms > 200 ms at step 1 (10%)"),
        (failing_candidate(errors=0, p95=120), None, "p95 latency 120 ms > stable's 5 ms + 50 ms"),
        (healthy, lambda release, rows: [int(release == CANDIDATE)] * len(rows), "prediction agreement 0/20 = 0.0%"),
    ],
    ids=["errors", "p95-absolute", "p95-vs-stable", "disagreement"],
)
def test_each_gate_rolls_back_and_names_gate_step_and_figures(traffic, predictions, expected):
    target = FakeTarget(STABLE, traffic=traffic, **({"predictions": predictions} if predictions else {}))
    result = controller(target, policy(min_requests=10)).run(CANDIDATE)
    assert result.outcome == "rolled_back" and not result.ok
    assert expected in result.reason
    assert traffic_calls(target) == [("set_traffic", 10), ("rollback", None)]
    assert target.state.stable == STABLE and target.state.candidate is None


def test_errors_beyond_the_limit_fail_before_the_sample_is_full():
    """Fast rollback: 3 errors out of 4 requests already exceed 1% of a 100-request sample."""
    check = judge(Observation(candidate=Window(4, 3, 5.0)), policy(min_requests=100))
    assert check.verdict is Verdict.FAIL


def test_too_little_traffic_waits_then_rolls_back_at_the_deadline():
    target = FakeTarget(STABLE, traffic=lambda state: healthy(state, requests=10))  # 1 candidate request a check
    clock = Clock()
    result = controller(target, policy(min_requests=50, progress_deadline_seconds=30), clock).run(CANDIDATE)
    assert result.outcome == "rolled_back" and "no verdict for 30 s" in result.reason
    assert {row.verdict for row in result.rows[:-1]} == {"wait"}
    assert 30 < clock.now <= 32


def test_a_window_accumulates_until_it_has_enough_requests():
    target = FakeTarget(STABLE, traffic=lambda state: healthy(state, requests=50))  # 5 candidate requests at 10%
    result = controller(target, policy(min_requests=20)).run(CANDIDATE)
    assert result.outcome == "promoted"
    first = [row.verdict for row in result.rows[:4]]
    assert first == ["wait", "wait", "wait", "pass"]


def test_failure_limit_tolerates_fewer_failed_checks():
    checks = iter([0, 2] + [0] * 100)  # (the rollout's first observe() sets the baseline) one bad check, then clean

    def traffic(state):
        seen = healthy(state)
        return Observation(seen.stable, Window(seen.candidate.requests, next(checks), 5.0))

    assert controller(FakeTarget(STABLE, traffic=traffic), policy(failure_limit=2)).run(CANDIDATE).outcome == "promoted"
    checks = iter([0, 2, 0, 2] + [0] * 100)
    result = controller(FakeTarget(STABLE, traffic=traffic), policy(failure_limit=2)).run(CANDIDATE)
    assert result.outcome == "rolled_back"


def test_each_step_lasts_step_seconds():
    clock = Clock()
    controller(FakeTarget(STABLE), policy(step_seconds=10), clock).run(CANDIDATE)
    assert clock.now == pytest.approx(30, abs=1.01)


def test_an_interrupted_rollout_is_reconciled_before_the_new_one():
    target = FakeTarget(STABLE)
    target.deploy_candidate(Release("model:leftover"))
    target.set_traffic(50)
    result = controller(target, policy()).run(CANDIDATE)
    assert result.reconciled and "model:leftover" in result.reconciled
    assert target.calls[2] == ("rollback", None) and result.outcome == "promoted"


def test_deploying_the_stable_release_again_changes_nothing():
    target = FakeTarget(STABLE)
    result = controller(target, policy()).run(STABLE)
    assert result.outcome == "unchanged" and "already stable" in result.reason
    assert target.calls == []


def test_a_first_deploy_is_smoke_tested_then_given_all_traffic():
    target = FakeTarget(None)
    result = controller(target, policy()).run(CANDIDATE)
    assert result.outcome == "first_deploy"
    assert traffic_calls(target) == [("set_traffic", 100), ("promote", None)]
    assert target.state.stable == CANDIDATE


def test_a_first_deploy_that_fails_its_smoke_test_is_removed():
    target = FakeTarget(None, predictions=lambda release, rows: [])
    result = controller(target, policy()).run(CANDIDATE)
    assert result.outcome == "rolled_back" and "smoke test" in result.reason
    assert target.state.stable is None and target.state.candidate is None


def test_shadow_then_canary_mirrors_first():
    target = FakeTarget(STABLE)
    canary = policy(mode="shadow-then-canary", shadow_seconds=5, shadow_percent=100)
    result = controller(target, canary).run(CANDIDATE)
    assert result.outcome == "promoted"
    assert traffic_calls(target)[:3] == [("set_mirror", 100), ("set_mirror", 0), ("set_traffic", 10)]


def test_all_at_once_is_one_step_of_100():
    target = FakeTarget(STABLE)
    result = controller(target, policy(mode="all-at-once")).run(CANDIDATE)
    assert result.outcome == "promoted"
    assert traffic_calls(target) == [("set_traffic", 100), ("promote", None)]


def test_a_platform_error_mid_rollout_rolls_back_and_is_raised():
    target = FakeTarget(STABLE)
    original = target.set_traffic

    def flaky(percent):
        if percent == 50:
            raise TargetError("fake: the platform refused")
        original(percent)

    target.set_traffic = flaky
    with pytest.raises(TargetError, match="refused"):
        controller(target, policy()).run(CANDIDATE)
    assert target.calls[-1] == ("rollback", None) and target.state.candidate is None


def test_decide_is_pure_and_keeps_to_the_written_transitions():
    canary = policy(step_seconds=0)
    rollout, actions = begin(canary, CANDIDATE, STABLE, 0.0)
    assert rollout.phase is Phase.CANARY and [a.percent for a in actions] == [10]
    seen = Observation(Window(90, 0, 5.0), Window(30, 0, 5.0))
    again, _ = decide(rollout, seen, canary, 1.0)
    assert decide(rollout, seen, canary, 1.0)[0] == again  # same input, same output
    assert again.step == 1 and rollout.step == 0  # the input is not changed


def test_a_candidate_that_answers_nothing_gets_no_traffic():
    def broken(release, rows):
        if release == CANDIDATE:
            raise TargetError("fake: 500")
        return [0] * len(rows)

    target = FakeTarget(STABLE, predictions=broken)
    result = controller(target, policy()).run(CANDIDATE)
    assert result.outcome == "rolled_back" and "warm-up" in result.reason
    assert traffic_calls(target) == [("rollback", None)]


def test_windows_with_histograms_merge_exactly():
    from {{ cookiecutter.package_name }}.ops.deploy.policy import merge

    inf = float("inf")
    fast = Window(90, 0, 9.0, ((0.01, 90), (0.5, 90), (inf, 90)))
    slow = Window(10, 0, 475.0, ((0.01, 0), (0.5, 10), (inf, 10)))
    merged = merge(Observation(candidate=fast), Observation(candidate=slow)).candidate
    assert merged.requests == 100 and merged.latency == ((0.01, 90), (0.5, 100), (inf, 100))
    assert merged.p95_ms == pytest.approx(255.0)  # halfway into the 10-500 ms bucket; not max(9, 475)


@pytest.mark.parametrize(
    ("stable", "candidate", "verdict"),
    [
        (Window(100, 0, 5.0), Window(100, 0, 120.0), Verdict.FAIL),  # 115 ms slower than a loaded stable
        (Window(2, 0, 5.0), Window(100, 0, 120.0), Verdict.PASS),  # at 100 % stable is idle: no comparison
        (Window(100, 0, 5.0), Window(19, 0, 5.0), Verdict.WAIT),  # too few candidate requests
        (Window(100, 0, 5.0), Window(100, 1, 5.0), Verdict.PASS),  # 1 % errors is the limit, not over it
    ],
)
def test_the_judge(stable, candidate, verdict):
    assert judge(Observation(stable, candidate), policy()).verdict is verdict
