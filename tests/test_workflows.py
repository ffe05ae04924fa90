"""The baked project's CI and CT workflows, run for real under act (host mode, offline).

GitHub's REST API is a local stand-in (tests/github_standin.py); pushes go to a local bare repository
through git's `url.<bare>.insteadOf`. The tests run in order on one baked project and one venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter
from github_standin import GitHubStandIn

pytestmark = pytest.mark.slow

TEMPLATE = Path(__file__).resolve().parents[1]
REPO = "acme/model"
TOKEN = "ghs_" + "t0k3n" * 8  # long: act masks every occurrence in logs
BIN = Path(sys.executable).parent  # act, uv, cookiecutter of the template's environment


@dataclass
class ActRun:
    returncode: int
    jobs: dict[str, str]  # job id -> success/failure
    log: dict[str, str]  # job id -> its messages

    def ok(self, *jobs: str) -> bool:
        return all(self.jobs.get(job) == "success" for job in jobs)

    def __str__(self) -> str:
        """Job results and the last lines of every failed job's log: the assertion message."""
        failed = [job for job, result in self.jobs.items() if result != "success"]
        tails = "".join(f"\n----- {job} -----\n" + "\n".join(self.log[job].splitlines()[-60:]) for job in failed)
        return f"{self.jobs}{tails}"


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    out = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A baked default project on `main` with a GitHub-looking origin whose pushes land in a bare repo."""
    root = tmp_path_factory.mktemp("act")
    project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(root)))
    bare = root / "remote.git"
    run(["git", "init", "-q", "--bare", str(bare)], root)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "UV_PROJECT_ENVIRONMENT": str(root / "venv"),
        "ACT_WORK_DIR": str(root / "act"),
    }
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    run(["git", "init", "-q", "-b", "main"], project)
    run(["make", "setup"], project, env)  # also writes uv.lock, committed like a user would
    run([*git, "add", "-A"], project)
    run([*git, "commit", "-qm", "Bake"], project)
    run(["git", "remote", "add", "origin", f"https://github.com/{REPO}.git"], project)
    run(["git", "remote", "set-url", "--push", "origin", str(bare)], project)
    run(["git", "push", "-q", "origin", "main"], project)
    return {"project": project, "root": root, "bare": bare, "env": env, "git": git}


@pytest.fixture
def github(world, httpserver):
    standin = GitHubStandIn(REPO, world["bare"])
    standin.install(httpserver)
    standin.port = httpserver.port
    return standin


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def act(world, github, event: str, workflow: str, *flags: str) -> ActRun:
    api = f"http://127.0.0.1:{github.port}"
    push_token_url = f"https://x-access-token:{TOKEN}@github.com/{REPO}.git"
    env = {
        **world["env"],
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{world['bare']}.insteadOf",
        "GIT_CONFIG_VALUE_0": push_token_url,
    }
    cmd = [
        ".github/act/run",
        event,
        workflow,
        "--json",
        "-s",
        f"GITHUB_TOKEN={TOKEN}",
        "--env",
        f"GITHUB_API_URL={api}",
        *flags,
    ]
    out = subprocess.run(cmd, check=False, cwd=world["project"], env=env, capture_output=True, text=True, timeout=900)
    jobs, log = {}, {}
    for line in out.stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        job = record.get("jobID", "")
        log[job] = log.get(job, "") + record.get("msg", "") + "\n"
        if "jobResult" in record:
            jobs[job] = record["jobResult"]
    assert jobs, f"act ran no job:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return ActRun(out.returncode, jobs, log)


def set_config(project: Path, **changes) -> None:
    """Edit mlops.yaml in the working tree (act copies uncommitted changes)."""
    path = project / "mlops.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        config[section][key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def checkout(world, branch: str, new: bool = False) -> None:
    run(["git", "checkout", "-q", *(["-b"] if new else []), branch], world["project"])
    run(["git", "checkout", "-q", "--", "."], world["project"])


def test_ci_on_a_pull_request_passes_every_job_and_comments_once(world, github):
    checkout(world, "my-change", new=True)
    set_config(world["project"], training__params={"C": 0.5, "max_iter": 1000})
    run([*world["git"], "commit", "-qam", "Lower C"], world["project"])
    event = world["root"] / "pr.json"
    event.write_text(
        json.dumps(
            {
                "number": 7,
                "pull_request": {"number": 7, "head": {"ref": "my-change"}, "base": {"ref": "main"}},
                "repository": {"full_name": REPO},
            }
        )
    )

    first = act(world, github, "pull_request", "ci.yml", "-e", str(event))
    assert first.ok("lint", "test", "validate", "pipeline", "comment"), str(first)
    posted = github.calls("POST", r"/issues/7/comments$")
    assert len(posted) == 1 and posted[0].authorization == f"Bearer {TOKEN}"
    body = posted[0].body["body"]
    assert "<!-- mlops-metrics -->" in body and "**roc_auc**" in body and "gate passed" in body
    assert "| C | `0.5` | `1.0` |" in body  # the params diff against the base branch

    again = act(world, github, "pull_request", "ci.yml", "-e", str(event), "-j", "comment")
    assert again.ok("pipeline", "comment"), str(again)
    updated = github.calls("PATCH", r"/issues/comments/\d+$")
    assert len(updated) == 1 and len(github.comments) == 1  # updated in place, never duplicated


def test_ci_fails_validation_when_a_pr_breaks_the_data(world, github):
    checkout(world, "main")
    checkout(world, "bad-data", new=True)
    raw = world["project"] / "data/raw.csv"
    lines = raw.read_text().splitlines()
    cells = lines[5].split(",")
    cells[0] = "-4.2"  # mean_radius must be >= 0
    lines[5] = ",".join(cells)
    raw.write_text("\n".join(lines) + "\n")
    run([*world["git"], "commit", "-qam", "Break a row"], world["project"])

    result = act(world, github, "pull_request", "ci.yml", "-j", "validate", "-e", str(world["root"] / "pr.json"))
    assert result.jobs["validate"] == "failure", str(result)
    assert "| mean_radius | greater_than_or_equal_to(0.0) | 1 | 4 | -4.2 |" in result.log["validate"]


def window(world, shift: float) -> Path:
    """`mlops window` from the project's source (the shared venv's editable install points into act's copy)."""
    path = world["root"] / f"window-{shift}.parquet"
    python = world["root"] / "venv/bin/python"
    cli = ["-m", "cancer_classifier.ops.cli", "window", "--shift", str(shift), "--output", str(path)]
    run([str(python), *cli], world["project"], {**world["env"], "PYTHONPATH": "src"})
    return path


