"""Benchmark of the canary controller on the four cloud targets, each with its real SDK against the local
stand-in of its test module (tests/test_target_{aws,gcp,azure,kubernetes}.py: moto server, the Vertex AI
and Cloud Monitoring REST stand-in, the fake ARM transport adapter, the Kubernetes API + Prometheus
stand-in), beside the in-memory FakeTarget as the baseline of the same run, runs alternating.

Per target and run: a fresh stand-in state, a first deploy, then one measured promote rollout (steps
10/50/100, the test module's own policy, clock and sleep: every wait is injected, none is slept). Measured:
- controller time per step: the wall time of each check + action (observe, replay, decide, set_traffic
  or promote), i.e. from the return of one injected sleep to the next sleep or the end of the run; the
  sleeps themselves (where the tests' stand-ins publish live traffic) are excluded. Median and max over
  every check of every run; the ratio is target / FakeTarget, medians;
- setup: run() start to the first sleep (reconcile, deploy the candidate, warm-up requests, first step);
- API calls per rollout, counted as the tests count them (botocore before-call hooks, the stand-ins' own
  request logs, FakeAzure.counts()); FakeTarget's are its recorded in-memory method calls.
One unmeasured warm-up rollout per target first (lazy imports, connection pools).

What the numbers bound: the stand-ins answer in microseconds and run in this process (their CPU is in the
figures), so the time is the controller's, the SDK's and the stand-in's own work, an upper bound on the
controller's overhead per step. Real clouds add their API latencies (tens to hundreds of ms a call), the
minutes a deployment or a new revision takes and the policy's step and interval seconds.

Run:  .venv/bin/python bench/targets.py [--runs 5]    (~1 min; prints and writes bench/results/targets.md)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "targets.md"
sys.path.insert(0, str(ROOT / "tests"))
from helpers import bake

ROWS = [{"x": float(i)} for i in range(5)]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def raw(fixture):
    """The plain function behind a pytest fixture (driven by hand here, as pytest would)."""
    return fixture.__wrapped__


def baked_ops(work: Path):
    """conftest.py's `baked_ops`: the `cloud_targets.ops` package of a bake, imported from its source."""
    src = str(bake(work, project_name="Cloud Targets") / "src")
    sys.path.insert(0, src)
    try:
        return importlib.import_module("cloud_targets.ops")
    finally:
        sys.path.remove(src)


class Sleep:
    """Wraps a controller's injected sleep: perf_counter on entry and on return."""

    def __init__(self, sleep) -> None:
        self.sleep, self.marks = sleep, []

    def __call__(self, seconds: float) -> None:
        self.marks.append(time.perf_counter())
        self.sleep(seconds)
        self.marks.append(time.perf_counter())


def measure(controller, release) -> dict:
    """One promote rollout: its setup time and the time of each check + action, sleeps excluded."""
    controller.sleep = timed = Sleep(controller.sleep)
    start = time.perf_counter()
    result = controller.run(release)
    marks = [start, *timed.marks, time.perf_counter()]
    if result.outcome != "promoted" or not timed.marks:
        sys.exit(f"[bench] a good candidate was not promoted: {result.outcome}: {result.reason}")
    return {"setup": marks[1] - marks[0], "steps": [b - a for a, b in zip(marks[2::2], marks[3::2], strict=True)]}


# ---------------------------------------------------------------- the targets, each with its stand-in


@contextlib.contextmanager
def fake(ops):
    fake_mod = importlib.import_module("cloud_targets.ops.deploy.fake")
    controller = importlib.import_module("cloud_targets.ops.deploy.controller")
    policy = ops.config.Canary(steps=[10, 50, 100], step_seconds=0, interval_seconds=1, min_requests=20, replay_rows=5)

    def rollout():
        target = fake_mod.FakeTarget(stable=ops.deploy.target.Release("bench:v1aaa", "1"))
        clock = [0.0]
        run = controller.Controller(
            target, policy, sample_rows=ROWS, clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s)
        )
        timing = measure(run, ops.deploy.target.Release("bench:v2bbb", "2"))
        return timing, Counter(name for name, _ in target.calls)

    yield rollout


@contextlib.contextmanager
def aws(ops):
    t = importlib.import_module("test_target_aws")
    mod = importlib.import_module("cloud_targets.ops.deploy.sagemaker")
    controller = importlib.import_module("cloud_targets.ops.deploy.controller")
    project = Path(ops.__file__).parents[3]
    servers = raw(t.moto_url)()
    url = next(servers)

    def rollout():
        with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as tmp:
            raw(t.aws_env)(url, patch, Path(tmp))  # dummy keys, AWS_ENDPOINT_URL, moto reset
            target = mod.SageMakerTarget(raw(t.make_config)(ops.config, project)())
            first, second = raw(t.releases)(mod)
            traffic = t.Traffic(raw(t.sm)(), raw(t.cw)())
            run = controller.Controller(target, t._policy(ops.config), clock=traffic.clock, sleep=traffic.sleep)
            if run.run(first).outcome != "first_deploy":
                sys.exit("[bench] aws: first deploy failed")
            calls = t.Calls(target)
            return measure(run, second), calls.take()

    try:
        yield rollout
    finally:
        next(servers, None)


