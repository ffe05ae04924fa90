"""Reproducible installs: every bake carries the uv.lock the template was tested with, `make setup`
installs exactly that (and stops on a stale one), and Dependabot proposes its weekly update.

`uv lock --check` resolves against PyPI (uv's cache makes it a few seconds): a pyproject.toml changed
without `make lock` fails here.
"""

from __future__ import annotations

import re

import pytest
import yaml
from helpers import DEFAULT_SLUG, PYTHON_VERSIONS, TEMPLATE_PROJECT, VENV_BIN, run, setup_env

OTHER_PYTHON = PYTHON_VERSIONS[-1]


def test_the_template_lock_templates_the_project_name_and_nothing_else():
    text = (TEMPLATE_PROJECT / "uv.lock").read_text()
    assert re.findall(r"\{\{.*?\}\}", text) == ["{{ cookiecutter.project_slug }}"]
    assert "{%" not in text and "{#" not in text
    assert 'name = "{{ cookiecutter.project_slug }}"\nversion = "0.1.0"\nsource = { editable = "." }' in text


@pytest.mark.parametrize(
    ("answers", "slug"),
    [({}, DEFAULT_SLUG), ({"python_version": OTHER_PYTHON, "project_name": "Churn Model"}, "churn-model")],
    ids=["default", f"py{OTHER_PYTHON}-renamed"],
)
def test_every_bake_carries_a_lock_that_fits_its_pyproject(bake, answers, slug):
    project = bake(**answers)
    lock = (project / "uv.lock").read_text()
    assert re.search(rf'^name = "{slug}"\nversion = "0.1.0"\nsource = {{ editable = "." }}$', lock, re.MULTILINE)
    # Stale (a dependency, extra or group of pyproject.toml not in the lock): exit 1, and `make lock` fixes it.
    run([VENV_BIN / "uv", "lock", "--check"], project, env=setup_env(project), timeout=300)


def test_make_setup_refuses_a_stale_lock_in_one_line(fresh_bake):
    project = fresh_bake()
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('  "httpx>=0.27",', '  "httpx>=0.27",\n  "tomli-w>=1",', 1))
    proc = run(["make", "setup"], project, env=setup_env(project), ok=(2,), timeout=300)
    said = " ".join(proc.stderr.split())  # uv wraps its message to the terminal's width
    assert "The lockfile at `uv.lock` needs to be updated, but `--locked` was provided" in said, proc.stderr
    assert not list(project.glob(".venv/lib/python*/site-packages/dvc")), "nothing is installed from a stale lock"


def test_dependabot_updates_the_lock_and_the_actions_weekly_one_pr_each(bake):
    project = bake()
    config = project / ".github" / "dependabot.yml"
    run([VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.dependabot", config], project)
    updates = {update["package-ecosystem"]: update for update in yaml.safe_load(config.read_text())["updates"]}
    assert set(updates) == {"uv", "github-actions"}
    for ecosystem, update in updates.items():
        assert update["schedule"]["interval"] == "weekly", ecosystem
        assert [group["patterns"] for group in update["groups"].values()] == [["*"]], f"{ecosystem}: one PR"
    assert "/.github/actions/*" in updates["github-actions"]["directories"], "the composite actions' pins too"
