"""Benchmark of request capture: serving throughput with every request captured (monitoring.capture
sample 1.0, the default) against capture off (MLOPS_CAPTURE_SAMPLE=0), paired in the same run.

The same bento (`mlops build` of the test bentos' project) serves twice at once, each server with a home
and a state root of its own (its sink: <state root>/.mlops/capture, flush_seconds 10, max_rows_per_file
10000, the defaults). `wrk -t2 -c8 -d10s --latency` POSTs one row (or --rows rows):
1. to one server at a time, on/off then off/on from run to run (an idle server costs next to nothing),
   after a warm-up run of each: each server's own throughput;
2. to both at once, `--runs` times: the machine's other load hits both alike, so the ratio of the two
   is the steadier figure on a shared machine.
Plus CPU per request in one process (no server, 5,000 requests): capture (enqueue + the writer thread
until every row is written) against the model's own predict. Goal: capture costs under 5 % of
requests/s. After the servers stop (their shutdown hook flushes), the rows in the sink are counted
against the requests wrk counted.

Run:  .venv/bin/python bench/capture.py [--runs 5] [--rows 1] [--keep] [--project DIR]
Builds the test bentos (tests/bentos.py, ~3 min) in a temporary directory, or reuses DIR (kept by
--keep here or by bench/deploy.py: it holds bentos.json); then ~3.5 min for 5 runs. Prints a markdown
table and writes it to bench/results/capture.md. Loopback only; every server it starts is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
from deploy import a_row, bentoml_serve, log, prepare, wrk  # bench/deploy.py (it puts tests/ on sys.path)
from helpers import package_of

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "capture.md"
WRK_SECONDS = 10  # deploy.WRK runs -d10s
SIDES = ("on", "off")
IN_PROCESS_REQUESTS = 5000
# In the project's venv: CPU per request of the model's predict (the baseline) and of capture (enqueue
# in the request thread + the writer thread's work, until close() has written every row).
IN_PROCESS = """
import json, sys, time
import bentoml
from {package}.ops.config import load_config
from {package}.ops.monitoring.capture import CaptureWriter
from {package}.ops.schema import row_model, to_frame
bento, sink, row, count, requests = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
config = load_config()
capture = config.monitoring.capture.model_copy(update={{"sink": sink}})
config = config.model_copy(update={{"monitoring": config.monitoring.model_copy(update={{"capture": capture}})}})
rows = [row_model(config)(**row)] * count
model = bentoml.mlflow.load_model(bentoml.models.get(bentoml.bentos.get(bento).info.labels["model"]))
start = time.process_time()
for _ in range(requests):
    model.predict(to_frame(config, rows)).tolist()
predict = (time.process_time() - start) / requests
writer = CaptureWriter(config, "1")
start, wall = time.process_time(), time.perf_counter()
for n in range(requests):
    writer.record(str(n), rows, [0] * count)
enqueue = (time.perf_counter() - wall) / requests
writer.close()
capture = (time.process_time() - start) / requests
print(json.dumps({{"predict": predict, "enqueue": enqueue, "capture": capture, "written": writer.written}}))
"""


def post_script(work: Path, rows: list[dict]) -> Path:
    script = work / f"post-{len(rows)}.lua"
    body = json.dumps({"rows": rows})
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n'
    )
    return script


def captured_rows(state: Path) -> tuple[int, int]:
    """(rows, files) in a server's sink."""
    paths = list((state / ".mlops" / "capture" / "requests").glob("date=*/*.parquet"))
    return sum(pq.read_metadata(path).num_rows for path in paths), len(paths)


def measure(bentos, work: Path, script: Path, runs: int) -> tuple[dict[str, list[dict]], dict[str, Path]]:
    states = {side: work / f"state-{side}" for side in SIDES}
    for state in states.values():
        shutil.rmtree(state, ignore_errors=True)
    found: dict[str, list[dict]] = {key: [] for side in SIDES for key in (side, f"warm-{side}", f"together-{side}")}
    with contextlib.ExitStack() as stack:
        ports = {}
        for side in SIDES:
            env = {**bentos.env, "MLOPS_STATE_ROOT": str(states[side])}
            if side == "off":
                env["MLOPS_CAPTURE_SAMPLE"] = "0"
            ports[side] = stack.enter_context(
                bentoml_serve(replace(bentos, env=env), bentos.good, work / f"home-{side}")
            )
        for side in SIDES:  # warm-up, not counted (its rows are: they are in the sink)
            found[f"warm-{side}"].append(wrk(f"http://127.0.0.1:{ports[side]}/predict", script))
        for run in range(runs):
            for side in SIDES if run % 2 == 0 else SIDES[::-1]:
                found[side].append(wrk(f"http://127.0.0.1:{ports[side]}/predict", script))
                log(f"run {run + 1} capture {side}: {found[side][-1]}")
        for run in range(runs):  # both loaded at once: the machine's other load hits both alike
            with ThreadPoolExecutor(len(SIDES)) as pool:
                both = dict(
                    zip(
                        SIDES,
                        pool.map(lambda side: wrk(f"http://127.0.0.1:{ports[side]}/predict", script), SIDES),
                        strict=True,
                    )
                )
            for side in SIDES:
                found[f"together-{side}"].append(both[side])
            log(f"run {run + 1} both at once: {both}")
    return found, states


