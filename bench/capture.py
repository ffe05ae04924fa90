"""Benchmark of request capture: serving throughput with every request captured (monitoring.capture
sample 1.0, the default) against capture off (MLOPS_CAPTURE_SAMPLE=0), paired in the same run.

The same bento (`mlops build` of the test bentos' project) serves three times at once: capture on,
capture off, and a second capture-off server (the control), each with a home and a state root of its
own (its sink: <state root>/.mlops/capture, flush_seconds 10, max_rows_per_file 10000, the defaults).
`wrk -t2 -c8 -d10s --latency` POSTs one row (or --rows rows):
1. to one server at a time, on/off then off/on from run to run (an idle server costs next to nothing),
   after a warm-up run of each: each server's own throughput;
2. to on and off at once, `--runs` times: the machine's other load hits both alike, so the ratio of
   the two is the steadier figure on a shared machine; then control and off at once (an A/A pair),
   which shows the noise of that ratio.
Plus CPU per request in one process (no server, 5,000 requests): capture (enqueue + the writer thread
until every row is written) against the model's own predict. Goal: capture costs under 5 % of
requests/s. After the servers stop (their shutdown hook flushes), the rows in the sink are counted
against the requests wrk counted.

Run:  .venv/bin/python bench/capture.py [--runs 5] [--rows 1] [--keep] [--project DIR]
Builds the test bentos (tests/bentos.py, ~3 min) in a temporary directory, or reuses DIR (kept by
--keep here or by bench/deploy.py: it holds bentos.json); then ~6 min for 5 runs. Prints a markdown
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
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
from deploy import a_row, bentoml_serve, log, prepare, wrk  # bench/deploy.py (it puts tests/ on sys.path)
from helpers import package_of

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "capture.md"
WRK_SECONDS = 10  # deploy.WRK runs -d10s
# MLOPS_CAPTURE_SAMPLE of each server (None: mlops.yaml's, 1.0); "control" is a second capture-off
# server: control vs off, loaded at once, is an A/A pair that shows the noise of the figures.
SERVERS = {"on": None, "off": "0", "control": "0"}
ALONE = ("on", "off")
AT_ONCE = (("on", "off"), ("control", "off"))
IN_PROCESS_REQUESTS = 5000
# In the project's venv: CPU per request of the model's predict (the baseline) and of capture (enqueue
# in the request thread + the writer thread's work, until close() has written every row).
IN_PROCESS = """
import json, sys, time
import bentoml
from {package}.ops.config import load_config
from {package}.ops.monitoring.capture import CaptureWriter
from {package}.ops.serving.schema import row_model, to_frame
bento, sink, row, count, requests = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
config = load_config()
capture = config.monitoring.capture.model_copy(update={{"sink": sink}})
config = config.model_copy(update={{"monitoring": config.monitoring.model_copy(update={{"capture": capture}})}})
Row = row_model(config)
batches = [[Row(**row) for _ in range(count)] for _ in range(requests)]  # new objects, as requests bring
model = bentoml.mlflow.load_model(bentoml.models.get(bentoml.bentos.get(bento).info.labels["model"]))
start = time.process_time()
for rows in batches:
    model.predict(to_frame(config, rows)).tolist()
predict = (time.process_time() - start) / requests
writer = CaptureWriter(config, "1")
start, wall = time.process_time(), time.perf_counter()
for n, rows in enumerate(batches):
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


def at_once(ports: dict[str, int], script: Path, sides: tuple[str, ...]) -> dict[str, dict]:
    """wrk against each of `sides` at the same time."""
    with ThreadPoolExecutor(len(sides)) as pool:
        results = pool.map(lambda side: wrk(f"http://127.0.0.1:{ports[side]}/predict", script), sides)
        return dict(zip(sides, results, strict=True))


