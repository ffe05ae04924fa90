"""Baking: every value of every choice option renders a clean project; bad answers stop the bake.

Cheap checks only (a bake takes ~0.5 s): the project checks run in test_projects.py, the pipeline
in test_e2e.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest
import yaml
from helpers import (
    DEFAULT_SLUG,
    PYTHON_VERSIONS,
    ROOT,
    TARGETS,
    TEMPLATE_PROJECT,
    VENV_BIN,
    describe,
    project_env,
    template_leftovers,
)
from packaging.specifiers import SpecifierSet

# The DVC remote each target's project starts with (.dvc/config): a local folder or the target's bucket.
REMOTE_URL = {
    "local": r"\.\./\.dvc-storage",
    "aws": r"s3://\S+",
    "gcp": r"gs://\S+",
    "azure": r"azure://\S+",
    "kubernetes": r"s3://\S+",
}


@pytest.fixture(autouse=True)
def local_extensions_importable(monkeypatch):
    """pytest-cookies renders the context before calling cookiecutter, outside cookiecutter's own
    sys.path patch: the template's Jinja extension (local_extensions.py) must be importable."""
    monkeypatch.syspath_prepend(str(ROOT))


def test_every_target_has_an_expected_remote():
    assert set(REMOTE_URL) == set(TARGETS), "a deploy_target was added or removed: update REMOTE_URL"


def deploy_problems(project, target: str) -> list[str]:
    problems = []
    docs = project / "docs" / "deploy"
    if not (docs / f"{target}.md").is_file():
        problems.append(f"docs/deploy/{target}.md is missing")
    for other in TARGETS:
        if other != target and (docs / f"{other}.md").exists():
            problems.append(f"docs/deploy/{other}.md is left although deploy_target is {target}")

    deploy = yaml.safe_load((project / "mlops.yaml").read_text())["deploy"]
    if deploy.get("target") != target:
        problems.append(f"mlops.yaml deploy.target is {deploy.get('target')!r}, expected {target!r}")
    if not isinstance(deploy.get(target), dict):
        problems.append(f"mlops.yaml has no deploy.{target} block: {sorted(deploy)}")
    for other in TARGETS:
        if other != target and other in deploy:
            problems.append(f"mlops.yaml has a deploy.{other} block although deploy_target is {target}")

    dvc_config = (project / ".dvc" / "config").read_text()
    default = re.search(r"^\s*remote\s*=\s*(\S+)", dvc_config, re.MULTILINE)
    if not default:
        problems.append(f".dvc/config names no default remote:\n{dvc_config}")
    else:
        section = re.search(
            rf"""\[\s*'?remote "{re.escape(default[1])}"'?\s*\](.*?)(?=^\s*\[|\Z)""",
            dvc_config,
            re.MULTILINE | re.DOTALL,
        )
        url = re.search(r"^\s*url\s*=\s*(\S+)", section[1], re.MULTILINE) if section else None
        if not url or not re.fullmatch(REMOTE_URL[target], url[1]):
            problems.append(
                f".dvc/config remote {default[1]!r} url is {url[1] if url else None!r}, "
                f"expected {REMOTE_URL[target]!r} for {target}:\n{dvc_config}"
            )
    return problems


# What a job does that needs the cloud of a cloud target's project (bucket, registry, endpoint).
CLOUD_STEP = re.compile(r"\b(dvc (pull|push)|mlops (deploy|drift|predict|image))\b")
LOGIN = "./.github/actions/cloud-login"


def oidc_problems(project, target: str) -> list[str]:
    """Every job that touches the cloud logs in first (OIDC), and only those jobs may ask GitHub for
    an OIDC token, and only in a cloud target's project (least privilege for the local one)."""
    token = "write" if target in ("aws", "gcp", "azure") else "none"
    problems = []
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            where, steps = f"{path.name}: job {name}", job.get("steps", [])
            uses = [step.get("uses", "") for step in steps]
            first_cloud = next((i for i, step in enumerate(steps) if CLOUD_STEP.search(step.get("run", ""))), None)
            granted = job.get("permissions", {}).get("id-token")
            if first_cloud is None:
                if LOGIN in uses or granted is not None:
                    problems.append(f"{where} logs in (or asks for id-token) but touches no cloud")
                continue
            if LOGIN not in uses[:first_cloud]:
                problems.append(f"{where}: step {first_cloud + 1} touches the cloud before {LOGIN}")
            if granted != token:
                problems.append(f"{where}: permissions id-token is {granted!r}, expected {token!r} for {target}")
    return problems


def zizmor_problems(project) -> list[str]:
    """zizmor's auditor persona (every audit of the pedantic and default personas, and more) finds
    nothing in the workflows and local actions: one offline call for them all. The project's
    .github/zizmor.yml applies, so a suppression there needs its reason."""
    cmd = [str(VENV_BIN / "zizmor"), "--offline", "--persona", "auditor", "--no-progress", ".github"]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=120, check=False)
    return (
        []
        if proc.returncode == 0
        else [f"zizmor --persona auditor (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"]
    )