def in_process(bentos, work: Path, row: dict, rows: int) -> dict:
    script = IN_PROCESS.format(package=package_of(bentos.project))
    cmd = [str(bentos.project / ".venv" / "bin" / "python"), "-c", script, bentos.good, str(work / "sink-in-process")]
    cmd += [json.dumps(row), str(rows), str(IN_PROCESS_REQUESTS)]
    out = subprocess.run(
        cmd, cwd=bentos.project, env=bentos.env, capture_output=True, text=True, timeout=600, check=False
    )
    if out.returncode != 0:
        sys.exit(f"[bench] the in-process measurement failed:\n{out.stderr[-3000:]}")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"in process: {found}")
    return found


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cells(*values: str) -> str:
    return "| " + " | ".join(values) + " |"


def report(found: dict, states: dict[str, Path], rows: int, cpu: dict) -> str:
    table = [cells("measure", "capture on (sample 1.0)", "capture off (sample 0)", "on / off"), "|---|---|---|---|"]
    for key, label, digits in (("rps", "requests/s", 0), ("p50", "p50 ms", 2), ("p99", "p99 ms", 2)):
        on, off = ([r[key] for r in found[side]] for side in SIDES)
        runs = {side: ", ".join(f"{r[key]:.{digits}f}" for r in found[side]) for side in SIDES}
        ratio = f"{med(on) / med(off):.3f}x"
        table.append(
            cells(label, f"{med(on):.{digits}f} ({runs['on']})", f"{med(off):.{digits}f} ({runs['off']})", ratio)
        )
    together = {side: [r["rps"] for r in found[f"together-{side}"]] for side in SIDES}
    same_time = [on / off for on, off in zip(together["on"], together["off"], strict=True)]
    table.append(
        cells(
            "requests/s, both servers loaded at once",
            f"{med(together['on']):.0f} ({', '.join(f'{v:.0f}' for v in together['on'])})",
            f"{med(together['off']):.0f} ({', '.join(f'{v:.0f}' for v in together['off'])})",
            f"median {med(same_time):.3f}x ({', '.join(f'{v:.3f}' for v in same_time)})",
        )
    )
    pairs = [on["rps"] / off["rps"] for on, off in zip(found["on"], found["off"], strict=True)]
    table.append(
        cells(
            "requests/s, per pair of adjacent runs",
            "",
            "",
            f"median {med(pairs):.3f}x ({', '.join(f'{p:.3f}' for p in pairs)})",
        )
    )
    table.append(
        cells(
            f"CPU per request, in process ({IN_PROCESS_REQUESTS} requests)",
            f"capture: {cpu['capture'] * 1e6:.0f} us (of it enqueue, wall: {cpu['enqueue'] * 1e6:.1f} us)",
            f"the model's predict: {cpu['predict'] * 1e6:.0f} us",
            f"{cpu['capture'] / cpu['predict']:.3f}x",
        )
    )
    served = sum(r["rps"] * WRK_SECONDS for r in found["on"] + found["warm-on"] + found["together-on"])
    (got, files), (none, _) = captured_rows(states["on"]), captured_rows(states["off"])
    errors = sum(r["errors"] for results in found.values() for r in results)
    lost = 1 - med([r["rps"] for r in found["on"]]) / med([r["rps"] for r in found["off"]])
    return "\n".join(
        [
            *table,
            "",
            (
                f"- {rows}-row requests; requests/s lost to capture: {lost:.1%} by the medians of the runs one at a"
                f" time, {1 - med(same_time):.1%} by the median ratio of the runs at once (goal: under 5 %)."
            ),
            (
                f"- Rows captured by the capture-on server: {got:,} in {files} files, for ~{served * rows:,.0f} rows"
                f" answered (wrk's requests/s x {WRK_SECONDS} s, warm-up included); capture-off server: {none} rows."
            ),
            f"- In process: {cpu['written']:,} rows written of {IN_PROCESS_REQUESTS * rows:,} recorded.",
            f"- wrk errors (non-2xx, socket): {errors}.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="paired runs (medians reported)")
    parser.add_argument("--rows", type=int, default=1, help="rows per request")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (reuse it with --project)")
    parser.add_argument("--project", type=Path, help="a directory kept by an earlier --keep run (bentos.json)")
    args = parser.parse_args()

    work = args.project.resolve() if args.project else Path(tempfile.mkdtemp(prefix="bench-capture-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        bentos = prepare(work)
        row = a_row(bentos)
        found, states = measure(bentos, work, post_script(work, [row] * args.rows), args.runs)
        text = report(found, states, args.rows, in_process(bentos, work, row, args.rows))
    finally:
        if args.keep or args.project:
            log(f"kept {work} (reuse: --project {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# Request capture: serving throughput ({now}, {os.cpu_count()} cores)\n\n{text}"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    log(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
