"""Baking: every value of every choice option renders a clean project; bad answers stop the bake.

Cheap checks only (a bake takes ~0.5 s): the project checks run in test_projects.py, the pipeline
in test_e2e.py.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
import yaml
from helpers import (
    DEFAULT_SLUG,
    PYTHON_VERSIONS,
    ROOT,
    TARGETS,
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


def python_problems(project, version: str) -> list[str]:
    problems = []
    requires = tomllib.loads((project / "pyproject.toml").read_text())["project"]["requires-python"]
    if not requires.startswith(f">={version}"):
        problems.append(f"pyproject.toml requires-python is {requires!r}, expected it to start with >={version}")
    spec = SpecifierSet(requires)
    major, minor = map(int, version.split("."))
    if f"{version}.0" not in spec or f"{major}.{minor - 1}.99" in spec:
        problems.append(f"requires-python {requires!r} must admit {version} and nothing older")
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
