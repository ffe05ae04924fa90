"""Benchmark of `mlops deploy` on the local target (BentoML servers behind HAProxy), each figure beside a
baseline measured in the same run:

1. detection: first failing request of a 50 %-failing candidate -> its HAProxy weight is 0, with
   `deploy.canary.interval_seconds` 0.25 and the default 1.0 (baseline), alternating, medians;
2. client-visible failures during bad rollouts (failing and slow candidates), counted by keep-alive
   clients on deploy.local.port; baseline: the same load sent straight to a failing server's own port;
3. a good promotion (steps 10/50/100, STEP_SECONDS each): wall time split into candidate start, steps
   and promote; baseline: the sum of step_seconds (the policy's own floor);
4. proxy overhead: wrk p50/p99 through HAProxy (stable only) vs straight to the stable server, alternating.

Run:  .venv/bin/python bench/deploy.py [--runs 3] [--keep] [--project DIR]
Builds the test bentos (tests/bentos.py: bake, `make setup`, pipeline, 5 bentos; ~3 min) in a temporary
directory, or reuses DIR (a directory kept by an earlier `--keep` run: it holds bentos.json); the rest
takes ~10-15 min on 2 cores. Prints a markdown table and writes it to bench/results/deploy.md. Every process
it starts is stopped at the end (`mlops undeploy` in a finally); network on 127.0.0.1 only.

How the times are taken (time.perf_counter, in this process): a monitor polls HAProxy's admin socket
(`get weight model/candidate`, `.../stable`) every ~10 ms and records each change; another polls the
candidate server's own /metrics (its port from .mlops/deploy/local/state.json) every ~10 ms and records
each change of its /predict 5xx count. The first failing request is dated halfway between the last
scrape without it and the first with it (the resolution is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

import httpx
import psutil
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "deploy.md"
sys.path.insert(0, str(ROOT / "tests"))
from bentos import Bentos, build_bentos
from helpers import VENV_BIN, free_port, project_env
from load import Load

POLICY = {  # tests/test_deploy.py's short policy
    "steps": [10, 50, 100],
    "step_seconds": 2,
    "interval_seconds": 0.25,
    "min_requests": 10,
    "replay_rows": 10,
    "progress_deadline_seconds": 30,
}
FAST, DEFAULT = 0.25, 1.0  # interval_seconds measured / baseline (the template's default)
STEP_SECONDS = 5  # for the promotion runs
POLL = 0.01  # monitor period, s
CLIENTS = 4  # load generator: keep-alive clients, one 1-row request at a time, 10 ms apart
DEPLOY_TIMEOUT = 300  # s, every `mlops deploy` (and so every load and monitor) is bounded by it
WRK = ["wrk", "-t2", "-c8", "-d10s", "--latency"]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the project and its bentos


def prepare(work: Path) -> Bentos:
    """The bentos of a kept directory (bentos.json), else build them there (~3 min)."""
    saved = work / "bentos.json"
    if saved.exists():
        log(f"reusing the bentos of {work}")
        tags = json.loads(saved.read_text())
        project, home = Path(tags.pop("project")), Path(tags.pop("bentoml_home"))
        path = f"{project / '.venv' / 'bin'}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        return Bentos(project, project_env(BENTOML_HOME=str(home), PATH=path), home, **tags)  # as bentos_for
    log(f"building the test bentos in {work} (~3 min)")
    bentos = build_bentos(work)
    tags = {key: str(value) for key, value in asdict(bentos).items() if key != "env"}  # no copy of the environment
    saved.write_text(json.dumps(tags, indent=2) + "\n")
    return bentos


def configure(bentos: Bentos, port: int, **policy) -> None:
    """deploy.local.port and the short policy (plus `policy`) in the project's mlops.yaml."""
    path = bentos.project / "mlops.yaml"
    config = yaml.safe_load(path.read_text())
    config["deploy"]["canary"].update({**POLICY, **policy})
    config["deploy"]["local"] = {"port": port}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def mlops(bentos: Bentos, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    cmd = [str(bentos.project / ".venv" / "bin" / "mlops"), *args]
    out = subprocess.run(
        cmd, cwd=bentos.project, env=bentos.env, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT, check=False
    )
    if ok is not None and out.returncode not in ok:
        sys.exit(
            f"[bench] `mlops {' '.join(args)}` exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
    return out


def a_row(bentos: Bentos) -> dict:
    import pandas as pd

    config = yaml.safe_load((bentos.project / "mlops.yaml").read_text())
    frame = pd.read_parquet(bentos.project / "data/prepared/test.parquet")
    return {key: float(value) for key, value in frame[list(config["data"]["columns"])].iloc[0].items()}


def state_dir(bentos: Bentos) -> Path:
    return bentos.project / ".mlops" / "deploy" / "local"


def read_state(bentos: Bentos) -> dict:
    try:
        return json.loads((state_dir(bentos) / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


# ---------------------------------------------------------------- probes


def admin(sock: Path, command: str) -> str:
    """One command over HAProxy's admin socket (it closes the connection after answering)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(2)
        conn.connect(str(sock))
        conn.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def weight(sock: Path, slot: str) -> int | None:
    try:
        return int(admin(sock, f"get weight model/{slot}").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def predict_errors(text: str) -> int:
    """5xx answers of /predict in one scrape of a BentoML server's /metrics."""
    errors = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "bentoml_service_request":  # the parser drops the counter's _total
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("endpoint") == "/predict" and labels.get("http_response_code", "").startswith("5"):
                errors += sample.value
    return int(errors)


# ---------------------------------------------------------------- load and monitor


@dataclass
class Monitor:
    """Polls, every POLL s, HAProxy's weights and (with `scrape`) the candidate server's /predict 5xx count."""

    bentos: Bentos
    scrape: bool = True  # off where the scrapes' own load on the candidate would bias the run (promotions)
    weights: list[tuple[float, int | None, int | None]] = field(default_factory=list)  # (t, candidate, stable)
    # on each change of the 5xx count: (previous scrape's start, this scrape's start, its end, 5xx)
    errors: list[tuple[float, float, float, int]] = field(default_factory=list)
    candidate: dict = field(default_factory=dict)  # the last candidate entry seen in state.json
    scrape_seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=run, daemon=True) for run in (self._poll_weights, self._poll_metrics)]

    def _poll_weights(self) -> None:
        sock = state_dir(self.bentos) / "haproxy.sock"
        deadline = time.monotonic() + DEPLOY_TIMEOUT
        while not self._stop.is_set() and time.monotonic() < deadline:
            now = time.perf_counter()
            seen = (weight(sock, "candidate"), weight(sock, "stable"))
            if None not in seen and (not self.weights or self.weights[-1][1:] != seen):
                self.weights.append((now, *seen))
            self._stop.wait(POLL)

    def _poll_metrics(self) -> None:
        deadline = time.monotonic() + DEPLOY_TIMEOUT
        previous, port = None, None
        with httpx.Client(timeout=2) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if candidate := read_state(self.bentos).get("candidate"):
                    self.candidate = candidate
                    if not self.scrape:
                        self._stop.wait(POLL)
                        continue
                    if candidate["port"] != port:
                        port, previous = candidate["port"], None
                    start = time.perf_counter()
                    try:
                        count = predict_errors(http.get(f"http://127.0.0.1:{port}/metrics").text)
                    except (httpx.HTTPError, ValueError):
                        count = None
                    end = time.perf_counter()
                    if count is not None:
                        self.scrape_seconds.append(end - start)
                        if not self.errors or self.errors[-1][3] != count:
                            self.errors.append((start if previous is None else previous, start, end, count))
                        previous = start
                self._stop.wait(POLL)

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


@dataclass
class Rollout:
    bento: str
    code: int
    started: float  # perf_counter at `mlops deploy`'s start
    ended: float
    monitor: Monitor
    load: Load
    stderr: str
    record: dict  # the project's reports/rollout.json (outcome, reason, every check)

    def summary(self) -> dict:
        """What bench/results/deploy.json keeps of it: times relative to the start of `mlops deploy`."""
        weights = [(round(t - self.started, 3), cand, stable) for t, cand, stable in self.monitor.weights]
        return {
            "bento": self.bento,
            "exit": self.code,
            "seconds": round(self.ended - self.started, 3),
            "outcome": self.record.get("outcome"),
            "reason": self.record.get("reason"),
            "clients": {str(k): v for k, v in self.load.seen.items()},
            "weights (t, candidate, stable)": weights,
            "checks": self.record.get("checks"),
        }


def roll_out(bentos: Bentos, bento: str, port: int, row: dict, ok=(0, 1), scrape: bool = True) -> Rollout:
    """`mlops deploy --bento BENTO` under load, monitored."""
    with (
        Load(f"http://127.0.0.1:{port}", [row], seconds=DEPLOY_TIMEOUT) as load,
        Monitor(bentos, scrape=scrape) as monitor,
    ):
        started = time.perf_counter()
        out = mlops(bentos, "deploy", "--bento", bento, ok=ok)
        ended = time.perf_counter()
        time.sleep(0.5)  # the clients' last requests, after the candidate is gone
    record = json.loads((bentos.project / "reports" / "rollout.json").read_text())
    return Rollout(bento, out.returncode, started, ended, monitor, load, out.stderr + out.stdout, record)


# ---------------------------------------------------------------- what a rollout's records say


def first_up(weights: list) -> float | None:
    return next((t for t, cand, _ in weights if cand and cand > 0), None)


def detection(rollout: Rollout) -> dict | None:
    """First failing request after the candidate got traffic -> its weight back at 0, in s."""
    weights, errors = rollout.monitor.weights, rollout.monitor.errors
    up = first_up(weights)
    if up is None:
        return None
    zero = next((t for t, cand, _ in weights if t > up and cand == 0), None)
    before = max([count for _, start, _, count in errors if start < up] or [0])  # warm-up failures: not judged
    fail = next(((prev + end) / 2 for prev, _, end, count in errors if count > before), None)
    if zero is None or fail is None:
        return None
    return {"detect": zero - fail, "exposed": zero - up, "fail_after_up": fail - up}


def phases(rollout: Rollout, wall_offset: float) -> dict | None:
    """A promotion's wall time in segments (s): start (CLI to candidate ready), warm-up, steps, promote."""
    weights, candidate = rollout.monitor.weights, rollout.monitor.candidate
    up = first_up(weights)
    full = next((t for t, cand, _ in weights if up and t > up and cand == 100), None)
    swap = next((t for t, cand, _ in weights if full and t > full and cand == 0), None)
    if None in (up, full, swap) or "ready_seconds" not in candidate:
        return None
    launched = candidate["launched"] - wall_offset  # state.json has wall-clock times
    ready = launched + candidate["ready_seconds"]
    return {
        "launch": launched - rollout.started,
        "ready": ready - launched,
        "warm-up": up - ready,
        "steps": swap - up,
        "promote": rollout.ended - swap,
        "total": rollout.ended - rollout.started,
    }


# ---------------------------------------------------------------- a server of our own and wrk


@contextlib.contextmanager
def bentoml_serve(bentos: Bentos, bento: str, home: Path) -> Iterator[int]:
    """`bentoml serve BENTO` on a free port with a home of its own (as the local target starts them);
    SIGTERM, then SIGKILL of whatever of its process tree is left."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("bentos", "models"):
        if not (home / name).exists():
            (home / name).symlink_to(bentos.bentoml_home / name, target_is_directory=True)
    port = free_port()
    cmd = [str(bentos.project / ".venv/bin/bentoml"), "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    env = {**bentos.env, "BENTOML_HOME": str(home)}
    with (home / "serve.log").open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.25)
        else:
            sys.exit(f"[bench] `bentoml serve {bento}` not ready; see {home / 'serve.log'}")
        yield port
    finally:  # BentoML's workers have sessions of their own: stop the whole tree
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        proc.terminate()
        _, left = psutil.wait_procs(family, timeout=15)
        for each in left:
            with contextlib.suppress(psutil.Error):
                each.kill()
        proc.wait(timeout=5)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, script: Path) -> dict:
    """wrk's p50, p99 (ms), requests/s and errors (non-2xx and socket errors) for one 10 s run."""
    out = subprocess.run([*WRK, "-s", str(script), url], capture_output=True, text=True, timeout=60, check=True).stdout
    quantiles = {q: _ms(v, u) for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"p50": quantiles["50"], "p99": quantiles["99"], "rps": rps, "errors": errors}


def post_script(work: Path, row: dict) -> Path:
    script = work / "post.lua"
    body = json.dumps({"rows": [row]})
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n'
    )
    return script


# ---------------------------------------------------------------- the four measurements


def measure_detection(bentos: Bentos, port: int, row: dict, runs: int) -> tuple[dict, list[Rollout]]:
    """Failing candidate rollouts, alternating interval FAST and DEFAULT."""
    found: dict[float, list[dict]] = {FAST: [], DEFAULT: []}
    rollouts = []
    for i in range(runs):
        for interval in (FAST, DEFAULT):
            configure(bentos, port, interval_seconds=interval)
            rollout = roll_out(bentos, bentos.failing, port, row, ok=(1,))
            rollouts.append(rollout)
            figures = detection(rollout)
            if figures is None:
                log(f"run {i + 1} interval {interval}: no failure or no weight 0 seen; {rollout.stderr[-500:]}")
                continue
            found[interval].append(figures)
            log(
                f"failing, interval {interval}: first 5xx -> weight 0 in {figures['detect']:.3f} s "
                f"(weight > 0 for {figures['exposed']:.3f} s); clients {dict(rollout.load.seen)}"
            )
    return found, rollouts


def measure_slow(bentos: Bentos, port: int, row: dict, runs: int) -> list[Rollout]:
    configure(bentos, port)
    rollouts = []
    for _ in range(runs):
        rollout = roll_out(bentos, bentos.slow, port, row, ok=(1,))
        verdict = next((line for line in rollout.stderr.splitlines() if "rolled back" in line), "no rollback line")
        log(f"slow: exit {rollout.code}, clients {dict(rollout.load.seen)}; {verdict.strip()}")
        rollouts.append(rollout)
    return rollouts


def measure_direct(bentos: Bentos, work: Path, row: dict, seconds: float) -> Load:
    """The same load straight to a failing server's own port, for `seconds` (no proxy, no retries)."""
    with (
        bentoml_serve(bentos, bentos.failing, work / "direct-home") as direct,
        Load(f"http://127.0.0.1:{direct}", [row], seconds=DEPLOY_TIMEOUT) as load,
    ):
        time.sleep(seconds)
    log(f"direct to a failing server for {seconds:.1f} s: {dict(load.seen)}")
    return load


def measure_promotions(bentos: Bentos, port: int, row: dict, runs: int) -> tuple[list[dict], list[Rollout]]:
    """`runs` good promotions (good2 and good in turn, whichever is not stable), at most 2 x runs attempts:
    a good candidate rolled back by a gate is recorded, not fatal. No /metrics scraping here (it loads
    the candidate alone and so biases its latency gate)."""
    configure(bentos, port, step_seconds=STEP_SECONDS)
    wall_offset = time.time() - time.perf_counter()
    found, rollouts = [], []
    for attempt in range(2 * runs):
        if len(found) == runs:
            break
        bento = bentos.good if read_state(bentos)["stable"]["bento"] == bentos.good2 else bentos.good2
        rollout = roll_out(bentos, bento, port, row, ok=(0, 1), scrape=False)
        rollouts.append(rollout)
        if rollout.code != 0:
            log(f"promotion attempt {attempt + 1}: a good candidate rolled back: {rollout.record.get('reason')}")
        elif (figures := phases(rollout, wall_offset)) is None:
            log(f"promotion attempt {attempt + 1}: phases not seen; weights {rollout.monitor.weights}")
        else:
            found.append(figures)
            log(f"promotion {len(found)}: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()))
    return found, rollouts


def measure_proxy(bentos: Bentos, port: int, script: Path, rounds: int) -> dict[str, list[dict]]:
    stable = read_state(bentos)["stable"]["port"]
    found: dict[str, list[dict]] = {"proxy": [], "direct": []}
    for _ in range(rounds):
        for name, target in (("proxy", port), ("direct", stable)):
            found[name].append(wrk(f"http://127.0.0.1:{target}/predict", script))
            log(f"wrk {name}: {found[name][-1]}")
    return found


# ---------------------------------------------------------------- report


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(values: list[float], unit: str = "s", digits: int = 3) -> str:
    """The median, then every run."""
    runs = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{med(values):.{digits}f} {unit} ({runs})"


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x" if baseline else "n/a"


def cells(*values: str) -> str:
    return "| " + " | ".join(values) + " |"


def detection_rows(found: dict) -> list[str]:
    det = found["detection"]
    fast, default = [d["detect"] for d in det[FAST]], [d["detect"] for d in det[DEFAULT]]
    exposed = {i: [d["exposed"] for d in det[i]] for i in (FAST, DEFAULT)}
    return [
        cells(
            "1. first failing request -> candidate weight 0",
            f"interval {FAST} s: {fmt(fast)}",
            f"interval {DEFAULT} s (default): {fmt(default)}",
            ratio(med(fast), med(default)),
        ),
        cells(
            "1. candidate weight > 0 -> 0",
            fmt(exposed[FAST]),
            fmt(exposed[DEFAULT]),
            ratio(med(exposed[FAST]), med(exposed[DEFAULT])),
        ),
    ]


def failure_rows(found: dict) -> list[str]:
    rows, direct = [], found["direct"]
    direct_rate = sum(direct.failures.values()) / direct.total if direct.total else float("nan")
    baseline = f"straight to a failing server: {sum(direct.failures.values())} of {direct.total} ({direct_rate:.1%})"
    for kind, rollouts in (("failing", found["failing_rollouts"]), ("slow", found["slow_rollouts"])):
        failed, total = sum(sum(r.load.failures.values()) for r in rollouts), sum(r.load.total for r in rollouts)
        rate = failed / total if total else float("nan")
        rows.append(
            cells(
                f"2. client-visible failures, {len(rollouts)} {kind} rollouts via HAProxy",
                f"{failed} of {total} requests ({rate:.1%})",
                baseline,
                ratio(rate, direct_rate),
            )
        )
    return rows


def promotion_rows(found: dict) -> list[str]:
    floor = STEP_SECONDS * len(POLICY["steps"])
    attempts = found["good"]
    false = [r for r in attempts if r.code != 0]
    steps, totals = ([p[key] for p in found["promotions"]] for key in ("steps", "total"))
    return [
        cells(
            f"3. good promotion 10/50/100 % x {STEP_SECONDS} s: the steps",
            fmt(steps, digits=2),
            f"sum of step_seconds: {floor} s",
            ratio(med(steps), floor),
        ),
        cells(
            "3. good promotion: all of `mlops deploy`", fmt(totals, digits=1), f"{floor} s", ratio(med(totals), floor)
        ),
        cells("3. good candidates rolled back by a gate", f"{len(false)} of {len(attempts)} attempts", "0", ""),
    ]


def proxy_rows(found: dict) -> list[str]:
    rows = []
    for key, label, unit, digits in (("p50", "p50", "ms", 2), ("p99", "p99", "ms", 2), ("rps", "requests/s", "", 0)):
        ours, base = ([r[key] for r in found["proxy"][name]] for name in ("proxy", "direct"))
        rows.append(
            cells(
                f"4. {label}, wrk -t2 -c8 -d10s (stable only)",
                f"via HAProxy: {fmt(ours, unit, digits)}",
                f"direct: {fmt(base, unit, digits)}",
                ratio(med(ours), med(base)),
            )
        )
    return rows


def split_rows(promotions: list[dict]) -> list[str]:
    head = cells("segment (s)", *(f"run {i + 1}" for i in range(len(promotions))), "median")
    rows = [head, "|---" * (len(promotions) + 2) + "|"]
    for key in ("launch", "ready", "warm-up", "steps", "promote", "total"):
        values = [p[key] for p in promotions]
        rows.append(cells(key, *(f"{v:.2f}" for v in values), f"{med(values):.2f}"))
    return rows


def notes(found: dict, runs: int) -> list[str]:
    det = found["detection"][FAST] + found["detection"][DEFAULT]
    scrape = med(found["scrape_seconds"]) * 1000
    bad = found["failing_rollouts"] + found["slow_rollouts"]
    slow_max = max((max(r.load.latencies, default=0) for r in found["slow_rollouts"]), default=0)
    wrk_errors = sum(r["errors"] for rows in found["proxy"].values() for r in rows)
    first = med([d["fail_after_up"] for d in det])
    answers = {
        kind: dict(sum((r.load.seen for r in rollouts), Counter()))
        for kind, rollouts in (("bad", bad), ("good", found["good"]))
    }
    return [
        (
            f"- {runs} failing rollouts per interval, alternating; the first failing request is dated within "
            f"+-{(POLL * 1000 + scrape) / 2:.0f} ms (poll {POLL * 1000:.0f} ms, median /metrics scrape {scrape:.0f} ms); "
            f"it came a median {first:.3f} s after the candidate's weight went up."
        ),
        (
            f"- Load: {CLIENTS} keep-alive clients, one 1-row request each at a time, 10 ms apart. Answers in bad "
            f"rollouts: {answers['bad']}; in promotions: {answers['good']}; wrk errors: {wrk_errors}."
        ),
        f"- Slowest client answer during the slow rollouts: {slow_max:.2f} s.",
        *(f"- Good candidate rolled back: {r.record.get('reason')}" for r in found["good"] if r.code != 0),
    ]


def report(found: dict, runs: int) -> str:
    table = [
        cells("measure", "measured (median; runs)", "baseline (same run)", "ratio"),
        "|---|---|---|---|",
        *detection_rows(found),
        *failure_rows(found),
        *promotion_rows(found),
        *proxy_rows(found),
    ]
    return "\n".join([*table, "", *split_rows(found["promotions"]), "", *notes(found, runs), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (medians reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (reuse it with --project)")
    parser.add_argument("--project", type=Path, help="a directory kept by an earlier --keep run (bentos.json)")
    args = parser.parse_args()

    work = args.project.resolve() if args.project else Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    work.mkdir(parents=True, exist_ok=True)
    bentos = prepare(work)
    port = free_port()
    found: dict = {}
    try:
        mlops(bentos, "undeploy", ok=None)  # a kept directory may hold a leftover deployment
        configure(bentos, port)
        mlops(bentos, "deploy", "--bento", bentos.good)  # first deploy: the stable
        row = a_row(bentos)
        found["proxy"] = measure_proxy(bentos, port, post_script(work, row), args.runs)
        found["detection"], failing = measure_detection(bentos, port, row, args.runs)
        found["failing_rollouts"], found["slow_rollouts"] = failing, measure_slow(bentos, port, row, args.runs)
        found["scrape_seconds"] = [s for r in failing for s in r.monitor.scrape_seconds]
        # the baseline of 2.: as long as a failing rollout's load ran
        found["direct"] = measure_direct(bentos, work, row, med([r.ended - r.started for r in failing]))
        found["promotions"], found["good"] = measure_promotions(bentos, port, row, args.runs)
    finally:
        mlops(bentos, "undeploy", ok=None)
        if args.keep or args.project:
            log(f"kept {work} (reuse: --project {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# `mlops deploy` on the local target ({now}, {os.cpu_count()} cores)\n\n" + report(found, args.runs)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    rollouts = {key: [r.summary() for r in found[key]] for key in ("failing_rollouts", "slow_rollouts", "good")}
    RESULTS.with_suffix(".json").write_text(json.dumps(rollouts, indent=1) + "\n")
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
