"""End to end on one default bake, installed for real (`make setup`): the DVC pipeline, the registry,
the bento, the served model against batch predictions, request and data validation, `make loop`.

Claims are read back from outside the commands that make them: DVC's own output says which stages
ran, the registry is read with MlflowClient from the project's sqlite store, lineage tags are
compared with the md5s in dvc.lock, servers are started and queried over HTTP.

Slow (~4 min): one project for the whole module, installed once (the shared bentos' install) (`--dist loadfile` in the Makefile
keeps this module on one worker). Each fixture does what the tests after it need,
so any single test can also run alone (`pytest tests/test_e2e.py -k predictions`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from bentos import installed_copy, shared_bentos
from helpers import describe, free_port, project_env, run, serving

pytestmark = pytest.mark.slow

STAGES = ("prepare", "train", "evaluate")


@dataclass
class Project:
    path: Path
    base: Path  # scratch space beside the project
    env: dict[str, str]

    def uv_run(self, *args, ok=(0,), timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(["uv", "run", "--no-sync", *args], self.path, env=self.env, ok=ok, timeout=timeout)

    def make(self, target: str, ok=(0,), timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return run(["make", target], self.path, env=self.env, ok=ok, timeout=timeout)

    @property
    def config(self) -> dict:
        return yaml.safe_load((self.path / "mlops.yaml").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory, worker_id) -> Project:
    """The default bake, `git init` + commit, `make setup` (uv sync into its own .venv): the shared
    bentos' project as it was then (tests/bentos.py installed_copy), with a BentoML store of its own."""
    base = tmp_path_factory.mktemp("e2e")
    path = installed_copy(shared_bentos(tmp_path_factory, worker_id), base)
    assert (path / ".venv" / "bin" / "mlops").exists()
    return Project(path, base, project_env(BENTOML_HOME=str(base / "bentoml")))


@pytest.fixture(scope="module")
def first_repro(project) -> subprocess.CompletedProcess[str]:
    return project.uv_run("dvc", "repro")


def test_first_repro_runs_every_stage_and_passes_the_metric_floor(project, first_repro):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in first_repro.stdout, first_repro.stdout
    for output in (
        "data/prepared/train.parquet",
        "data/prepared/test.parquet",
        "models/model.joblib",
        "dvc.lock",
    ):
        assert (project.path / output).is_file(), f"{output} is missing after dvc repro"
    assert not (project.path / "mlflow.db").exists(), "a stage logged to MLflow: that is `mlops track`'s job"
    metrics = json.loads((project.path / "metrics.json").read_text())
    assert metrics["roc_auc"] >= 0.95, metrics


def test_a_second_repro_runs_nothing(project, first_repro):
    again = project.uv_run("dvc", "repro")
    assert "Running stage" not in again.stdout, again.stdout
    assert "Data and pipelines are up to date" in again.stdout


@dataclass
class Bento:
    tag: str
    model: str
    version: str


@pytest.fixture(scope="module")
def bento(project, first_repro) -> Bento:
    unlogged = project.uv_run("mlops", "register", ok=(2,))  # the pipeline's stages log nothing
    assert "run `mlops track` first" in unlogged.stderr, unlogged.stderr
    project.uv_run("mlops", "track")
    registered = project.uv_run("mlops", "register")
    version = re.search(r"version (\d+) is @challenger", registered.stdout)
    assert version, describe("mlops register", project.path, 0, registered.stdout, registered.stderr)
    built = project.uv_run("mlops", "build")
    tags = re.search(r"built bento (\S+) with model (\S+)", built.stdout)
    assert tags, describe("mlops build", project.path, 0, built.stdout, built.stderr)
    return Bento(tag=tags[1], model=tags[2], version=version[1])


def test_register_and_build_make_a_bento_of_the_challenger(project, bento):
    name = project.config["project"]["model_name"]
    assert bento.tag.startswith(f"{name}:") and bento.model.startswith(f"{name}:")
    name, version = bento.tag.split(":")
    stored = project.base / "bentoml" / "bentos" / name / version
    assert (stored / "bento.yaml").is_file(), f"the bento is not in BENTOML_HOME: {stored}"
    assert (stored / "src" / "service.py").is_file() and (stored / "src" / "mlops.yaml").is_file()
    manifest = yaml.safe_load((stored / "bento.yaml").read_text())
    models = [model["tag"] for service in manifest["services"] for model in service["models"]]
    assert models == [bento.model], f"the bento's service should use the imported model: {models}"

    # The model in the store names the registry version and the lineage of what produced it.
    model_name, model_version = bento.model.split(":")
    labels = yaml.safe_load(
        (project.base / "bentoml" / "models" / model_name / model_version / "model.yaml").read_text()
    )["labels"]
    assert labels["registry_version"] == bento.version
    commit = run(["git", "rev-parse", "HEAD"], project.path).stdout.strip()
    assert labels["git_commit"] == commit
    assert {"data_md5", "params_hash", "model_md5"} <= set(labels)