# Actions that restore a dependency cache: (input that turns it on, its default; "" = off).
CACHING_ACTIONS = {
    "actions/cache": (None, "on"),  # and actions/cache/restore: a cache is all they do
    "actions/setup-python": ("cache", ""),
    "actions/setup-node": ("cache", ""),
    "actions/setup-go": ("cache", "true"),
    "actions/setup-java": ("cache", ""),
    "astral-sh/setup-uv": ("enable-cache", "auto"),
}
INPUT = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*(?:==\s*'([^']*)'\s*)?\}\}")


def _resolved(value, inputs: dict[str, str]) -> str:
    """An action's `with:` value given its caller's inputs: `${{ inputs.x }}` or `${{ inputs.x == 'v' }}`
    (anything else is taken literally: an unknown expression counts as a cache turned on)."""
    match = INPUT.fullmatch(str(value).strip())
    if not match:
        return str(value).lower()
    given = inputs.get(match[1], "")
    return given.lower() if match[2] is None else str(given == match[2]).lower()


def caching_steps(project, steps: list[dict], inputs: dict[str, str], where: str) -> list[str]:
    """The steps (through local composite actions) that restore a dependency cache."""
    found = []
    for number, step in enumerate(steps, 1):
        uses, given = step.get("uses", ""), step.get("with") or {}
        name = uses.split("@")[0]
        if name.startswith("./"):
            action = yaml.safe_load((project / name / "action.yml").read_text())
            defaults = {key: str(spec.get("default", "")) for key, spec in (action.get("inputs") or {}).items()}
            passed = {key: _resolved(value, inputs) for key, value in given.items()}
            found += caching_steps(project, action["runs"].get("steps", []), defaults | passed, f"{where} > {name}")
            continue
        action = next((known for known in CACHING_ACTIONS if name == known or name.startswith(f"{known}/")), None)
        if action is None:
            continue
        key, default = CACHING_ACTIONS[action]
        value = _resolved(given[key], inputs) if key in given else default
        if value not in ("", "false"):
            found.append(f"{where} step {number} ({name}: {key or 'cache'}={value!r})")
    return found


def _writes(permissions) -> bool:
    if permissions is None:  # the repository's default token: may write
        return True
    if isinstance(permissions, str):
        return permissions == "write-all"
    return any(str(level) == "write" for level in permissions.values())


def cache_problems(project) -> list[str]:
    """No job whose token can write (contents, pull-requests, deployments, packages, id-token...)
    restores a dependency cache: a cache poisoned by another run would run with that token."""
    problems = []
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        for name, job in workflow["jobs"].items():
            if _writes(job.get("permissions", workflow.get("permissions"))):
                for step in caching_steps(project, job.get("steps", []), {}, f"{path.name}: job {name}"):
                    problems.append(f"{step}: a job whose token can write must not use a cache")
    return problems


