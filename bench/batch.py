"""Benchmark of batch prediction: `mlops predict` streaming in chunks (ops/serving/batch.py) against the
pandas read-everything baseline it replaced, on 2M rows of the default project's columns.

The data: data/raw.csv of a default bake (569 rows, 30 numeric columns and the label), resampled
with a fixed seed to --rows rows (2,000,000: a 425 MB CSV, 73 MB of Parquet) and written once as CSV and as Parquet.
The model: models/model.joblib of that bake (`mlops prepare` + `mlops train`), given with
--model-file to every case, so each case's figures are reading, predicting and writing only
(`--registry` adds the same run loading the champion through MLflow: the bench evaluates, tracks,
registers and promotes the model first). Each case is a fresh process; its wall time is measured
around it, its CPU time and peak RSS are the child's own (`os.wait4`'s rusage: user + system time,
ru_maxrss of that process alone):
  stream   `mlops predict BIG --output OUT --model-file models/model.joblib` (default chunk size, 10,000 rows)
  pandas   the baseline, in the same run: the former command's code (read_table of the whole file,
           data.features, predict, DataFrame.to_parquet/to_csv), the same imports
for CSV -> CSV and Parquet -> Parquet, alternating stream/pandas, --repeat times (median reported).
Both outputs are compared: the same rows, the same predictions. Goals: under 30 s and 500 MB.

Run:  .venv/bin/python bench/batch.py [--rows 2000000] [--repeat 1] [--registry] [--project DIR] [--keep]
Bakes the template into a temporary directory (or uses DIR, a bake); runs the project's code with
DIR/.venv when it has one (`make setup`), else with this venv (PYTHONPATH=DIR/src). ~5 min at 2M rows.
Prints a markdown table and writes it to bench/results/batch.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "batch.md"
GOAL_SECONDS, GOAL_MB = 30, 500
# The baseline: `mlops predict` as it was before ops/serving/batch.py (read everything, predict, write).
PANDAS = """
import sys
from pathlib import Path
from {package}.ops.config import load_config
from {package}.ops.pipeline.data import features, read_table
from {package}.ops.pipeline.training import load

source, output = sys.argv[1], Path(sys.argv[2])
cfg = load_config()
frame = read_table(source)
result = frame.assign(prediction=load(Path("models/model.joblib")).predict(features(cfg, frame)))
(result.to_parquet if output.suffix == ".parquet" else result.to_csv)(output, index=False)
print(f"wrote {{len(result)}} predictions to {{output}}")
"""


GENERATE = """
import sys
import numpy as np
import pandas as pd

rows, csv, parquet = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw = pd.read_csv("data/raw.csv")
big = raw.iloc[np.random.default_rng(0).integers(0, len(raw), rows)].reset_index(drop=True)
big.to_csv(csv, index=False)
big.to_parquet(parquet, index=False)
"""


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def package_of(project: Path) -> str:
    return next(p.name for p in (project / "src").iterdir() if (p / "ops").is_dir())


def python_of(project: Path) -> tuple[str, dict[str, str]]:
    """The interpreter that runs the project's code, and its environment."""
    own = project / ".venv" / "bin" / "python"
    if own.exists():
        return str(own), dict(os.environ)
    return sys.executable, {**os.environ, "PYTHONPATH": str(project / "src")}


