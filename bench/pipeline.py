"""Where a full `dvc repro --force` of the default bake spends its time, against baselines measured
in the same run, alternating (A B A B ...) so a drift of the shared machine hits both alike:

- repro: `dvc repro --force` (the three stages; they log nothing to MLflow since `mlops track` is a
  step of its own),
- repro + track: the same, then `mlops track` into a fresh MLflow store, i.e. the work of the former
  pipeline whose evaluate stage logged the run (the baseline this change is measured against),
- floor: one `python -c pass` per stage (an interpreter, nothing imported) and one import per stage of
  the `mlops` CLI alone: what no change to the stages' own work can remove,
- each stage's command alone, and its imports (`python -X importtime`, top-level packages).

Wall seconds (median) and CPU seconds (user + sys of the children, median): on a busy 2-core machine
the CPU figure moves less than the wall one.

Run:  .venv/bin/python bench/pipeline.py [--project DIR] [--repeat 3]
Without --project it bakes the default project into a temporary directory and runs `make setup`
(~1-2 min). Prints a markdown table and writes bench/results/pipeline.md.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "pipeline.md"
sys.path.insert(0, str(ROOT / "tests"))
from helpers import make_ready_project, project_env

OUTPUTS = ("data/prepared", "models", "reports", "metrics.json", "mlflow.db", "mlruns")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + sys of the children) seconds of `cmd`; exits with its output if it fails."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"[bench] {shlex.join(cmd)} failed in {cwd}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def clean(project: Path) -> None:
    for name in OUTPUTS:
        path = project / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def stage_commands(project: Path) -> dict[str, list[str]]:
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    return {name: shlex.split(stage["cmd"]) for name, stage in stages.items()}


def imports(project: Path, env: dict[str, str], cmd: list[str], top: int = 4) -> str:
    """The `top` slowest top-level imports of a stage command (one run: orientation, not a figure)."""
    python, script = project / ".venv/bin/python", project / ".venv/bin" / cmd[0]
    cmd = [python, "-X", "importtime", script, *cmd[1:]]
    out = subprocess.run(cmd, check=False, cwd=project, env=env, capture_output=True)
    rows = re.findall(rb"import time:\s+\d+ \|\s+(\d+) \| {1,2}(\S+)", out.stderr)
    slowest = sorted(((int(us), name.decode()) for us, name in rows), reverse=True)[:top]
    return ", ".join(f"{name} {us / 1e6:.2f}" for us, name in slowest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="an installed project (`make setup` done)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        project = args.project.resolve() if args.project else make_ready_project(Path(tmp))
        bin_dir = project / ".venv/bin"
        env = project_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        package = next(p.name for p in (project / "src").iterdir() if (p / "ops").is_dir())
        commands = stage_commands(project)
        python = str(bin_dir / "python")
        figures: dict[str, list[tuple[float, float]]] = {}

        def measure(label: str, *cmds: list[str], fresh: bool = False) -> None:
            if fresh:
                clean(project)
            runs = [timed(cmd, project, env) for cmd in cmds]
            figures.setdefault(label, []).append((sum(r[0] for r in runs), sum(r[1] for r in runs)))

        timed([bin_dir / "dvc", "repro"], project, env)  # warm: outputs and run cache exist
        repro, track = [str(bin_dir / "dvc"), "repro", "--force"], [str(bin_dir / "mlops"), "track"]
        for _ in range(args.repeat):
            measure("`dvc repro --force`", repro, fresh=True)
            measure("`dvc repro --force` + `mlops track` (fresh store): the former pipeline", repro, track, fresh=True)
            measure(f"floor: {len(commands)} x `python -c pass`", *[[python, "-c", "pass"]] * len(commands))
            measure(
                f"floor: {len(commands)} x import of the `mlops` CLI",
                *[[python, "-c", f"import {package}.ops.cli"]] * len(commands),
            )
            for name, cmd in commands.items():
                measure(f"stage `{name}` alone", cmd)
        rows = [
            "| figure | wall s (median) | CPU s (median) |",
            "|---|---|---|",
            *(
                f"| {label} | {statistics.median(w for w, _ in runs):.2f} | {statistics.median(c for _, c in runs):.2f} |"
                for label, runs in figures.items()
            ),
        ]
        slowest = [f"- `{name}`: {imports(project, env, cmd)}" for name, cmd in commands.items()]
    load = os.getloadavg()[0]
    report = "\n".join(
        [
            f"Full pipeline of the default bake, {args.repeat} runs each, load average {load:.1f} at the end.",
            "",
            *rows,
            "",
            "Slowest top-level imports per stage (cumulative seconds, one run):",
            *slowest,
        ]
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
