"""Benchmark of serving: the project's BentoML service against a plain FastAPI + uvicorn app with the
same model and the same request validation, and against in-process predict, paired in the same run.

One baked project (`make setup`, `dvc repro`, `mlops register`), its model imported into the BentoML
store by a first `mlops serve`. Then, alternating from run to run:
- cold start to ready: `bentoml serve service:Model --arg model=<tag>` vs `uvicorn` of the baseline
  (baseline.py below, written into the work directory), from launch to the first /readyz 200;
- load: `wrk -t2 -c8 -d10s --latency` (8 loopback clients, bench/deploy.py's WRK) POSTs one body of
  1 row, then of 100 rows, to each server in turn (an idle server costs next to nothing): req/s,
  p50, p99; every answer must be 200;
- in-process: the same body parsed by the same request model and predicted, in a loop in one process
  (no HTTP): the floor under both servers.
Goals (issue 11): BentoML >= 1.0x FastAPI's req/s at both sizes; cold start within 1.5x of FastAPI's.

Run:  .venv/bin/python bench/serving.py [--runs 3] [--project DIR] [--keep]
Without --project it bakes and installs a project in a temporary directory (~2 min); then ~3 min for
3 runs. Prints a markdown table and writes it to bench/results/serving.md. Loopback only; every server
it starts is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from capture import post_script  # bench/capture.py
from deploy import log, wrk  # bench/deploy.py (it puts tests/ on sys.path)
from helpers import free_port, make_ready_project, package_of, project_env, run, stop_group

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "serving.md"
SIZES = (1, 100)
IN_PROCESS_SECONDS = 5
# The baseline a user could write instead: FastAPI's own body parsing with the project's request
# model (schema.py: the same strict rules), the same model loaded from the BentoML store.
BASELINE = """
import os
import bentoml
from fastapi import FastAPI
from {package}.ops.config import load_config
from {package}.ops.serving.edge import Prediction
from {package}.ops.serving.schema import request_model, to_frame

CONFIG = load_config()
Body = request_model(CONFIG)
MODEL = bentoml.models.get(os.environ["MODEL_TAG"])
model = bentoml.mlflow.load_model(MODEL)
app = FastAPI()

@app.get("/readyz")
def readyz() -> str:
    return "ok"

@app.post("/predict")
def predict(body: Body) -> Prediction:
    predictions = model.predict(to_frame(CONFIG, body.rows)).tolist()
    return Prediction(predictions=predictions, model=str(MODEL.tag), request_id="-")
"""
IN_PROCESS = """
import json, statistics, sys, time
import bentoml
from {package}.ops.config import load_config
from {package}.ops.serving.schema import request_model, to_frame

config = load_config()
Body = request_model(config)
model = bentoml.mlflow.load_model(bentoml.models.get(sys.argv[1]))
out = {{}}
for path in sys.argv[3:]:
    body = open(path, "rb").read()
    times, end = [], time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:
        start = time.perf_counter()
        model.predict(to_frame(config, Body.model_validate_json(body).rows))
        times.append(time.perf_counter() - start)
    q = statistics.quantiles(times, n=100)
    out[path] = {{"rps": len(times) / sum(times), "p50": q[49] * 1000, "p99": q[98] * 1000, "errors": 0}}
