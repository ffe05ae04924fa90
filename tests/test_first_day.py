"""A user's first day, exactly as the README tells it: bake, `git init` + commit, `make setup`, then
`make act-ci` and `make act-ct` with no flags, no token and nothing prepared (no .act, no state).

Both must pass cold. Steps that need GitHub say so in one line and are skipped; CT with nothing
captured yet says so in one notice. (Warm runs, with .act and the state of earlier runs, are
tests/test_workflows.py's: its workflows run again and again in one project.)
"""

from __future__ import annotations

import re
import time

import pytest
from helpers import bake, git_commit, make_setup, run, setup_env

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # act gives steps a tty: rich colours their lines
GITHUB_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_API_URL", "GITHUB_ACTIONS", "ACT")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = bake(tmp_path_factory.mktemp("first-day"))
    git_commit(project)
    make_setup(project, compiled=True)  # as the README's `make setup` does
    return project


@pytest.fixture(scope="module")
def env(project):
    env = setup_env(project)
    for name in GITHUB_VARIABLES:  # a user's shell has none of these
        env.pop(name, None)
    return env


def succeeded(log: str, workflow: str) -> set[str]:
    """Jobs act reported as succeeded: `[CI/lint] 🏁  Job succeeded`."""
    return set(re.findall(rf"^\[{workflow}/([\w-]+)\s*\] 🏁  Job succeeded", log, re.MULTILINE))


def make(project, env, target: str) -> tuple[str, float]:
    started = time.monotonic()
    out = run(["make", target], project, env=env, timeout=900)
    log = out.stdout + out.stderr
    # act gives steps a terminal: a spinner there would write cursor codes into every step's log.
    assert "\x1b[?25l" not in log and "\x1b[1A" not in log, "cursor control codes in the workflow log"
    return ANSI.sub("", log), time.monotonic() - started


def test_make_act_ci_passes_cold_and_skips_the_comment_without_a_token(project, env):
    assert not (project / ".act").exists() and not (project / "mlflow.db").exists()
    log, cold = make(project, env, "act-ci")
    assert succeeded(log, "CI") == {"lint", "test", "validate", "pipeline", "comment"}, log[-3000:]
    assert "skipped: the comment on PR #1: GITHUB_TOKEN is not set" in log
    assert "gate passed" in log and "Compared with git" in log  # no registry yet: the report says so
    print(f"make act-ci cold: {cold:.0f} s")


def test_make_act_ct_with_nothing_captured_says_so_and_passes(project, env):
    log, seconds = make(project, env, "act-ct")
    assert "0 requests captured in" in log and "nothing to check yet" in log, log[-3000:]
    assert succeeded(log, "CT") == {"drift"}, log[-3000:]  # retrain needs a verdict
    print(f"make act-ct: {seconds:.0f} s")
