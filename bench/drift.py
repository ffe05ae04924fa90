"""Benchmark of the drift check (ops/monitoring/drift.py) on synthetic 10k x 30 and 1M x 30 numeric data.

Run by hand, never from tests:  .venv/bin/python bench/drift.py [--rows 10000 1000000] [--repeat 3]

Bakes the template (default answers) into a temporary directory. For each size, each case runs in a
fresh process that generates the same seeded data, imports what the case needs, then times the call
(best of --repeat: wall and CPU seconds) and reads the peak RSS during the calls (VmHWM, reset after
the data and imports are in memory; so the peak includes Python, the imports and both frames):
  ours       `check` of the baked project with the default sample_size (20,000 rows per side);
             ours:N (--sample-sizes N) the same with sample_size N
  evidently  plain Evidently DataDriftPreset on all rows, once (killed after --full-timeout seconds)
  ks         the baseline: scipy.stats.ks_2samp per column on all rows (p < 0.05 = drifted)
  wass-full  scipy normed Wasserstein distance per column on all rows: Evidently's formula and
             threshold (0.1) without Evidently, the full-data verdict when Evidently is killed
The current window is an independent draw with 10 columns shifted by 0.5 sd (should drift), 5 by
0.02 sd (should not: far below the 0.1 threshold) and 15 unchanged; drift_share is 0.3.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
COLUMNS = [f"c{i:02d}" for i in range(30)]
SHIFTED, NUDGED = COLUMNS[:10], COLUMNS[10:15]
DRIFT_SHARE = 0.3


def make_data(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    scales = rng.uniform(0.5, 20, len(COLUMNS))

    def draw() -> pd.DataFrame:
        values = rng.standard_normal((rows, len(COLUMNS)))
        values *= scales
        values[:, ::3] = np.exp(values[:, ::3] / scales[::3])  # some skewed columns
        return pd.DataFrame(values, columns=COLUMNS)

    reference, current = draw(), draw()
    current[SHIFTED] += 0.5 * reference[SHIFTED].std()
    current[NUDGED] += 0.02 * reference[NUDGED].std()
    return reference, current


# --- the cases: each prepares (imports, config) and returns the call to time -----------------------


def case_ours(reference, current, project: Path, sample_size: int | None = 20_000):
    sys.path.insert(0, str(project / "src"))
    package = next(p.name for p in (project / "src").iterdir() if (p / "ops").is_dir())
    config_mod = __import__(f"{package}.ops.config", fromlist=["load_config"])
    drift = __import__(f"{package}.ops.monitoring.drift", fromlist=["check"])
    raw = config_mod.load_config(project / "mlops.yaml").model_dump()
    raw["data"]["columns"] = {name: {"type": "numeric"} for name in COLUMNS}
    raw["monitoring"]["drift"].update(drift_share=DRIFT_SHARE, sample_size=sample_size)
    config = config_mod.Config.model_validate(raw)
    import evidently.presets  # noqa: F401  (imported before the timing, like the other cases)

    def call():
        result = drift.check(config, reference, current)
        assert result.drifted == (result.share >= DRIFT_SHARE)
        return [c.name for c in result.drifted_columns], sorted({c.method for c in result.columns})

    return call


def case_evidently(reference, current, project: Path):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    def call():
        definition = DataDefinition(numerical_columns=COLUMNS)
        snapshot = Report([DataDriftPreset(drift_share=DRIFT_SHARE)]).run(
            reference_data=Dataset.from_pandas(reference, data_definition=definition),
            current_data=Dataset.from_pandas(current, data_definition=definition),
        )
        drifts = [m for m in snapshot.dict()["metrics"] if m["config"]["type"].endswith(":ValueDrift")]
        # every column here is continuous with > 1000 rows: normed Wasserstein, drifted at >= threshold
        drifted = [m["config"]["column"] for m in drifts if m["value"] >= m["config"]["threshold"]]
        return drifted, sorted({m["config"]["method"] for m in drifts})

    return call


def case_ks(reference, current, project: Path):
    from scipy.stats import ks_2samp

    def call():
        columns = [(c, reference[c].to_numpy(), current[c].to_numpy()) for c in COLUMNS]
        return [c for c, ref, cur in columns if ks_2samp(ref, cur).pvalue < 0.05], ["scipy ks_2samp p<0.05"]

    return call


def case_wass_full(reference, current, project: Path):
    import numpy as np
    from scipy.stats import wasserstein_distance

    def call():
        drifted = []
        for c in COLUMNS:
            ref, cur = reference[c].to_numpy(), current[c].to_numpy()
            if wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001) >= 0.1:
                drifted.append(c)
        return drifted, ["scipy normed W1 >= 0.1"]

    return call


CASES = {"ours": case_ours, "evidently": case_evidently, "ks": case_ks, "wass-full": case_wass_full}


def memory() -> tuple[float, float]:
    """(peak, current) RSS of this process in MB, from /proc/self/status."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(status[key].split()[0]) / 1024 for key in ("VmHWM", "VmRSS"))