def measured(cmd: list[str], project: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of one child process; fails loudly when it fails."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (Popen.wait would reap it)
        wall = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code:
            out.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{out.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KB


def prepare(project: Path, rows: int, python: str, env: dict[str, str], registry: bool) -> dict[str, Path]:
    """Train the bake's model (and make it the champion) and write the big input as CSV and Parquet
    (a seeded resample of data/raw.csv)."""
    cli = [python, "-m", f"{package_of(project)}.ops.cli"]
    for command in ("prepare", "train", *(("evaluate", "track", "register", "promote") if registry else ())):
        subprocess.run([*cli, command], cwd=project, env=env, check=True, capture_output=True)
    inputs = {"csv": project / "big.csv", "parquet": project / "big.parquet"}
    # In a process of its own: a child's ru_maxrss starts from this process's peak (Linux keeps the
    # high-water mark across fork and exec), so the frame must never be in this one.
    subprocess.run([python, "-c", GENERATE, str(rows), *map(str, inputs.values())], cwd=project, env=env, check=True)
    sizes = {kind: path.stat().st_size / 1e6 for kind, path in inputs.items()}
    log(f"{rows:,} rows: CSV {sizes['csv']:,.0f} MB, Parquet {sizes['parquet']:,.0f} MB")
    return inputs


def cases(project: Path, inputs: dict[str, Path], python: str, registry: bool) -> dict[str, list[str]]:
    package = package_of(project)
    cli = [python, "-m", f"{package}.ops.cli", "predict"]
    found = {}
    for kind, source in inputs.items():
        model = ["--model-file", "models/model.joblib"]
        found[f"{kind}: stream"] = [*cli, str(source), "--output", f"out-stream.{kind}", *model]
        found[f"{kind}: pandas"] = [python, "-c", PANDAS.format(package=package), str(source), f"out-pandas.{kind}"]
        if registry:
            found[f"{kind}: stream, champion via MLflow"] = [*cli, str(source), "--output", f"out-registry.{kind}"]
    return found


def same_outputs(project: Path) -> list[str]:
    """Each streamed output against the baseline's: rows, columns and predictions equal."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    lines = []
    for kind, read in (("csv", pacsv.read_csv), ("parquet", pq.read_table)):
        baseline = read(project / f"out-pandas.{kind}")
        for case in ("stream", "registry"):
            path = project / f"out-{case}.{kind}"
            if not path.exists():
                continue
            ours = read(path)
            same = ours.column_names == baseline.column_names and ours.num_rows == baseline.num_rows
            same = same and ours.column("prediction").equals(baseline.column("prediction"))
            lines.append(f"{kind} {case}: {ours.num_rows:,} rows, {'identical' if same else 'DIFFERENT'} predictions")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each case (median reported)")
    parser.add_argument("--registry", action="store_true", help="Also stream with the champion (MLflow)")
    parser.add_argument("--project", type=Path, help="A bake to use (else one in a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary bake")
    args = parser.parse_args()
    tmp = None if args.project else Path(tempfile.mkdtemp(prefix="batch-bench-"))
    try:
        project = args.project.resolve() if args.project else bake(tmp)
        python, env = python_of(project)
        env.pop("GITHUB_ACTIONS", None)
        inputs = prepare(project, args.rows, python, env, args.registry)
        runs = cases(project, inputs, python, args.registry)
        figures = {name: [] for name in runs}
        for attempt in range(args.repeat):
            # Alternate which of each pair runs first: the machine's other load hits both alike.
            order = list(runs) if attempt % 2 == 0 else list(reversed(runs))
            for name in order:
                figures[name].append(measured(runs[name], project, env))
                wall, cpu, peak = figures[name][-1]
                log(f"{name}: {wall:.1f} s, CPU {cpu:.1f} s, {peak:,.0f} MB")
        report = table(figures, args.rows) + [""] + same_outputs(project)
        for path in project.glob("out-*"):
            path.unlink()
        for path in inputs.values():
            path.unlink()
    finally:
        if tmp and args.keep:
            log(f"kept {tmp}")
        elif tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(report) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


def bake(into: Path) -> Path:
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(into)))


def table(figures: dict[str, list[tuple[float, float, float]]], rows: int) -> list[str]:
    lines = [
        f"{rows:,} rows, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        + f"load average {os.getloadavg()[0]:.1f}; goals: under {GOAL_SECONDS} s and {GOAL_MB} MB",
        "",
        "| case | wall s (runs) | CPU s (runs) | peak RSS MB (runs) | wall / pandas | CPU / pandas | peak RSS / pandas |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, runs in figures.items():
        ours, base = medians(runs), medians(figures[name.split(":")[0] + ": pandas"])
        each = [", ".join(f"{run[i]:,.1f}" if i < 2 else f"{run[i]:,.0f}" for run in runs) for i in range(3)]
        cells = [f"{ours[i]:,.1f} ({each[i]})" for i in range(2)] + [f"{ours[2]:,.0f} ({each[2]})"]
        ratios = [f"{ours[i] / base[i]:.2f}x" for i in range(3)]
        lines.append(f"| {name} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    return lines


def medians(runs: list[tuple[float, float, float]]) -> list[float]:
    return [statistics.median(run[i] for run in runs) for i in range(3)]


if __name__ == "__main__":
    main()