def test_ct_without_drift_opens_nothing(world, github):
    checkout(world, "main")
    set_config(world["project"], data__current=str(window(world, 0.0)))
    result = act(world, github, "schedule", "ct.yml")
    assert result.ok("drift"), str(result)
    assert "retrain" not in result.jobs  # skipped by `if:`: act records nothing
    assert "No dataset drift" in result.log["drift"]
    assert not github.calls("POST", r"/pulls$")


def test_ct_with_drift_opens_one_retraining_pr_and_updates_it(world, github):
    checkout(world, "main")
    set_config(world["project"], data__current=str(window(world, 1.0)))

    first = act(world, github, "schedule", "ct.yml")
    assert first.ok("drift", "retrain"), str(first)
    created = github.calls("POST", r"/pulls$")
    assert len(created) == 1
    pr = created[0].body
    branch = pr["head"]
    assert branch.startswith("retrain/") and pr["base"] == "main"
    assert "Drift detected" in pr["body"] and "**roc_auc**" in pr["body"] and "drift-report" in pr["body"]
    pushed = run(["git", "-C", str(world["bare"]), "show", "--stat", "--format=%s", branch], world["root"])
    assert "data/raw.csv" in pushed and "dvc.lock" in pushed and "metrics.json" in pushed

    again = act(world, github, "schedule", "ct.yml")
    assert again.ok("drift", "retrain"), str(again)
    assert len(github.calls("POST", r"/pulls$")) == 1  # no second PR
    assert len(github.calls("PATCH", r"/pulls/1$")) == 1
    assert [p["head"]["ref"] for p in github.pulls.values() if p["state"] == "open"] == [branch]