def test_the_cache_rule_catches_a_writing_job_with_a_cache(tmp_path):
    """cache_problems itself: the setup action asked for its cache, setup-uv's default (auto), and a
    job with no permissions block (the default token) are caught; read-only jobs may cache."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copytree(TEMPLATE_PROJECT / ".github" / "actions", tmp_path / ".github" / "actions")
    setup, uv = (
        {"uses": "./.github/actions/setup"},
        {"uses": "astral-sh/setup-uv@0000000000000000000000000000000000000000"},
    )
    jobs = {
        "pushes": {"permissions": {"contents": "write"}, "steps": [setup | {"with": {"cache": "true"}}]},
        "deploys": {"permissions": {"deployments": "write"}, "steps": [uv]},
        "defaults": {"steps": [{"uses": "actions/cache/restore@0000000000000000000000000000000000000000"}]},
        "reads": {"permissions": {"contents": "read"}, "steps": [setup | {"with": {"cache": "true"}}, uv]},
        "safe": {"permissions": {"id-token": "write"}, "steps": [setup, uv | {"with": {"enable-cache": "false"}}]},
    }
    (workflows / "w.yml").write_text(yaml.safe_dump({"name": "W", "on": "push", "jobs": jobs}, sort_keys=False))
    found = cache_problems(tmp_path)
    assert [problem.split(" step ")[0] for problem in found] == [
        "w.yml: job pushes > ./.github/actions/setup",
        "w.yml: job deploys",
        "w.yml: job defaults",
    ], found


def python_problems(project, version: str) -> list[str]:
    problems = []
    # One requires-python for every bake (the one uv.lock fits them all); .python-version picks.
    requires = tomllib.loads((project / "pyproject.toml").read_text())["project"]["requires-python"]
    if f"{version}.0" not in SpecifierSet(requires):
        problems.append(f"pyproject.toml requires-python {requires!r} must admit the chosen Python {version}")
    pinned = (project / ".python-version").read_text().strip()
    if pinned != version:
        problems.append(f".python-version is {pinned!r}, expected {version!r}")
    return problems


@pytest.mark.parametrize("deploy_target", TARGETS)
@pytest.mark.parametrize("python_version", PYTHON_VERSIONS)
def test_every_choice_bakes_a_clean_project(cookies, python_version, deploy_target):
    result = cookies.bake(
        extra_context={"python_version": python_version, "deploy_target": deploy_target}, template=str(ROOT)
    )
    assert result.exception is None, f"bake failed: {result.exception!r}"
    assert result.exit_code == 0
    project = result.project_path
    assert project.name == DEFAULT_SLUG
    assert (project / "src" / "cancer_classifier" / "ops" / "cli" / "__init__.py").is_file()

    problems = template_leftovers(project)
    problems += deploy_problems(project, deploy_target)
    problems += oidc_problems(project, deploy_target)
    problems += cache_problems(project)
    problems += zizmor_problems(project)
    problems += python_problems(project, python_version)
    assert not problems, "\n".join(problems)


def workflow_triggers(path) -> dict:
    document = yaml.safe_load(path.read_text())
    return document.get("on", document.get(True))  # PyYAML reads a bare `on:` key as True


def test_free_text_answers_are_rendered_and_quoted(cookies):
    answers = {
        "project_name": "Churn Model",
        "description": 'Predicts churn: "who leaves" & why, # not a comment',
        "author": 'O\'Brien "Data" Team',
        "retrain_schedule": "30 2 * * 0",
        "default_branch": "trunk",
    }
    result = cookies.bake(extra_context=answers, template=str(ROOT))
    assert result.exception is None, f"bake failed: {result.exception!r}"
    project = result.project_path
    assert project.name == "churn-model"
    assert (project / "src" / "churn_model" / "ops" / "cli" / "__init__.py").is_file()
    assert not (project / "src" / "cancer_classifier").exists()
    assert template_leftovers(project) == []

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["name"] == "churn-model"
    assert pyproject["description"] == answers["description"]
    assert pyproject["authors"] == [{"name": answers["author"]}]
    assert pyproject["scripts"]["mlops"] == "churn_model.ops.cli:main"

    config = yaml.safe_load((project / "mlops.yaml").read_text())
    assert config["project"]["name"] == "Churn Model"
    assert config["project"]["model_name"] == "churn-model"
    assert config["monitoring"]["schedule"] == "30 2 * * 0"
    assert config["project"]["default_branch"] == "trunk"
    assert "# Churn Model" in (project / "README.md").read_text()

    # The post-generation hook writes the answers GitHub needs as literals into the workflows.
    workflows = project / ".github" / "workflows"
    assert [entry["cron"] for entry in workflow_triggers(workflows / "ct.yml")["schedule"]] == ["30 2 * * 0"]
    assert workflow_triggers(workflows / "ci.yml")["push"]["branches"] == ["trunk"]
    batch = [entry["cron"] for entry in workflow_triggers(workflows / "batch.yml")["schedule"]]
    assert batch == [config["batch"]["schedule"]], "batch.yml's cron is not mlops.yaml's batch.schedule"


# (answer, value, a regex one stderr line must match: it names the answer and what is expected)
BAD_ANSWERS = [
    ("project_slug", "my model", r"project_slug 'my model': expected lowercase"),
    ("project_slug", "MyModel", r"project_slug 'MyModel': expected lowercase"),
    ("package_name", "class", r"package_name 'class': expected a lowercase Python identifier that is not a keyword"),
    ("package_name", "2fast", r"package_name '2fast': expected a lowercase Python identifier"),
    ("retrain_schedule", "0 25 * * *", r"retrain_schedule '0 25 \* \* \*': hour .*25.* 0-23"),
    ("retrain_schedule", "* * *", r"retrain_schedule '\* \* \*': expected 5 fields"),
    ("python_version", "2.7", r"2\.7 .*python_version.*choices are \['3\.11', '3\.12', '3\.13'\]"),
    ("default_branch", "bad..branch", r"default_branch 'bad\.\.branch': expected a git branch name"),
    ("deploy_target", "mars", r"mars .*deploy_target.*choices are \['local', 'aws', 'gcp', 'azure', 'kubernetes'\]"),
]


@pytest.mark.parametrize(("answer", "value", "expected"), BAD_ANSWERS, ids=[f"{a}={v}" for a, v, _ in BAD_ANSWERS])
def test_a_bad_answer_stops_the_bake_with_one_clear_line(tmp_path, answer, value, expected):
    out = tmp_path / "out"
    out.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"replay_dir: {tmp_path / 'replay'}\n")
    cmd = [VENV_BIN / "cookiecutter", ROOT, "--no-input", "--config-file", config, "-o", out, f"{answer}={value}"]
    proc = subprocess.run(
        [str(c) for c in cmd], check=False, cwd=tmp_path, env=project_env(), capture_output=True, text=True, timeout=120
    )
    report = describe(cmd, tmp_path, proc.returncode, proc.stdout, proc.stderr)

    assert proc.returncode != 0, report
    matching = [line for line in proc.stderr.splitlines() if re.search(expected, line)]
    assert len(matching) == 1, f"expected one stderr line matching {expected!r}\n{report}"
    assert list(out.iterdir()) == [], f"the failed bake left files behind: {list(out.iterdir())}"