print(json.dumps(out))
"""


def ready_project(work: Path) -> Path:
    log(f"baking and installing a project in {work} (~2 min)")
    project = make_ready_project(work)
    env = project_env(PATH=f"{project / '.venv/bin'}{os.pathsep}{os.environ['PATH']}")
    run(["dvc", "repro"], project, env=env, timeout=900)
    run(["mlops", "track"], project, env=env)  # the stages log nothing: register needs the run
    run(["mlops", "register"], project, env=env)
    return project


@contextlib.contextmanager
def server(cmd: list[str], project: Path, env: dict, log_path: Path, port: int) -> Iterator[float]:
    """Start `cmd`; yield the seconds from launch to the first /readyz 200; stop its process group."""
    with log_path.open("ab") as out:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while proc.poll() is None and time.monotonic() - start < 180:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            sys.exit(f"[bench] {cmd[0]} not ready; see {log_path}")
        yield time.monotonic() - start
    finally:
        stop_group(proc)


def commands(project: Path, tag: str, port: int) -> dict[str, list[str]]:
    bin_ = project / ".venv" / "bin"
    return {
        "bentoml": [str(bin_ / "bentoml"), "serve", "service:Model", "--arg", f"model={tag}"]
        + ["--host", "127.0.0.1", "--port", str(port)],
        "fastapi": [str(bin_ / "python"), "-m", "uvicorn", "baseline:app", "--host", "127.0.0.1", "--port", str(port)]
        + ["--no-access-log"],
    }


def served_tag(project: Path, env: dict, work: Path, body: str) -> str:
    """`mlops serve` once: it imports the challenger into the store; its answer names the model."""
    port = free_port()
    cmd = [str(project / ".venv/bin/mlops"), "serve", "--port", str(port)]
    with server(cmd, project, env, work / "mlops-serve.log", port):
        answer = httpx.post(
            f"http://127.0.0.1:{port}/predict", content=body, headers={"content-type": "application/json"}
        )
        answer.raise_for_status()
        return answer.json()["model"]


def measure(project: Path, work: Path, runs: int) -> dict:
    env = project_env(PYTHONPATH=f"{work}{os.pathsep}{project / 'src'}", BENTOML_DO_NOT_TRACK="True")
    (work / "baseline.py").write_text(BASELINE.format(package=package_of(project)))
    rows = json.loads(subprocess.check_output([str(project / ".venv/bin/python"), "-c", ROWS], cwd=project))
    scripts = {size: post_script(work, rows[:size]) for size in SIZES}
    bodies = {size: work / f"body-{size}.json" for size in SIZES}
    for size, path in bodies.items():
        path.write_text(json.dumps({"rows": rows[:size]}))
    tag = served_tag(project, env, work, bodies[1].read_text())
    found: dict = {"cold": {"bentoml": [], "fastapi": []}, "load": {}}
    for run_index in range(runs):
        order = ("bentoml", "fastapi") if run_index % 2 == 0 else ("fastapi", "bentoml")
        for side in order:
            port = free_port()
            cmd, side_env = commands(project, tag, port)[side], {**env, "MODEL_TAG": tag}
            with server(cmd, project, side_env, work / f"{side}.log", port) as cold:
                found["cold"][side].append(cold)
                for size in SIZES:
                    result = wrk(f"http://127.0.0.1:{port}/predict", scripts[size])
                    found["load"].setdefault(f"{side}-{size}", []).append(result)
                    log(f"run {run_index + 1} {side} {size} row(s): cold {cold:.1f} s, {result}")
    script = IN_PROCESS.format(package=package_of(project))
    out = subprocess.check_output(
        [str(project / ".venv/bin/python"), "-c", script, tag, str(IN_PROCESS_SECONDS), *map(str, bodies.values())],
        cwd=project,
        env=env,
    )
    for size, (_, result) in zip(SIZES, json.loads(out).items(), strict=True):
        found["load"][f"in-process-{size}"] = [result]
    return found


ROWS = (
    "import json, yaml, pandas as pd; c = yaml.safe_load(open('mlops.yaml'))['data']['columns'];"
    "f = pd.read_parquet('data/prepared/test.parquet')[list(c)];"
    "print(json.dumps(f.astype(object).where(f.notna(), None).sample(100, replace=True, random_state=1)"
    ".to_dict(orient='records')))"
)


def med(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def report(found: dict, runs: int) -> str:
    load, cold = found["load"], found["cold"]
    lines = [
        f"### Serving ({datetime.date.today()}, {runs} runs, medians; wrk -t2 -c8 -d10s)",
        "",
        "| rows/request | side | req/s | p50 ms | p99 ms | req/s vs FastAPI | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in SIZES:
        base = med(load[f"fastapi-{size}"], "rps")
        for side in ("bentoml", "fastapi", "in-process"):
            results = load[f"{side}-{size}"]
            rps = med(results, "rps")
            errors = sum(r["errors"] for r in results)
            lines.append(
                f"| {size} | {side} | {rps:.0f} | {med(results, 'p50'):.2f} | {med(results, 'p99'):.2f} "
                f"| {rps / base:.2f}x | {errors} |"
            )
    b, f = statistics.median(cold["bentoml"]), statistics.median(cold["fastapi"])
    shown = {side: ", ".join(f"{v:.1f}" for v in values) for side, values in cold.items()}
    lines += ["", f"Cold start to ready: bentoml {b:.1f} s, fastapi {f:.1f} s: {b / f:.2f}x ({shown})"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--project", type=Path, help="a baked project with make setup, dvc repro, mlops register")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        project = args.project.resolve() if args.project else ready_project(work / "bake")
        table = report(measure(project, work, args.runs), args.runs)
    finally:
        if not args.keep and not args.project:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(table)


if __name__ == "__main__":
    main()
