"""Benchmark of the default bake on this machine: bake time, `make setup` with a cold and a warm uv
cache, the full and the no-change `dvc repro`, and a same-run baseline for the repro: the same
project in a venv WITHOUT precompiled bytecode (what a plain `uv sync` gives when Python may not
write .pyc files, i.e. PYTHONDONTWRITEBYTECODE=1 as on this machine and many CI images).

Run:  make bench      (or: .venv/bin/python bench/run.py [--repeat 2] [--keep])
Prints a markdown table and writes it to bench/results/latest.md, then docs/benchmarks.md from every
results file (bench/report.py). Takes ~6-8 min on 2 cores; the cold `make setup` downloads the
project's packages from PyPI into a fresh, temporary uv cache.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results" / "latest.md"
sys.path.insert(0, str(ROOT / "tests"))
from helpers import project_env
from report import write as write_benchmarks_page  # docs/benchmarks.md from every results file


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, work: Path):
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.cache = work / "uv-cache"  # fresh: the first `make setup` downloads everything
        self.count = 0
        # The tests' environment for baked projects (no foreign venv, no telemetry, a git identity),
        # with Python never writing .pyc itself (as on this machine) and a fresh uv cache.
        self.env = project_env(PYTHONDONTWRITEBYTECODE="1", UV_CACHE_DIR=str(self.cache))
        self.env.pop("UV_COMPILE_BYTECODE")  # each measured install sets it explicitly

    def run(self, cmd: list, cwd: Path, label: str, **env: str) -> float:
        """Run `cmd`, return its wall time; stop the benchmark with the output's tail if it fails."""
        self.count += 1
        out = self.logs / f"{self.count:02d}-{label.split()[0].strip('`')}.log"
        start = time.perf_counter()
        with out.open("w") as handle:
            code = subprocess.run(
                [str(c) for c in cmd], check=False, cwd=cwd, env=self.env | env, stdout=handle, stderr=subprocess.STDOUT
            ).returncode
        seconds = time.perf_counter() - start
        if code != 0:
            tail = "\n".join(out.read_text(errors="replace").splitlines()[-40:])
            sys.exit(f"[bench] {label} failed (exit {code}) in {cwd}; log {out}:\n{tail}")
        log(f"{label}: {seconds:.1f} s")
        return seconds

    def bake(self, into: Path) -> tuple[Path, float]:
        into.mkdir(parents=True)
        config = into / "config.yaml"
        config.write_text(f"replay_dir: {into / 'replay'}\n")
        cmd = [VENV_BIN / "cookiecutter", ROOT, "--no-input", "--config-file", config, "-o", into]
        seconds = self.run(cmd, into, "bake")
        return into / "cancer-classifier", seconds

    def commit(self, project: Path) -> None:
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "Bake"]):
            subprocess.run(cmd, cwd=project, env=self.env, check=True, capture_output=True)


def pyc_count(venv: Path) -> int:
    return sum(1 for _ in venv.glob("lib/python*/site-packages/**/*.pyc"))


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}x" if baseline else ""


def runs(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def tool_version(cmd: list) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each repro measurement (median reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (projects, logs)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    log(f"working in {work}")
    bench = Bench(work)
    try:
        # 1. Bake: median of 3 (the first bake is the project measured below).
        bakes = [bench.bake(work / f"bake{i}") for i in range(3)]
        project = bakes[0][0]
        bake_seconds = statistics.median(seconds for _, seconds in bakes)
        bench.commit(project)

        # 2. `make setup`, cold (empty uv cache: every wheel comes from PyPI), then warm (same cache,
        #    new .venv: the same work as the cold run minus the downloads). Both install the bake's uv.lock.
        cold = bench.run(["make", "setup"], project, "`make setup` cold")
        shutil.rmtree(project / ".venv")
        warm = bench.run(["make", "setup"], project, "`make setup` warm")

        # 3. The baseline: a second copy of the project, the same locked packages, no bytecode.
        baseline, _ = bench.bake(work / "baseline")
        bench.commit(baseline)
        plain_sync = bench.run(
            ["uv", "sync", "--locked", "--extra", "local"],
            baseline,
            "`uv sync` without bytecode",
            UV_COMPILE_BYTECODE="0",
        )
        compiled_pyc, baseline_pyc = pyc_count(project / ".venv"), pyc_count(baseline / ".venv")

        # 4. Full repro (outputs and mlflow.db removed; --force: DVC's run cache would otherwise restore
        #    the outputs instead of running the stages) and no-change repro, alternating the two venvs.
        full = {"ours": [], "baseline": []}
        noop = {"ours": [], "baseline": []}
        for round_ in range(args.repeat):
            for name, path in (("ours", project), ("baseline", baseline)):
                bench.run(["make", "clean"], path, "`make clean`")
                full[name].append(
                    bench.run(["uv", "run", "--no-sync", "dvc", "repro", "--force"], path, f"full repro ({name})")
                )
                noop[name].append(
                    bench.run(["uv", "run", "--no-sync", "dvc", "repro"], path, f"no-change repro ({name})")
                )
        after_pyc = pyc_count(baseline / ".venv")
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    f_ours, f_base = statistics.median(full["ours"]), statistics.median(full["baseline"])
    n_ours, n_base = statistics.median(noop["ours"]), statistics.median(noop["baseline"])
    extra_setup = warm - plain_sync
    saving = f_base - f_ours
    break_even = f"{extra_setup / saving:.1f}" if saving > 0 else "never"

    table = [
        "| measure | this template (precompiled bytecode) | baseline (no bytecode) | ratio |",
        "|---|---|---|---|",
        f"| bake, default answers (median of 3) | {fmt(bake_seconds)} | | |",
        f"| `make setup`, cold uv cache (downloads from PyPI) | {fmt(cold)} | | |",
        f"| `make setup`, warm uv cache, new .venv | {fmt(warm)} | {fmt(plain_sync)} (`uv sync`, UV_COMPILE_BYTECODE=0) | {ratio(warm, plain_sync)} |",
        f"| full `dvc repro` (3 stages, after `make clean`) | {fmt(f_ours)} | {fmt(f_base)} | {ratio(f_ours, f_base)} |",
        f"| no-change `dvc repro` | {fmt(n_ours)} | {fmt(n_base)} | {ratio(n_ours, n_base)} |",
    ]
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"# Benchmark of the default bake ({now})",
            "",
            (
                f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
                f"Python {platform.python_version()}, {tool_version(['uv', '--version'])}, "
                f"{tool_version(['git', '--version'])}. PYTHONDONTWRITEBYTECODE=1."
            ),
            "",
            *table,
            "",
            (
                f"Repro times are medians of {args.repeat} runs each, alternating the two venvs "
                f"(full, this template: {runs(full['ours'])} s; baseline: {runs(full['baseline'])} s; "
                f"no-change: {runs(noop['ours'])} / {runs(noop['baseline'])} s)."
            ),
            (
                f"Ratio = this template / baseline (below 1x: faster). .pyc files in site-packages: {compiled_pyc} "
                f"(this template) vs {baseline_pyc} (baseline; {after_pyc} after its repros: Python cached nothing)."
            ),
            (
                f"Precompiling costs {fmt(extra_setup)} once per `make setup` and saves {fmt(saving)} per full "
                f"repro (every `mlops` stage is a new Python process): it pays off after {break_even} full repros."
            ),
            "",
        ]
    )
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    log(f"wrote {write_benchmarks_page().relative_to(ROOT)} from every file in {RESULTS.parent.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
