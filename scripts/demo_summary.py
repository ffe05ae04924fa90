"""The closing lines of `make demo`: what ran, where the project is, its model's metrics, the URL its
smoke test served on, and what to try next (described by the project Makefile's own help texts).

    python scripts/demo_summary.py PROJECT LOOP_LOG
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NEXT = ("serve", "act-ci", "deploy")  # the project's make targets to try after the demo
SMOKE = re.compile(r"^sent (\d+) rows of \S+ to POST (http://\S+)/predict", re.MULTILINE)  # `mlops smoke`


def make_help(makefile: str, target: str) -> str:
    """The `## ...` text of a target, as `make help` lists it."""
    found = re.search(rf"^{re.escape(target)}:.*?## (.*)$", makefile, re.MULTILINE)
    return found[1] if found else ""


def smoke_line(log: str) -> str:
    found = SMOKE.search(log)
    if not found:
        return "no answer found in the loop's output"
    return f"served on {found[2]}: POST /predict answered {found[1]} rows (the server is stopped)"


def summary(project: Path, log: str) -> list[str]:
    makefile = (project / "Makefile").read_text()
    metrics = json.loads((project / "metrics.json").read_text())
    scores = ", ".join(f"{name} {value:.3f}" for name, value in metrics.items())
    return [
        "",
        "Demo done: baked the default answers, installed the project's uv.lock (make setup), ran make loop",
        f"  ({make_help(makefile, 'loop')}).",
        f"  project  {project}",
        f"  model    {scores} (metrics.json)",
        f"  smoke    {smoke_line(log)}",
        "Next:",
        f"  cd {project}",
        *(f"  make {target:<8} # {make_help(makefile, target)}" for target in NEXT),
        "  then edit mlops.yaml (data.source, data.columns, data.target) to train on your own table",
    ]


if __name__ == "__main__":
    project, log = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    print("\n".join(summary(project, log.read_text())))
