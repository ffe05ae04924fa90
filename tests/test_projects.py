"""Each baked project passes its own checks: its test suite, ruff, `mlops config check`, the JSON
Schema of mlops.yaml and, when it has workflows, actionlint and zizmor.

One bake per deploy_target, with the Python versions cycled across them so every python_version is
baked too. The projects' code runs in the template's venv (it holds every runtime dependency of a
baked project), so no `make setup` here: that is test_e2e.py's job. One test per project and check.
"""

from __future__ import annotations

import itertools

import pytest
import yaml
from helpers import (
    PYTHON,
    PYTHON_VERSIONS,
    TARGETS,
    TEMPLATE_PROJECT,
    VENV_BIN,
    bake,
    git_commit,
    mlops,
    project_env,
    run,
    template_venv_env,
)

PROJECTS = dict(zip(TARGETS, itertools.cycle(PYTHON_VERSIONS), strict=False))
HAS_WORKFLOWS = (TEMPLATE_PROJECT / ".github" / "workflows").is_dir()


def test_the_projects_cover_every_python_version():
    assert set(PROJECTS.values()) == set(PYTHON_VERSIONS)
    assert set(PROJECTS) == set(TARGETS)


@pytest.fixture(scope="session")
def projects(tmp_path_factory):
    """deploy_target -> its baked project (in a git repository, as actionlint wants); one bake per
    target and worker, shared by that target's checks, which only read it."""
    cache = {}

    def get(target: str):
        if target not in cache:
            project = bake(
                tmp_path_factory.mktemp(f"project-{target}"), deploy_target=target, python_version=PROJECTS[target]
            )
            git_commit(project)
            cache[target] = project
        return cache[target]

    return get


def check_pytest(project):
    proc = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env=template_venv_env(project))
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def check_ruff(project):
    run([VENV_BIN / "ruff", "check", "--no-cache", "."], project)


def check_ruff_format(project):
    run([VENV_BIN / "ruff", "format", "--check", "--no-cache", "."], project)


def check_config(project):
    proc = mlops(project, "config", "check")
    assert "mlops.yaml: ok" in proc.stdout


def check_workflows_in_sync(project):
    mlops(project, "sync", "--check")


def check_config_schema(project):
    run([VENV_BIN / "check-jsonschema", "--schemafile", "mlops.schema.json", "mlops.yaml"], project)


def check_workflow_schema(project):
    files = sorted((project / ".github" / "workflows").glob("*.y*ml"))
    assert files, "no workflow files"
    run([VENV_BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files], project)


def check_actionlint(project):
    run([VENV_BIN / "actionlint"], project, env=project_env(PATH=f"{VENV_BIN}:{project_env()['PATH']}"))


def check_zizmor(project):
    run([VENV_BIN / "zizmor", "--offline", ".github"], project)


CHECKS = {
    "pytest": check_pytest,
    "ruff-check": check_ruff,
    "ruff-format": check_ruff_format,
    "config-check": check_config,
    "config-schema": check_config_schema,
}
if HAS_WORKFLOWS:  # the workflow checks exist once the template ships workflows
    CHECKS |= {
        "sync-check": check_workflows_in_sync,
        "workflow-schema": check_workflow_schema,
        "actionlint": check_actionlint,
        "zizmor": check_zizmor,
    }


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("target", list(PROJECTS), ids=[f"{t}-py{v}" for t, v in PROJECTS.items()])
def test_baked_project_passes(projects, target, check):
    CHECKS[check](projects(target))


# (field, bad value, whether the exported JSON Schema can tell: a cron is checked by code only)
BAD_CONFIGS = [
    ("training.min_metric", "high", True),
    ("deploy.target", "mars", True),
    ("monitoring.schedule", "0 25 * * *", False),
]


@pytest.mark.parametrize(("field", "value", "in_schema"), BAD_CONFIGS, ids=[f for f, *_ in BAD_CONFIGS])
def test_a_bad_config_is_named_by_file_and_field(fresh_bake, field, value, in_schema):
    project = fresh_bake()
    raw = yaml.safe_load((project / "mlops.yaml").read_text())
    *parents, key = field.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[key] = value
    (project / "mlops.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))

    proc = mlops(project, "config", "check", ok=None)
    assert proc.returncode == 2, proc
    assert "mlops.yaml" in proc.stderr and field in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr

    # The exported JSON Schema (editors, pre-commit) agrees with the code where it can express the rule.
    schema = run([VENV_BIN / "check-jsonschema", "--schemafile", "mlops.schema.json", "mlops.yaml"], project, ok=None)
    if in_schema:
        assert schema.returncode == 1, schema
        assert key in schema.stdout + schema.stderr
    else:
        assert schema.returncode == 0, schema


def test_a_stale_schema_file_fails_the_config_check(fresh_bake):
    project = fresh_bake()
    schema = project / "mlops.schema.json"
    schema.write_text(schema.read_text().replace('"title": "mlops.yaml"', '"title": "old"', 1))
    proc = mlops(project, "config", "check", ok=None)
    assert proc.returncode == 1, proc
    assert "mlops.schema.json is stale" in proc.stderr
    assert "mlops config schema --write" in proc.stderr
