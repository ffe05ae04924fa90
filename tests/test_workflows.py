"""The baked project's CI, CT and CD workflows, run for real under act (host mode, offline).

GitHub's REST API is the strict local stand-in (tests/github_standin.py: requests and answers checked
against GitHub's OpenAPI description, token enforced); pushes go to a local bare repository through
git's `url.<bare>.insteadOf`. One baked project for the module, installed once with `make setup`
(act's jobs use its .venv, as `make act-*` does), but each test seeds the state it needs (branches
in the bare repository, PRs in the stand-in, requests served and labelled) and starts from `main`,
so any test can run alone or in any order. CT reads what the served model really captured.
Outcomes are asserted on state seen from outside: the bare repository's branches and commits, the
requests the stand-in received. (tests/test_first_day.py runs `make act-ci`/`act-ct` bare.)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from github_standin import GitHubStandIn
from helpers import ActRun, bake, free_port, make_setup, run_act, serving, setup_env

pytestmark = pytest.mark.slow

REPO = "acme/model"
TOKEN = "ghs_" + "t0k3n" * 8  # long: act masks every occurrence in logs
ROWS = 120  # served per CT test: above monitoring.min_rows (30), fast to label and retrain


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    out = subprocess.run(cmd, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A baked default project on `main` after `make setup`, with a GitHub-looking origin whose
    pushes land in a bare repo. Captured requests are flushed every 0.5 s (tests wait for them)."""
    root = tmp_path_factory.mktemp("act")
    project = bake(root)
    set_config(project, monitoring__capture={"sample": 1.0, "sink": ".mlops/capture", "flush_seconds": 0.5})
    bare = root / "remote.git"
    run(["git", "init", "-q", "--bare", str(bare)], root)
    env = setup_env(project, BENTOML_HOME=str(root / "bentoml"))
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL"):
        env.pop(name, None)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    run(["git", "init", "-q", "-b", "main"], project)
    make_setup(project, env)  # also writes uv.lock, committed like a user would
    run([*git, "add", "-A"], project)
    run([*git, "commit", "-qm", "Bake"], project)
    run(["git", "remote", "add", "origin", f"https://github.com/{REPO}.git"], project)
    run(["git", "remote", "set-url", "--push", "origin", str(bare)], project)
    run(["git", "push", "-q", "origin", "main"], project)
    return {"project": project, "root": root, "bare": bare, "env": env, "git": git}


@pytest.fixture
def github(world, httpserver):
    """A fresh stand-in, the bare repository back to `main` only, the project on a clean `main`."""
    bare = world["bare"]
    for ref in run(["git", "-C", str(bare), "for-each-ref", "--format=%(refname)", "refs/heads"], bare).split():
        if ref != "refs/heads/main":
            run(["git", "-C", str(bare), "update-ref", "-d", ref], bare)
    checkout(world, "main")
    standin = GitHubStandIn(REPO, bare, token=TOKEN)
    standin.install(httpserver)
    yield standin
    standin.assert_clean()


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def act(world, github, event: str, workflow: str, *flags: str) -> ActRun:
    api = f"http://127.0.0.1:{github.port}"
    env = {  # `mlops propose` pushes to the plain URL (its token goes in a header): land it in the bare repo
        **world["env"],
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{world['bare']}.insteadOf",
        "GIT_CONFIG_VALUE_0": f"https://github.com/{REPO}.git",
    }
    cmd = [
        event,
        workflow,
        "-s",
        f"GITHUB_TOKEN={TOKEN}",
        "--env",
        f"GITHUB_API_URL={api}",
        *flags,
    ]
    return run_act(cmd, world["project"], env)