@contextlib.contextmanager
def gcp(ops):
    t = importlib.import_module("test_target_gcp")
    servers = raw(t.standin)()
    standin = next(servers)
    mod = importlib.import_module("cloud_targets.ops.deploy.vertex")
    make_target = raw(t.make_target)(mod, raw(t.config)(ops), standin)
    controller = raw(t.controller)(ops)

    def rollout():
        vertex = raw(t.vertex)(standin)  # reset
        t._first_deploy(vertex, make_target, controller, ops)
        before = Counter(vertex.calls)
        return measure(controller(make_target()), t._release(ops, t.V2, "2")), vertex.calls - before

    try:
        yield rollout
    finally:
        next(servers, None)


@contextlib.contextmanager
def azure(ops):
    t = importlib.import_module("test_target_azure")
    ops = raw(t.ops)(ops)
    base = raw(t.base_config)(ops)

    def rollout():
        adapter, clock = t.FakeAzure(), t.Clock()
        target = raw(t.make_target)(ops, base, adapter, clock)()
        stable = raw(t.stable)(ops, target, adapter, clock)  # first deploy, its calls forgotten
        return measure(t.controller(ops, stable, clock), t.release(ops, t.V2, "2")), adapter.counts()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # marshmallow's deprecation warnings from azure-ai-ml, as in its tests
        yield rollout


@contextlib.contextmanager
def kubernetes(ops):
    t = importlib.import_module("test_target_kubernetes")
    ops = raw(t.ops)(ops)
    kserve, project = raw(t.kserve)(ops), raw(t.project)(ops)
    servers = raw(t.server)()
    server = next(servers)

    def rollout():
        clusters = raw(t.cluster)(server)
        cluster = next(clusters)
        make = raw(t.make)(ops, kserve, project, cluster)  # Serverless, the shipped manifest's mode
        if t.controller(ops, make(), cluster).run(kserve.Release(t.V1, "1")).outcome != "first_deploy":
            sys.exit("[bench] kubernetes: first deploy failed")
        start = len(cluster.log)
        timing = measure(t.controller(ops, make(), cluster), kserve.Release(t.V2, "2"))
        calls = cluster.calls(start)
        next(clusters, None)  # the fixture's teardown: fails on any error inside the stand-in
        return timing, calls

    try:
        yield rollout
    finally:
        next(servers, None)


TARGETS = {
    "fake (FakeTarget, baseline)": fake,
    "aws (SageMaker, boto3 -> moto server)": aws,
    "gcp (Vertex AI, aiplatform_v1 REST -> werkzeug stand-in)": gcp,
    "azure (Azure ML, MLClient -> fake ARM transport)": azure,
    "kubernetes (KServe Serverless, kubernetes client -> API + Prometheus stand-in)": kubernetes,
}


# ---------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def report(found: dict[str, list], runs: int) -> str:
    base = statistics.median(s for timing, _ in found[next(iter(found))] for s in timing["steps"])
    rows = [
        "| target (stand-in) | checks/rollout | ms per step, median | max | median / fake | setup ms | "
        "rollout ms (no sleeps) | API calls/rollout |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kinds = ["", "| target | API calls per rollout by kind (median of the runs) |", "|---|---|"]
    for name, results in found.items():
        steps = [s for timing, _ in results for s in timing["steps"]]
        setup = statistics.median(timing["setup"] for timing, _ in results)
        whole = statistics.median(timing["setup"] + sum(timing["steps"]) for timing, _ in results)
        checks = statistics.median(len(timing["steps"]) for timing, _ in results)
        totals = sorted(sum(calls.values()) for _, calls in results)
        total = f"{statistics.median(totals):g}" + ("" if totals[0] == totals[-1] else f" ({totals[0]}-{totals[-1]})")
        median = statistics.median(steps)
        rows.append(
            f"| {name} | {checks:g} | {ms(median)} | {ms(max(steps))} | {median / base:.1f}x | {ms(setup)} | "
            f"{ms(whole)} | {total} |"
        )
        by_kind = {k: statistics.median(c[k] for _, c in results) for k in sorted(set().union(*(c for _, c in results)))}
        kinds.append(f"| {name.split()[0]} | " + ", ".join(f"{k} {v:g}" for k, v in by_kind.items()) + " |")
    notes = [
        "",
        f"{runs} measured promote rollouts per target (after one warm-up), alternating targets from run to run. "
        "A step is one check + action of the controller (observe, replay, decide, set_traffic or promote), "
        "injected sleeps excluded; setup is run() up to the first sleep (reconcile, deploy the candidate, "
        "warm-up requests, the first step). Stand-ins run in this process: their time is in the figures, "
        "an upper bound on the controller's own overhead; real clouds add their API latencies and waits.",
    ]
    return "\n".join([*rows, *kinds, *notes, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured promote rollouts per target")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per stand-in request otherwise

    found: dict[str, list] = {name: [] for name in TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as work, contextlib.ExitStack() as stack:
        ops = baked_ops(Path(work))
        rollouts = {name: stack.enter_context(start(ops)) for name, start in TARGETS.items()}
        for name, rollout in rollouts.items():
            rollout()  # warm-up, not measured
            log(f"{name}: warmed up")
        for run in range(args.runs):
            order = list(rollouts) if run % 2 == 0 else list(reversed(rollouts))
            for name in order:
                found[name].append(rollouts[name]())
            log(f"run {run + 1}/{args.runs} done")

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# The canary controller on the cloud targets' stand-ins ({now}, {os.cpu_count()} cores)\n\n"
    text += report(found, args.runs)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