def measure(bentos, work: Path, script: Path, runs: int) -> tuple[dict[str, list[dict]], dict[str, Path]]:
    states = {side: work / f"state-{side}" for side in SERVERS}
    found: dict[str, list[dict]] = defaultdict(list)
    with contextlib.ExitStack() as stack:
        ports = {}
        for side, sample in SERVERS.items():
            shutil.rmtree(states[side], ignore_errors=True)
            env = {**bentos.env, "MLOPS_STATE_ROOT": str(states[side])}
            env |= {"MLOPS_CAPTURE_SAMPLE": sample} if sample else {}
            server = bentoml_serve(replace(bentos, env=env), bentos.good, work / f"home-{side}")
            ports[side] = stack.enter_context(server)
        for side in SERVERS:  # warm-up, not counted (its rows are: they are in the sink)
            found[f"warm-{side}"].append(wrk(f"http://127.0.0.1:{ports[side]}/predict", script))
        for run in range(runs):
            for side in ALONE if run % 2 == 0 else ALONE[::-1]:
                found[side].append(wrk(f"http://127.0.0.1:{ports[side]}/predict", script))
                log(f"run {run + 1} capture {side}, alone: {found[side][-1]}")
        for run in range(runs):
            for pair in AT_ONCE:
                results = at_once(ports, script, pair if run % 2 == 0 else pair[::-1])  # launch order alternates
                for side, result in results.items():
                    found[f"{'/'.join(pair)}:{side}"].append(result)
                log(f"run {run + 1} {' and '.join(pair)} at once: {results}")
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


def ratios(found: dict, pair: tuple[str, str]) -> list[float]:
    first, second = (found[f"{'/'.join(pair)}:{side}"] for side in pair)
    return [a["rps"] / b["rps"] for a, b in zip(first, second, strict=True)]


def listed(values: list[float], digits: int) -> str:
    return f"{med(values):.{digits}f} ({', '.join(f'{v:.{digits}f}' for v in values)})"


def report(found: dict, states: dict[str, Path], rows: int, cpu: dict) -> str:
    table = [cells("measure", "capture on (sample 1.0)", "capture off (sample 0)", "on / off"), "|---|---|---|---|"]
    for key, label, digits in (("rps", "requests/s", 0), ("p50", "p50 ms", 2), ("p99", "p99 ms", 2)):
        on, off = ([r[key] for r in found[side]] for side in ALONE)
        table.append(
            cells(
                f"{label}, one server loaded at a time",
                listed(on, digits),
                listed(off, digits),
                f"{med(on) / med(off):.3f}x",
            )
        )
    (on_pair, control_pair), at_once_rps = (
        AT_ONCE,
        {side: [r["rps"] for r in found[f"on/off:{side}"]] for side in ALONE},
    )
    table.append(
        cells(
            "requests/s, both loaded at once",
            listed(at_once_rps["on"], 0),
            listed(at_once_rps["off"], 0),
            f"median of the runs' ratios: {listed(ratios(found, on_pair), 3)}",
        )
    )
    control = ratios(found, control_pair)
    table.append(cells("A/A control: a second capture-off server vs off, at once", "", "", listed(control, 3)))
    table.append(
        cells(
            f"CPU per request in one process ({IN_PROCESS_REQUESTS:,} requests)",
            f"capture {cpu['capture'] * 1e6:.0f} us (enqueue, wall: {cpu['enqueue'] * 1e6:.1f} us)",
            f"the model's predict {cpu['predict'] * 1e6:.0f} us",
            f"{cpu['capture'] / cpu['predict']:.4f}x",
        )
    )
    served = sum(r["rps"] * WRK_SECONDS for key, results in found.items() if key.endswith("on") for r in results)
    (got, files), (none, _) = captured_rows(states["on"]), captured_rows(states["off"])
    errors = sum(r["errors"] for results in found.values() for r in results)
    alone = 1 - med([r["rps"] for r in found["on"]]) / med([r["rps"] for r in found["off"]])
    return "\n".join(
        [
            *table,
            "",
            (
                f"- {rows}-row requests. Requests/s lost to capture: {alone:.1%} (medians, one server at a time),"
                f" {1 - med(ratios(found, on_pair)):.1%} (median ratio, both at once); goal: under 5 %. The A/A"
                f" control's ratios spread over {min(control):.3f}-{max(control):.3f}: differences within that are noise."
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