def registry_state(project: Project) -> dict:
    """The project's MLflow registry, read with MlflowClient in the project's own venv."""
    script = """
import json, sys
from mlflow import MlflowClient
client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
name = sys.argv[1]
model = client.get_registered_model(name)
versions = client.search_model_versions(f"name = '{name}'")
runs = {v.version: client.get_run(v.run_id).data.tags for v in versions}
print(json.dumps({
    "aliases": {alias: str(version) for alias, version in model.aliases.items()},
    "versions": {str(v.version): {"tags": dict(v.tags), "run_tags": runs[v.version]} for v in versions},
}))
"""
    name = project.config["project"]["model_name"]
    return json.loads(project.uv_run("python", "-c", script, name).stdout)


def dvc_lock_md5(project: Project, stage: str, path: str) -> str:
    """The md5 dvc.lock records for `path` among a stage's deps or outs."""
    stage_lock = yaml.safe_load((project.path / "dvc.lock").read_text())["stages"][stage]
    (md5,) = [
        entry["md5"] for entry in stage_lock.get("deps", []) + stage_lock.get("outs", []) if entry["path"] == path
    ]
    return md5


def test_the_registry_holds_the_challenger_with_the_pipelines_lineage(project, bento):
    state = registry_state(project)
    assert state["aliases"].get("challenger") == bento.version, state["aliases"]
    tags = state["versions"][bento.version]["tags"]
    source = project.config["data"]["source"]
    assert tags["data_md5"] == dvc_lock_md5(project, "prepare", source), "data_md5 is not what dvc.lock read"
    assert tags["model_md5"] == dvc_lock_md5(project, "train", "models/model.joblib")
    assert tags["git_commit"] == run(["git", "rev-parse", "HEAD"], project.path).stdout.strip()
    run_tags = state["versions"][bento.version]["run_tags"]
    assert {key: run_tags[key] for key in tags} == tags  # the version carries its run's lineage


@pytest.fixture(scope="module")
def server(project, bento, tmp_path_factory):
    """`bentoml serve <bento tag>` started from an empty directory: the bento carries its own code and
    config, the model comes from the BentoML store. Yields the base URL; stopped at module end."""
    port = free_port()
    cmd = [project.path / ".venv" / "bin" / "bentoml", "serve", bento.tag, "--host", "127.0.0.1", "--port", str(port)]
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    with serving(cmd, elsewhere, project.env, project.base / "serve.log", port) as url:
        yield url


