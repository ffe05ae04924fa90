"""Each baked project, installed for real, passes its own checks.

One bake per cloud target, with the Python versions cycled across them (aws 3.11, gcp 3.12,
azure 3.13, kubernetes 3.11), so every python_version and every target's extra is installed by the
project's own `make setup` (uv, its own .venv, on the interpreter its .python-version names) once
per run. The bake is then committed through its own pre-commit hooks (ruff, ruff format, mlops
config check, check-jsonschema on mlops.yaml and the workflows, actionlint, zizmor): the fixture
fails if a hook does. The checks below run in that venv. The project's own pytest suite runs at the
ends of the range: on the newest Python here (its first project), on the default, oldest one in CI's
test job under act (test_first_day.py); a middle version gets the install and the checks. The
`local` target (no extra) is installed by the shared bentos (tests/bentos.py) and cold by
test_first_day.py. Last, the aws project's CI pipeline job and CT run under act against moto's S3.
Cost: ~10 s per install without bytecode pre-compilation (uv's cache is shared: each Python's wheels
download once), ~1-2 min per pytest run.
"""

from __future__ import annotations

import itertools
import json
import re
import tomllib

import pytest
import yaml
from helpers import (
    PYTHON_VERSIONS,
    TARGETS,
    VENV_BIN,
    free_port,
    make_ready_project,
    mlops,
    run,
    run_act,
    setup_env,
)
from packaging.requirements import Requirement

CLOUD = [target for target in TARGETS if target != "local"]
PROJECTS = dict(zip(CLOUD, itertools.cycle(PYTHON_VERSIONS), strict=False))
# The project whose own test suite runs on the newest Python.
NEWEST = PYTHON_VERSIONS[-1]
SUITE_ON = next(target for target, version in PROJECTS.items() if version == NEWEST)


@pytest.fixture(scope="session")
def projects(tmp_path_factory):
    """deploy_target -> its project: baked, `make setup`, `pre-commit install`, committed (hooks
    pass). One per target and worker, shared by that target's checks, which only read it."""
    cache = {}

    def get(target: str):
        if target not in cache:
            cache[target] = make_ready_project(
                tmp_path_factory.mktemp(f"project-{target}"), deploy_target=target, python_version=PROJECTS[target]
            )
        return cache[target]

    return get


def own(project, *cmd, ok=(0,)):
    """A command in the project's own venv (`uv run --no-sync`), as its Makefile runs them."""
    return run(["uv", "run", "--no-sync", *cmd], project, env=setup_env(project), ok=ok)


def check_python(project, target):
    version = own(project, "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])").stdout.strip()
    assert version == PROJECTS[target], f"{project}/.venv runs Python {version}, the bake asked for {PROJECTS[target]}"


def check_extra(project, target):
    """Every requirement of the target's extra (pyproject.toml) is installed in the venv."""
    extras = tomllib.loads((project / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = [Requirement(line).name for line in extras[target]]
    assert names or target == "local", f"the {target} extra is empty"
    script = "import json, sys; from importlib.metadata import version; print(json.dumps({n: version(n) for n in sys.argv[1:]}))"
    installed = json.loads(own(project, "python", "-c", script, *names).stdout)
    assert sorted(installed) == sorted(names), installed


def check_hooks(project, target):
    """The fixture's commit ran the project's pre-commit hooks (installed, and the commit exists)."""
    hook = (project / ".git" / "hooks" / "pre-commit").read_text()
    assert "--hook-type=pre-commit" in hook, "`pre-commit install` did not install the hook"
    assert run(["git", "log", "--format=%s"], project).stdout.splitlines() == ["Bake"]
    assert run(["git", "status", "--porcelain"], project).stdout == "", "the hooks changed files"


def check_pytest(project, target):
    proc = own(project, "pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def check_config(project, target):
    assert "mlops.yaml: ok" in own(project, "mlops", "config", "check").stdout


def check_workflows_in_sync(project, target):
    assert "workflows match the config" in own(project, "mlops", "sync", "--check").stdout


CHECKS = {
    "python": check_python,
    "extra": check_extra,
    "hooks": check_hooks,
    "config-check": check_config,
    "sync-check": check_workflows_in_sync,
}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("target", list(PROJECTS), ids=[f"{t}-py{v}" for t, v in PROJECTS.items()])
def test_baked_project_passes(projects, target, check):
    CHECKS[check](projects(target), target)


# The default Python's (the oldest) suite runs in CI's test job under act, in a default bake
# (test_first_day.py): not again here. A middle version's run (~70 s) is left out: its install and
# checks above stay.
def test_the_projects_own_suite_passes_on_the_newest_python(projects):
    check_pytest(projects(SUITE_ON), SUITE_ON)


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


@pytest.fixture
def moto_s3():
    """A local AWS (moto) on 127.0.0.1 that boto3, s3fs and DVC reach through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_the_aws_projects_ci_pushes_to_and_ct_pulls_from_its_s3_remote(projects, moto_s3, tmp_path):
    """CI's pipeline job (a push to main) and CT under act, against S3 on moto with credentials from
    the environment (as the OIDC login leaves them on GitHub): `dvc push` lands the pipeline's outputs
    in the bucket of .dvc/config, and CT's fresh copy (act leaves the ignored DVC cache out) pulls
    them back. Runs last in this module: it commits the pipeline's dvc.lock to the aws project."""
    import boto3

    project = projects("aws")
    default = own(project, "dvc", "remote", "default").stdout.strip()
    urls = dict(line.split()[:2] for line in own(project, "dvc", "remote", "list").stdout.splitlines())
    bucket, prefix = urls[default].removeprefix("s3://").split("/", 1)
    aws = {"AWS_ENDPOINT_URL": moto_s3, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env = setup_env(project, **aws, AWS_DEFAULT_REGION="us-east-1", ACT_WORK_DIR=str(tmp_path / "act"))
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        env.pop(name, None)
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    # What a merged PR brings: the pipeline reproduced and its dvc.lock committed.
    own(project, "dvc", "repro", "-q")
    run(["git", "add", "dvc.lock"], project)
    run(["git", "commit", "-qm", "Pipeline", "--no-verify"], project, env=env)

    ci = run_act(["push", "ci.yml", "-j", "pipeline"], project, env)
    assert ci.ok("validate", "pipeline"), ci
    assert "under act: aws credentials come from the environment" in ci.log["pipeline"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/files/md5/").get("Contents", [])
    stored = {item["Key"].removeprefix(f"{prefix}/files/md5/").replace("/", "") for item in listed}
    lock, uncached = yaml.safe_load((project / "dvc.lock").read_text()), _uncached(project)
    outs = {
        out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", []) if out["path"] not in uncached
    }
    assert stored == outs, f"the bucket holds {sorted(stored)}, dvc.lock's outputs are {sorted(outs)}"

    ct = run_act(["schedule", "ct.yml"], project, env)
    assert ct.ok("drift"), ct
    assert re.search(rf"\b{len(outs)} files? fetched", ct.log["drift"]), ct.log["drift"][-3000:]
    assert "nothing to check yet" in ct.log["drift"]


def _uncached(project) -> set[str]:
    """Outputs dvc.yaml keeps out of DVC's cache (metrics.json: in git), which `dvc push` leaves out."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"].values()
    entries = [entry for stage in stages for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])]
    return {
        path
        for entry in entries
        if isinstance(entry, dict)
        for path, opts in entry.items()
        if opts.get("cache") is False
    }
