"""An in-memory target, registered like the real ones: the controller's unit tests and the shared
target contract tests drive it. Traffic is scripted: `traffic(state)` returns the next Observation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from .target import Observation, Release, State, TargetError, Window


def healthy(state: State, requests: int = 100) -> Observation:
    """`requests` live requests split by the current shares (mirrored ones reach the candidate too),
    no errors, 5 ms p95."""
    share = max(state.candidate_percent, state.mirror_percent) if state.candidate else 0
    cand = requests * share // 100
    return Observation(Window(requests - cand, 0, 5.0), Window(cand, 0, 5.0))


class FakeTarget:
    name = "fake"

    def __init__(
        self,
        stable: Release | None = None,
        traffic: Callable[[State], Observation] = healthy,
        predictions: Callable[[Release, list[dict]], list] = lambda release, rows: [0] * len(rows),
    ) -> None:
        self.state = State(stable=stable, url="memory://fake")
        self.traffic, self.predictions = traffic, predictions
        self.calls: list[tuple] = []  # (method, argument) in call order, for the tests

    def describe(self) -> State:
        return self.state

    def deploy_candidate(self, release: Release) -> None:
        self.calls.append(("deploy_candidate", release.bento))
        self.state = replace(self.state, candidate=release, candidate_percent=0)

    def set_traffic(self, percent: int) -> None:
        self.calls.append(("set_traffic", percent))
        if self.state.candidate is None:
            raise TargetError("fake: set_traffic without a candidate")
        self.state = replace(self.state, candidate_percent=percent)

    def set_mirror(self, percent: int) -> None:
        self.calls.append(("set_mirror", percent))
        self.state = replace(self.state, mirror_percent=percent)

    def observe(self) -> Observation:
        return self.traffic(self.state)

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        release = self.state.candidate if side == "candidate" else self.state.stable
        if release is None:
            raise TargetError(f"fake: no {side} to predict with")
        return self.predictions(release, rows)

    def promote(self) -> None:
        self.calls.append(("promote", None))
        self.state = State(stable=self.state.candidate, url=self.state.url)

    def rollback(self) -> None:
        self.calls.append(("rollback", None))
        self.state = replace(self.state, candidate=None, candidate_percent=0, mirror_percent=0)

    def undeploy(self) -> None:
        self.calls.append(("undeploy", None))
        self.state = State(url=self.state.url)
