"""Wall time of the baked project's CI workflow under act (host mode), cold and warm.

Cold: right after `make setup`, no .act folder (act's stubs and caches are made), as a user's first
`make act-ci`. Warm: the same command again. Every job uses the project's .venv (installed once). Baseline in the same run: the same jobs' commands run directly on the host,
one after another (`make setup` done), without act: what the workflow costs over its steps.

Run:  .venv/bin/python bench/act.py        (~6-8 min on 2 cores)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cookiecutter.main import cookiecutter
from pytest_httpserver import HTTPServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from github_standin import GitHubStandIn

REPO, TOKEN = "acme/model", "ghs_" + "b3nch" * 8
STEPS = [  # the commands of ci.yml's jobs, in order (lint, test, validate, pipeline, comment)
    ["uv", "run", "--no-sync", "mlops", "sync", "--check"],
    ["uv", "run", "--no-sync", "pre-commit", "run", "--all-files"],
    ["uv", "run", "--no-sync", "pytest", "-q"],
    ["uv", "run", "--no-sync", "mlops", "validate"],
    ["uv", "run", "--no-sync", "dvc", "repro"],
    ["uv", "run", "--no-sync", "mlops", "report", "--base", "main"],
    ["uv", "run", "--no-sync", "mlops", "gate", "--base", "main"],
]


def sh(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    out = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return time.perf_counter() - start


def setup_project(work: Path, env: dict) -> Path:
    project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(work)))
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@localhost"]
    sh(["git", "init", "-q", "-b", "main"], project, env)
    sh(["make", "setup"], project, env)
    sh([*git, "add", "-A"], project, env)
    sh([*git, "commit", "-qm", "Bake"], project, env)
    sh(["git", "remote", "add", "origin", f"https://github.com/{REPO}.git"], project, env)
    sh(["git", "checkout", "-qb", "change"], project, env)
    return project


def act_ci(project: Path, env: dict, api: str, event: Path) -> tuple[float, dict]:
    cmd = [
        ".github/act/run",
        "pull_request",
        "ci.yml",
        "--json",
        "-e",
        str(event),
        "-s",
        f"GITHUB_TOKEN={TOKEN}",
        "--env",
        f"GITHUB_API_URL={api}",
    ]
    start = time.perf_counter()
    out = subprocess.run(cmd, check=False, cwd=project, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    jobs = {}
    for line in out.stdout.splitlines():
        if '"jobResult"' in line:
            record = json.loads(line)
            jobs[record["jobID"]] = record["jobResult"]
    return seconds, jobs


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-act-"))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    env["PATH"] = f"{ROOT / '.venv/bin'}:{env['PATH']}"
    project = setup_project(work, env)
    event = work / "pr.json"
    event.write_text(
        json.dumps(
            {
                "number": 1,
                "pull_request": {"number": 1, "head": {"ref": "change"}, "base": {"ref": "main"}},
                "repository": {"full_name": REPO},
            }
        )
    )
    server = HTTPServer(host="127.0.0.1", port=0)
    standin = GitHubStandIn(REPO, work, token=TOKEN)  # the strict stand-in checks the token
    standin.seed_issue(1)  # the PR's thread (a PR is an issue): the comment job posts there
    standin.install(server)
    server.start()
    act_env = env
    try:
        api = f"http://127.0.0.1:{server.port}"
        cold, cold_jobs = act_ci(project, act_env, api, event)
        warm, warm_jobs = act_ci(project, act_env, api, event)
    finally:
        server.stop()
    sh(["make", "clean"], project, env)
    direct = sum(sh(cmd, project, env) for cmd in STEPS)
    print("| run | wall s | jobs | ratio to direct |\n|---|---|---|---|")
    print(f"| ci.yml under act, cold (after make setup, no .act) | {cold:.1f} | {cold_jobs} | {cold / direct:.2f}x |")
    print(f"| ci.yml under act, warm | {warm:.1f} | {warm_jobs} | {warm / direct:.2f}x |")
    print(f"| baseline: the jobs' commands run directly, in sequence | {direct:.1f} | | 1.00x |")


if __name__ == "__main__":
    main()
