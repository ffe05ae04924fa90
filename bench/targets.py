"""Benchmark of the canary controller on the four cloud targets, each with its real SDK against the local
stand-in of its test module (tests/test_target_{aws,gcp,azure,kubernetes}.py: moto server, Vertex AI +
Cloud Monitoring REST stand-in, fake ARM transport, Kubernetes API + Prometheus stand-in), with the
in-memory FakeTarget as the baseline of the same run; runs alternate the targets.

Per target and run: fresh stand-in state, a first deploy, then one measured promote rollout (steps
10/50/100, the test module's own policy, clock and sleep: every wait is injected, none slept):
- time per step: wall time of each check + action (observe, replay, decide, set_traffic or promote), from
  the return of one injected sleep to the next sleep or the end of run(); the sleeps (where the tests'
  stand-ins publish live traffic) excluded. Median and max over all checks of all runs; ratio of the
  medians target / FakeTarget. Setup: run() up to the first sleep (reconcile, deploy the candidate,
  warm-up requests, first step). One unmeasured warm-up rollout per target first;
- API calls per rollout, counted as the tests count them (botocore before-call hooks, the stand-ins'
  request logs, FakeAzure.counts()); for FakeTarget its recorded in-memory method calls.

Why this bounds only the controller's own overhead: a stand-in answers at once, in this process (its CPU
is in the figures), so a step here is the controller's, the SDK's and the stand-in's work and nothing
else. Real clouds add their API latencies (tens to hundreds of ms a call), the minutes a deployment or
revision takes to start, and the policy's step and interval seconds.

Run:  .venv/bin/python bench/targets.py [--runs 5]   (~1 min; prints and writes bench/results/targets.md)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import io
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
HEADER = (
    "| target (stand-in) | checks/rollout | ms per step, median | max | median / fake | setup ms "
    "| rollout ms (no sleeps) | API calls/rollout |"
)
NOTE = (
    "A step is one check + action, injected sleeps excluded. In-process stand-ins: an upper bound on the "
    "controller's own overhead; real clouds add their API latencies and waits."
)


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


def measure(controller, release) -> dict:
    """One promote rollout: its setup time and the time of each check + action, injected sleeps excluded."""
    marks, sleep = [time.perf_counter()], controller.sleep

    def timed(seconds: float) -> None:
        marks.append(time.perf_counter())
        sleep(seconds)
        marks.append(time.perf_counter())

    controller.sleep = timed
    result = controller.run(release)
    marks.append(time.perf_counter())
    if result.outcome != "promoted" or len(marks) < 4:
        sys.exit(f"[bench] a good candidate was not promoted: {result.outcome}: {result.reason}")
    return {"setup": marks[1] - marks[0], "steps": [b - a for a, b in zip(marks[2::2], marks[3::2], strict=True)]}


def deploy(module: str):
    return importlib.import_module(f"cloud_targets.ops.deploy.{module}")


@contextlib.contextmanager
def running(fixture, *args):
    """A generator fixture driven by hand: its value, then its teardown."""
    steps = raw(fixture)(*args)
    try:
        yield next(steps)
    finally:
        next(steps, None)


@contextlib.contextmanager
def fake(ops):
    controller, release = deploy("controller"), deploy("target").Release  # the first imports ops.config
    policy = ops.config.Canary(steps=[10, 50, 100], step_seconds=0, interval_seconds=1, min_requests=20, replay_rows=5)

    def rollout():
        target, clock = deploy("fake").FakeTarget(stable=release("bench:v1aaa", "1")), [0.0]
        sleep = lambda seconds: clock.__setitem__(0, clock[0] + seconds)
        run = controller.Controller(target, policy, sample_rows=ROWS, clock=lambda: clock[0], sleep=sleep)
        return measure(run, release("bench:v2bbb", "2")), Counter(name for name, _ in target.calls)

    yield rollout


@contextlib.contextmanager
def aws(ops):
    t, mod, controller = importlib.import_module("test_target_aws"), deploy("sagemaker"), deploy("controller")
    project = Path(ops.__file__).parents[3]

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

    with running(t.moto_url) as url:
        yield rollout


@contextlib.contextmanager
def gcp(ops):
    t = importlib.import_module("test_target_gcp")
    with running(t.standin) as standin:
        make_target = raw(t.make_target)(deploy("vertex"), raw(t.config)(ops), standin)
        controller = raw(t.controller)(ops)

        def rollout():
            vertex = raw(t.vertex)(standin)  # reset
            t._first_deploy(vertex, make_target, controller, ops)
            before = Counter(vertex.calls)
            return measure(controller(make_target()), t._release(ops, t.V2, "2")), vertex.calls - before

        yield rollout


@contextlib.contextmanager
def azure(ops):
    t = importlib.import_module("test_target_azure")
    ops = raw(t.ops)(ops)
    base = raw(t.base_config)(ops)

    def rollout():
        adapter, clock = t.FakeAzure(), t.Clock()
        target = raw(t.make_target)(ops, base, adapter, clock)()
        quiet = io.StringIO()  # azure-ai-ml prints "Check: endpoint ... exists" and progress dots
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
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

    def rollout():
        with running(t.cluster, server) as cluster:  # its teardown fails on any error inside the stand-in
            make = raw(t.make)(ops, kserve, project, cluster)  # Serverless, the shipped manifest's mode
            if t.controller(ops, make(), cluster).run(kserve.Release(t.V1, "1")).outcome != "first_deploy":
                sys.exit("[bench] kubernetes: first deploy failed")
            start = len(cluster.log)
            return measure(t.controller(ops, make(), cluster), kserve.Release(t.V2, "2")), cluster.calls(start)

    with running(t.server) as server:
        yield rollout


TARGETS = {
    "fake (FakeTarget, baseline)": fake,
    "aws (SageMaker, boto3 -> moto server)": aws,
    "gcp (Vertex AI, aiplatform_v1 REST -> werkzeug stand-in)": gcp,
    "azure (Azure ML, MLClient -> fake ARM transport)": azure,
    "kubernetes (KServe Serverless, kubernetes client -> API + Prometheus stand-in)": kubernetes,
}


def row(name: str, results: list, base: float) -> tuple[str, str]:
    """One target's line of the figures table and of the calls-by-kind table."""
    med, timings, counts = statistics.median, [t for t, _ in results], [c for _, c in results]
    steps = [s for t in timings for s in t["steps"]]
    setup, whole = med(t["setup"] for t in timings), med(t["setup"] + sum(t["steps"]) for t in timings)
    totals = sorted(sum(c.values()) for c in counts)
    spread = "" if totals[0] == totals[-1] else f" ({totals[0]}-{totals[-1]})"
    ms = [f"{1e3 * seconds:.2f}" for seconds in (med(steps), max(steps), setup, whole)]
    checks, ratio = f"{med(len(t['steps']) for t in timings):g}", f"{med(steps) / base:.1f}x"
    cells = [name, checks, *ms[:2], ratio, *ms[2:], f"{med(totals):g}{spread}"]
    kinds = ", ".join(f"{k} {med(c[k] for c in counts):g}" for k in sorted(set().union(*counts)))
    return "| " + " | ".join(cells) + " |", f"| {name.split()[0]} | {kinds} |"


def report(found: dict[str, list], runs: int) -> str:
    base = statistics.median(s for timing, _ in found[next(iter(found))] for s in timing["steps"])
    lines = [row(name, results, base) for name, results in found.items()]
    by_kind = ["| target | API calls per rollout by kind (median of the runs) |", "|---|---|"]
    by_kind += [kinds for _, kinds in lines]
    figures = [HEADER, "|---" * 8 + "|", *(line for line, _ in lines)]
    return "\n".join([*figures, "", *by_kind, "", f"{runs} promote rollouts per target after a warm-up. {NOTE}", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured promote rollouts per target")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per stand-in request otherwise

    found: dict[str, list] = {name: [] for name in TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-targets-") as work, contextlib.ExitStack() as stack:
        ops = baked_ops(Path(work))
        rollouts = {name: stack.enter_context(start(ops)) for name, start in TARGETS.items()}
        for rollout in rollouts.values():
            rollout()  # warm-up, not measured
        log("warmed up: " + ", ".join(name.split()[0] for name in rollouts))
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