def _request_rows(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


@pytest.fixture(scope="module")
def sample(project, first_repro) -> pd.DataFrame:
    """5 rows of the test split, both classes, feature columns only."""
    config = project.config
    target = config["data"]["target"]["column"]
    test = pd.read_parquet(project.path / "data" / "prepared" / "test.parquet")
    picked = pd.concat([test[test[target] == 0].head(3), test[test[target] == 1].head(2)])
    return picked[list(config["data"]["columns"])]


def test_served_predictions_equal_batch_predictions(project, server, bento, sample):
    rows_csv, predictions_csv = project.base / "five-rows.csv", project.base / "five-predictions.csv"
    sample.to_csv(rows_csv, index=False)
    project.uv_run("mlops", "predict", rows_csv, "--output", predictions_csv, "--alias", "challenger")  # as served
    batch = pd.read_csv(predictions_csv)["prediction"].tolist()
    assert sorted(set(batch)) == [0, 1], f"the sample should get both classes: {batch}"

    answer = httpx.post(f"{server}/predict", json={"rows": _request_rows(sample)}, timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == batch
    assert body["model"] == bento.model


def test_mlops_serve_answers_with_the_challengers_model(project, bento, sample):
    """`mlops serve` (the project's code, the model @challenger names, resolved from the registry) on
    a free port, queried: the same model the bento of the challenger was built with."""
    port = free_port()
    cmd = ["uv", "run", "--no-sync", "mlops", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, project.path, project.env, project.base / "mlops-serve.log", port) as url:
        answer = httpx.post(f"{url}/predict", json={"rows": _request_rows(sample)}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model"] == bento.model
        assert len(answer.json()["predictions"]) == len(sample)
        assert httpx.post(f"{url}/predict", json={"rows": []}, timeout=60).status_code == 400


def test_a_failed_smoke_request_shows_the_servers_log(project, bento):
    """`mlops smoke` against a service that refuses its 2 rows (serving.max_batch_size 1): the error
    names the answer and shows the server's own log line for it."""
    path = project.path / "mlops.yaml"
    original = path.read_text()
    config = yaml.safe_load(original)
    config["serving"]["max_batch_size"] = 1
    try:
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        proc = project.uv_run("mlops", "smoke", ok=(1, 2))
    finally:
        path.write_text(original)
    out = proc.stdout + proc.stderr
    assert "smoke request failed: POST /predict answered 400" in out, out
    assert "the server's log (last lines)" in out and "400 POST /predict" in out.split("last lines")[1], out


def _text_in_numeric(rows):
    rows[0]["mean_radius"] = "large"


def _missing(rows):
    del rows[1]["mean_texture"]


def _unknown(rows):
    rows[0]["colour"] = "red"


def _empty(rows):
    rows.clear()


INVALID = {
    "text in a numeric field": (_text_in_numeric, ["rows", 0, "mean_radius"]),
    "missing field": (_missing, ["rows", 1, "mean_texture"]),
    "unknown field": (_unknown, ["rows", 0, "colour"]),
    "empty rows list": (_empty, ["rows"]),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_request_gets_400_naming_the_field(server, sample, case):
    spoil, location = INVALID[case]
    rows = _request_rows(sample.head(2))
    spoil(rows)
    answer = httpx.post(f"{server}/predict", json={"rows": rows}, timeout=60)
    assert answer.status_code == 400, answer.text
    errors = answer.json()["detail"]
    assert [error["loc"] for error in errors] == [location], json.dumps(errors, indent=1)


def _table(report: str) -> dict[str, list[str]]:
    """Markdown table lines of the validation report by column: [rule, failing rows, rows, values]."""
    lines = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| column |")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return {row[0]: row[1:] for row in cells}


def test_broken_data_is_reported_by_column_rule_and_rows(project):
    frame = pd.read_csv(project.path / "data" / "raw.csv")
    frame.loc[7, "mean_radius"] = -1.5
    frame.loc[100:129, "mean_texture"] = None  # 30 of 569 rows: 5.3% missing, the limit is 1%
    broken = project.base / "broken.csv"
    frame.to_csv(broken, index=False)

    proc = project.uv_run("mlops", "validate", "--data", broken, ok=(1,))
    report = proc.stdout
    assert str(broken) in report.splitlines()[0], report
    table = _table(report)
    assert set(table) == {"mean_radius", "mean_texture"}, report
    rule, count, rows, values = table["mean_radius"]
    assert (rule, count, rows) == ("greater_than_or_equal_to(0.0)", "1", "7"), report
    assert "-1.5" in values
    rule, count, rows, values = table["mean_texture"]
    assert (rule, count, rows) == ("missing share <= 0.01", "30", "100, 101, 102, 103, 104 (+25 more)"), report
    assert "5.3% missing" in values


def test_the_bundled_data_passes_validation(project):
    proc = project.uv_run("mlops", "validate")
    assert "569 rows meet every rule" in proc.stdout


def _smoke_answer(stdout: str) -> dict:
    found = re.search(r"sent 2 rows .*answer: (\{.*\})", stdout)
    assert found, f"no smoke line in:\n{stdout}"
    return json.loads(found[1])


def test_make_clean_then_loop_starts_over(project, first_repro):
    """`make clean` removes the outputs and the MLflow store; `make loop` brings every stage's outputs
    back (run, or restored from DVC's run cache: DVC says which), tracks, registers a version again,
    builds its bento and smokes it. (A loop on an up-to-date project differs only in DVC's part:
    test_a_second_repro_runs_nothing.)"""
    project.make("clean")
    assert not (project.path / "mlflow.db").exists() and not (project.path / "models").exists()
    cleaned = time.time()
    proc = project.make("loop")
    for stage in STAGES:
        pattern = rf"Running stage '{stage}'|Stage '{stage}' is cached - skipping run, checking out outputs"
        assert re.search(pattern, proc.stdout), f"DVC did nothing for {stage}:\n{proc.stdout}"
    for output in ("data/prepared/train.parquet", "models/model.joblib", "mlflow.db"):
        assert (project.path / output).stat().st_mtime >= cleaned - 1, f"{output} was not written by this loop"
    assert "is @challenger" in proc.stdout and "built bento" in proc.stdout
    assert len(_smoke_answer(proc.stdout)["predictions"]) == 2
    state = registry_state(project)  # a fresh store: the current model registered again, as @challenger
    assert list(state["versions"]) == ["1"] and state["aliases"] == {"challenger": "1"}
    assert state["versions"]["1"]["tags"]["model_md5"] == dvc_lock_md5(project, "train", "models/model.joblib")