def child(case: str, rows: int, project: Path, repeat: int) -> None:
    reference, current = make_data(rows)
    name, _, size = case.partition(":")  # ours:20000 = ours with another sample_size
    call = CASES[name](reference, current, project, *([int(size)] if size else []))
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak: data generation is not the case's cost
    before, walls, cpus = memory()[1], [], []
    for _ in range(1 if case == "evidently" else repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        drifted, methods = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        print(f"{case} {rows}: {walls[-1]:.2f} s", file=sys.stderr, flush=True)
    result = {"seconds": min(walls), "cpu_s": min(cpus), "drifted": drifted, "methods": methods}
    print("RESULT " + json.dumps({**result, "before_mb": before, "peak_mb": memory()[0]}))


# --- the driver -----------------------------------------------------------------------------------


def run_case(case: str, rows: int, project: Path, repeat: int, timeout: float) -> dict:
    args = [sys.executable, __file__, "--child", case, str(rows), str(project), str(repeat)]
    try:
        done = subprocess.run(args, stdout=subprocess.PIPE, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"case": case, "timeout": timeout}
    result = json.loads(next(line[7:] for line in done.stdout.splitlines() if line.startswith("RESULT ")))
    return {"case": case, **result}


def bake(into: Path) -> Path:
    from cookiecutter.main import cookiecutter

    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(into)))


def verdict(drifted: list[str]) -> bool:
    return len(drifted) / len(COLUMNS) >= DRIFT_SHARE


def compare(result: dict, full: dict) -> str:
    same = "yes" if verdict(result["drifted"]) == verdict(full["drifted"]) else "NO"
    same += ", same columns" if result["drifted"] == full["drifted"] else ", other columns"
    return f"{same} (vs {full['case']})"


def table(rows: int, results: list[dict]) -> list[str]:
    ks = next(r for r in results if r["case"] == "ks")
    full = next((r for r in results if r["case"] == "evidently" and "drifted" in r), None)
    full = full or next((r for r in results if r["case"] == "wass-full"), None)
    lines = []
    for r in results:
        if "timeout" in r:
            lines.append(f"| {rows:,} | {r['case']} | > {r['timeout']:.0f} (killed) | | | | | | | | |")
            continue
        same = "(no full-data case run)" if full is None else compare(r, full)
        lines.append(
            f"| {rows:,} | {r['case']} | {r['seconds']:.2f} | {r['cpu_s']:.2f} | {r['peak_mb']:,.0f} "
            f"| {r['before_mb']:,.0f} | {r['seconds'] / ks['seconds']:.1f}x | {r['peak_mb'] / ks['peak_mb']:.2f}x "
            f"| {'yes' if verdict(r['drifted']) else 'no'} ({len(r['drifted'])}/{len(COLUMNS)}) "
            f"| {same} | {', '.join(r['methods'])} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1, help="Best of N calls (plain Evidently: once)")
    parser.add_argument("--full-timeout", type=float, default=180, help="Kill plain Evidently after this")
    parser.add_argument("--sample-sizes", type=int, nargs="*", default=[], help="Also run ours:N (sample_size N)")
    parser.add_argument("--cases", nargs="+", help=f"Only these of {', '.join(CASES)} (ks always runs)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, rows, project, repeat = args.child
        return child(case, int(rows), Path(project), int(repeat))
    header = (
        "| rows | case | wall s | CPU s | peak RSS MB | RSS before the call MB | wall / ks | peak RSS / ks "
        "| dataset drift (columns) | same verdict as on full data | method |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        project = bake(Path(tmp))
        for rows in args.rows:
            cases = [*(args.cases or CASES), *(f"ours:{size}" for size in args.sample_sizes)]
            cases += [] if "ks" in cases else ["ks"]
            results = [run_case(case, rows, project, args.repeat, args.full_timeout) for case in cases]
            lines += table(rows, results)
    print(
        f"expected: {len(SHIFTED)}/30 columns drift ({SHIFTED[0]}..{SHIFTED[-1]}); {NUDGED[0]}..{NUDGED[-1]}"
        f" nudged by 0.02 sd; best of {args.repeat}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