def set_config(project: Path, **changes) -> None:
    """Edit mlops.yaml in the working tree (act copies uncommitted changes)."""
    path = project / "mlops.yaml"
    config = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        config[section][key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def checkout(world, branch: str, new: bool = False) -> None:
    """Switch to `branch` (`new`: create or reset it at the current commit), dropping edits."""
    run(["git", "checkout", "-q", "-f", *(["-B"] if new else []), branch], world["project"])


def remote_branches(world, prefix: str = "") -> dict[str, str]:
    """branch -> commit of the bare repository (what was pushed), those starting with `prefix`."""
    out = run(
        ["git", "-C", str(world["bare"]), "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"],
        world["root"],
    )
    pairs = (line.split() for line in out.splitlines())
    return {name: sha for name, sha in pairs if name.startswith(prefix)}


def is_ancestor(world, old: str, new: str) -> bool:
    proc = subprocess.run(["git", "-C", str(world["bare"]), "merge-base", "--is-ancestor", old, new], check=False)
    return proc.returncode == 0


def open_pr(world, github, branch: str, number: int, change, message: str) -> Path:
    """Commit `change()` on `branch` (from main), push it, open PR #number in the stand-in; the event file."""
    checkout(world, "main")
    checkout(world, branch, new=True)
    change()
    run([*world["git"], "commit", "-qam", message], world["project"])
    run(["git", "push", "-qf", "origin", branch], world["project"])
    github.seed_pull(branch, "main", title=message, number=number)
    event = world["root"] / f"pr-{number}.json"
    pull_request = {"number": number, "head": {"ref": branch}, "base": {"ref": "main"}}
    event.write_text(json.dumps({"number": number, "pull_request": pull_request, "repository": {"full_name": REPO}}))
    return event


def test_ci_on_a_pull_request_comments_once_and_updates_its_comment(world, github):
    # The comment and the jobs it needs; lint and test (the project's own suite, ~2 min) pass in
    # test_first_day.py's cold `make act-ci`, which runs every job.
    change = lambda: set_config(world["project"], training__params={"C": 0.5, "max_iter": 1000})
    event = open_pr(world, github, "my-change", 7, change, "Lower C")
    github.seed_issue(8)  # another PR's thread: never touched

    first = act(world, github, "pull_request", "ci.yml", "-e", str(event), "-j", "comment")
    assert first.ok("validate", "pipeline", "comment"), str(first)
    (posted,) = github.calls("POST", r"/comments$")
    assert posted.path == f"/repos/{REPO}/issues/7/comments" and posted.status == 201
    assert posted.authorization == f"Bearer {TOKEN}"
    body = posted.body["body"]
    assert "<!-- mlops-metrics -->" in body and "**roc_auc**" in body and "gate passed" in body
    assert "| C | `0.5` | `1.0` |" in body  # the params diff against the base branch

    again = act(world, github, "pull_request", "ci.yml", "-e", str(event), "-j", "comment")
    assert again.ok("pipeline", "comment"), str(again)
    (updated,) = github.calls("PATCH", r"/issues/comments/\d+$")
    assert updated.status == 200 and updated.body["body"].startswith("<!-- mlops-metrics -->")
    (comment,) = github.comments.values()  # updated in place, never duplicated, only on #7
    assert comment["issue_url"].endswith("/issues/7") and comment["body"] == updated.body["body"]


def break_a_row(world) -> None:
    raw = world["project"] / "data/raw.csv"
    lines = raw.read_text().splitlines()
    cells = lines[5].split(",")
    cells[0] = "-4.2"  # mean_radius must be >= 0
    lines[5] = ",".join(cells)
    raw.write_text("\n".join(lines) + "\n")


def test_ci_fails_validation_when_a_pr_breaks_the_data(world, github):
    event = open_pr(world, github, "bad-data", 11, lambda: break_a_row(world), "Break a row")
    result = act(world, github, "pull_request", "ci.yml", "-j", "comment", "-e", str(event))
    assert result.jobs["validate"] == "failure", str(result)
    assert "| mean_radius | greater_than_or_equal_to(0.0) | 1 | 4 | -4.2 |" in result.log["validate"]
    assert "pipeline" not in result.jobs  # needs: validate
    assert github.requests == [], [(r.method, r.path, r.body) for r in github.requests]  # no report: no comment


def test_ci_posts_the_comment_when_the_gate_fails(world, github):
    change = lambda: set_config(world["project"], training__min_metric=0.9999)
    event = open_pr(world, github, "strict-gate", 12, change, "Demand more")
    result = act(world, github, "pull_request", "ci.yml", "-j", "comment", "-e", str(event))
    assert result.jobs.get("pipeline") == "failure" and result.ok("validate", "comment"), str(result)
    assert "gate:" in result.log["pipeline"] and "0.9999" in result.log["pipeline"]
    (posted,) = github.calls("POST", r"/issues/12/comments$")
    assert posted.status == 201 and "gate failed" in posted.body["body"] and "0.9999" in posted.body["body"]


def test_ci_on_a_push_to_main_runs_the_pipeline_and_calls_no_api(world, github):
    event = world["root"] / "push.json"
    event.write_text(json.dumps({"ref": "refs/heads/main", "repository": {"full_name": REPO}}))
    result = act(world, github, "push", "ci.yml", "-j", "comment", "-e", str(event))
    assert result.ok("validate", "pipeline"), str(result)
    assert "comment" not in result.jobs  # `if: github.event_name == 'pull_request'`
    assert "gate passed" in result.log["pipeline"]
    assert github.requests == []


@pytest.fixture(scope="module")
def service(world):
    """The model served from the project as a user serves it (`make repro`, `mlops track`,
    `mlops register`, then `mlops serve`: the challenger from the registry); its request log is the
    project's .mlops/capture, the sink CT reads."""
    project, env = world["project"], world["env"]
    run(["make", "repro"], project, env)
    project_mlops(world, "track")
    project_mlops(world, "register")
    cmd = [project / ".venv/bin/mlops", "serve", "--port", str(port := free_port())]
    with serving(cmd, project, env, world["root"] / "serve.log", port) as url:  # SIGTERM: capture flushes
        yield url


def sink(world) -> Path:
    return world["project"] / ".mlops/capture"


def serve_traffic(world, service, shift: float, flip: bool = False) -> int:
    """ROWS rows sent to the served model by `mlops traffic` (from a fresh request log and CT history),
    labelled by `mlops feedback` (flipped: the label relationship reversed); waits until captured."""
    shutil.rmtree(sink(world), ignore_errors=True)
    labels = world["root"] / "labels.csv"
    args = ["traffic", "--url", service, "--rows", str(ROWS), "--shift", str(shift), "--labels", str(labels)]
    project_mlops(world, *args)
    if flip:
        truth = pd.read_csv(labels, dtype={"request_id": str})
        truth["malignant"] = 1 - truth["malignant"]
        truth.to_csv(labels, index=False)
    project_mlops(world, "feedback", str(labels))
    deadline = time.monotonic() + 30
    while (captured := captured_rows(world)) < ROWS:
        assert time.monotonic() < deadline, f"{captured} of {ROWS} rows captured in {sink(world)}"
        time.sleep(0.2)
    return captured


def captured_rows(world) -> int:
    files = list((sink(world) / "requests").glob("date=*/*.parquet"))
    return sum(len(pd.read_parquet(path)) for path in files)


def test_ct_on_served_requests_without_drift_opens_nothing(world, github, service):
    serve_traffic(world, service, shift=0.0)
    result = act(world, github, "schedule", "ct.yml")
    assert result.ok("drift"), str(result)
    assert "No dataset drift" in result.log["drift"] and f"{ROWS} captured rows" in result.log["drift"]
    assert f"champion's **roc_auc** on {ROWS} labelled rows" in result.log["drift"]
    assert "retrain" not in result.jobs
    assert remote_branches(world, "retrain/") == {}
    assert github.requests == [] and github.pulls == {}
    (check,) = (sink(world) / "checks").glob("*.json")  # the history the next run starts from
    assert json.loads(check.read_text())["reasons"] == []


def test_ct_on_drifted_served_requests_updates_the_open_retraining_pr(world, github, service):
    """Drifted inputs with their labels, and a retraining PR already open from an older week: its
    branch is force-pushed from main with the labelled rows added, the PR updated, none opened."""
    older = "retrain/2020-01-06"
    checkout(world, older, new=True)
    (world["project"] / "README.md").write_text("an older retraining\n")
    run([*world["git"], "commit", "-qam", "Older retraining"], world["project"])
    run(["git", "push", "-qf", "origin", older], world["project"])
    seeded = github.seed_pull(older, "main", title="Retrain on recent labelled data", body="old metrics")
    old_sha = remote_branches(world)[older]
    checkout(world, "main")
    serve_traffic(world, service, shift=1.0)

    result = act(world, github, "schedule", "ct.yml")
    assert result.ok("drift", "retrain"), str(result)
    assert github.calls("POST", r"/pulls$") == []  # no second PR
    (patched,) = github.calls("PATCH", r"/pulls/\d+$")
    assert patched.path.endswith(f"/pulls/{seeded['number']}") and patched.status == 200
    body = patched.body["body"]
    assert "Drift detected" in body and "violation: data drift" in body and "drift-report" in body
    assert f"champion's **roc_auc** on {ROWS} labelled rows" in body and "**roc_auc**" in body.split("Model metrics")[1]
    assert github.pulls[seeded["number"]]["body"] == body

    pushed = remote_branches(world, "retrain/")
    assert list(pushed) == [older]  # the open PR's branch, not a new dated one
    assert pushed[older] != old_sha and not is_ancestor(world, old_sha, pushed[older])  # force-pushed
    main = remote_branches(world)["main"]
    files = run(["git", "-C", str(world["bare"]), "show", "--stat", "--format=%P %s", older], world["root"])
    assert files.startswith(f"{main} Retrain on recent labelled data")
    assert "data/raw.csv" in files and "dvc.lock" in files and "metrics.json" in files
    raw = run(["git", "-C", str(world["bare"]), "show", f"{older}:data/raw.csv"], world["root"])
    assert len(raw.splitlines()) == 1 + 569 + ROWS  # the labelled window was added to the data
    assert github.pulls[seeded["number"]]["head"]["sha"] == pushed[older]


def test_ct_opens_one_pr_on_concept_drift_alone(world, github, service):
    """Inputs as in training, labels reversed: no data drift, the champion's metric collapses."""
    serve_traffic(world, service, shift=0.0, flip=True)
    result = act(world, github, "workflow_dispatch", "ct.yml")
    assert result.ok("drift", "retrain"), str(result)
    (created,) = github.calls("POST", r"/pulls$")
    assert created.status == 201 and created.body["head"] == f"retrain/{datetime.now(UTC):%Y-%m-%d}"
    assert list(remote_branches(world, "retrain/")) == [created.body["head"]]
    body = created.body["body"]
    assert "No dataset drift" in body and "violation: data drift" not in body
    assert "violation: roc_auc" in body and "below min_metric 0.95" in body
    assert len(github.pulls) == 1


def test_batch_by_hand_scores_a_file_with_the_merged_model(world, github):
    """batch.yml on workflow_dispatch: no tracking server, so the merged model (`dvc repro`) scores the
    file in chunks, with a few progress lines in the log rather than one per chunk."""
    result = act(world, github, "workflow_dispatch", "batch.yml", "--input", "output=predictions/today.csv")
    assert result.ok("predict"), str(result)
    log = result.log["predict"]
    assert "wrote 569 predictions of models/model.joblib to predictions/today.csv" in log, str(result)
    assert 1 <= log.count("predicted ") <= 10 and "predicted 569 rows (100%" in log


def project_mlops(world, *args: str) -> str:
    """`mlops ARGS` in the project itself (not act's copy), as `make status` runs it."""
    return run([str(world["project"] / ".venv/bin/mlops"), *args], world["project"], world["env"])


def test_cd_on_a_push_rehearses_deploys_and_records_a_github_deployment(world, github):
    """cd.yml on a push to main: the local rehearsal on the runner, then the rollout to deploy.target
    (local, on a free port), recorded as a Deployment with its statuses; the model keeps serving."""
    port = free_port()
    set_config(world["project"], deploy__local={"port": port})
    bentoml_home = world["root"] / "bentoml"
    try:
        result = act(world, github, "push", "cd.yml", "--env", f"BENTOML_HOME={bentoml_home}")
        assert result.ok("rehearse", "deploy"), str(result)
        assert "rehearsal: no other champion" in result.log["rehearse"]
        assert "first deploy" in result.log["rehearse"] and "first deploy" in result.log["deploy"]
        columns = yaml.safe_load((world["project"] / "mlops.yaml").read_text())["data"]["columns"]
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"rows": [dict.fromkeys(columns, 1.0)]})
        assert answer.status_code == 200, answer.text  # the deployment outlives the workflow run
        (created,) = github.calls("POST", r"/deployments$")
        assert created.body["environment"] == "production" and created.body["required_contexts"] == []
        states = [call.body["state"] for call in github.calls("POST", r"/deployments/\d+/statuses$")]
        assert states == ["in_progress", "success"]
        assert f"at http://127.0.0.1:{port}: stable cancer-classifier:" in project_mlops(world, "status")
    finally:
        project_mlops(world, "undeploy")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
