"""The registry's one source of truth (ops/registry/tracking.py and versions.py, ops/gitops/report.py) on
embedded sqlite stores in a temporary directory, and on stand-ins for a server that is down, hangs or refuses."""

import shutil
import socket
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from {{ cookiecutter.package_name }}.ops.gitops.report import Baseline, champion
from {{ cookiecutter.package_name }}.ops.pipeline.data import TEST, features, prepare, read_table
from {{ cookiecutter.package_name }}.ops.pipeline.evaluate import compute, write
from {{ cookiecutter.package_name }}.ops.pipeline.training import MODEL, fit, save
from {{ cookiecutter.package_name }}.ops.registry.lineage import file_md5, tags
from {{ cookiecutter.package_name }}.ops.registry.tracking import HTTP_BOUNDS, connect, log_run, tracking_uri
from {{ cookiecutter.package_name }}.ops.registry.versions import RegistryError, register, track, version_by_alias

SECRET = "pa55-That-Must-Never-Show"
MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No registry settings of the machine running the tests."""
    for name in (*MLFLOW_ENV, *HTTP_BOUNDS, "MLOPS_STATE_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def workspace(config, tmp_path, monkeypatch) -> Path:
    """The project's data in a temporary directory, prepared and trained there (the working directory)."""
    (tmp_path / "data").mkdir()
    shutil.copy(config.data.source, tmp_path / config.data.source)
    monkeypatch.chdir(tmp_path)
    prepare(config)
    save(fit(config))
    return tmp_path


def scores_and_sample(config):
    from {{ cookiecutter.package_name }}.ops.pipeline.training import load

    model, test = load(), read_table(TEST)
    X = features(config, test)
    scores = compute(config, model, X, test[config.data.target.column])
    write(scores)
    return model, scores, X.head(5)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_track_refuses_outputs_that_are_not_the_pipelines(config, workspace):
    import yaml

    from {{ cookiecutter.package_name }}.ops.pipeline.evaluate import METRICS_FILE

    scores_and_sample(config)
    lock = {"stages": {"evaluate": {"deps": [{"path": str(MODEL), "md5": file_md5(MODEL)}],
                                    "outs": [{"path": str(METRICS_FILE), "md5": file_md5(METRICS_FILE)}]}}}  # fmt: skip
    Path("dvc.lock").write_text(yaml.safe_dump(lock))
    track(config)  # what dvc.lock recorded: logged
    METRICS_FILE.write_text(METRICS_FILE.read_text().replace("{", '{"edited": 1, ', 1))
    with pytest.raises(RegistryError, match=r"^metrics.json differ from what dvc.lock recorded: run `dvc repro`"):
        track(config)


def test_the_environment_chooses_the_registry_over_mlops_yaml(config, tmp_path, monkeypatch):
    assert config.registry.tracking_uri == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLOPS_STATE_ROOT", str(tmp_path))
    assert tracking_uri(config) == f"sqlite:///{tmp_path}/mlflow.db"  # relative: under the state root
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///team.db")
    assert tracking_uri(config) == f"sqlite:///{tmp_path}/team.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/elsewhere/x.db")
    assert tracking_uri(config) == f"sqlite:///{tmp_path}/elsewhere/x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    assert tracking_uri(config) == "https://mlflow.example.com"


def test_work_lands_in_the_registry_the_environment_names(config, workspace, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///team.db")
    scores_and_sample(config)
    track(config)
    assert str(register(config).version) == "1"
    assert (workspace / "team.db").is_file() and not (workspace / "mlflow.db").exists()
    # MLflow exports the URI it is given; connect takes that back, so the next config still decides.
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    connect(config)
    assert tracking_uri(config) == f"sqlite:///{workspace}/mlflow.db"


def test_register_is_idempotent_per_model_bytes(config, workspace):
    model, scores, sample = scores_and_sample(config)
    with pytest.raises(RegistryError, match=r"no MLflow run has logged models/model.joblib .*run `mlops track` first"):
        register(config)  # the pipeline logs nothing: tracking is a step of its own
    run_id = track(config)
    assert track(config) == run_id  # the same outputs again: the same run
    first = register(config)
    assert first.run_id == run_id
    run_tags = tags(config, MODEL)
    # The same bytes and scores again (`dvc repro -f` on a fresh clone): the same run.
    assert log_run(config, model, scores, sample, run_tags) == first.run_id
    # The same bytes, other scores (say, a changed evaluation): a new run, still the same version.
    other = log_run(config, model, {**scores, "accuracy": scores["accuracy"] - 0.01}, sample, run_tags)
    assert other != first.run_id
    assert str(register(config).version) == str(first.version) == "1"

    client = MlflowClient(tracking_uri(config))
    name = config.project.model_name
    versions = client.search_model_versions(f"name = '{name}'")
    assert [str(v.version) for v in versions] == ["1"]
    assert versions[0].tags["model_md5"] == file_md5(MODEL)
    runs = client.search_runs([client.get_experiment_by_name(config.registry.experiment).experiment_id])
    assert len(runs) == 2

    retrained = config.model_copy(deep=True)
    retrained.training.params["C"] = 0.05
    save(fit(retrained))
    scores_and_sample(retrained)
    track(retrained)
    assert str(register(retrained).version) == "2"
    assert str(version_by_alias(config, config.registry.challenger_alias).version) == "2"


def test_a_closed_port_fails_within_the_bound_in_one_line(config, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://ci:{SECRET}@127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(RegistryError) as raised:
        version_by_alias(config, "champion")
    elapsed = time.monotonic() - started
    message = str(raised.value)
    assert elapsed < 10, f"{elapsed:.1f} s to give up on a closed port (MLflow's own default: ~4 min)"
    assert f"http://127.0.0.1:{port}" in message and "connection refused" in message, message
    assert SECRET not in message and "\n" not in message


def test_a_hanging_server_times_out_and_the_users_bounds_win(config, monkeypatch):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        started = time.monotonic()
        with pytest.raises(RegistryError, match=r"no answer within MLFLOW_HTTP_REQUEST_TIMEOUT=1 s \(1 attempts\)"):
            version_by_alias(config, "champion")
    assert time.monotonic() - started < 5


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.mark.parametrize(
    ("status", "credentials", "expected"),
    [
        (401, {}, "refused the credentials (HTTP 401): no credentials (set MLFLOW_TRACKING_USERNAME"),
        (401, {"MLFLOW_TRACKING_USERNAME": "ci", "MLFLOW_TRACKING_PASSWORD": SECRET}, "HTTP 401): user 'ci'"),
        (401, {"MLFLOW_TRACKING_TOKEN": SECRET}, "HTTP 401): the token in MLFLOW_TRACKING_TOKEN"),
        (403, {"MLFLOW_TRACKING_USERNAME": "ci", "MLFLOW_TRACKING_PASSWORD": SECRET}, "permission denied (HTTP 403)"),
    ],
)
def test_a_refusing_server_is_named_once(config, httpserver, monkeypatch, status, credentials, expected):
    httpserver.expect_request("/api/2.0/mlflow/experiments/get-by-name").respond_with_data(
        "You are not authenticated.", status=status
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", httpserver.url_for("/").rstrip("/"))
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RegistryError) as raised:
        register(config)
    message = str(raised.value)
    assert expected in message and httpserver.url_for("/").rstrip("/") in message, message
    assert SECRET not in message and "\n" not in message
    assert len(httpserver.log) == 1, "a refusal is final: no retries"


def test_only_a_missing_model_means_no_version(config, httpserver, monkeypatch):
    """A lookup that fails for another reason (refused, a server error) is an error, not 'no champion'."""
    experiment = {"experiment_id": "1", "name": config.registry.experiment, "lifecycle_stage": "active"}
    httpserver.expect_request("/api/2.0/mlflow/experiments/get-by-name").respond_with_json({"experiment": experiment})
    monkeypatch.setenv("MLFLOW_TRACKING_URI", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    lookup = "/api/2.0/mlflow/registered-models/get"
    missing = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model not found"}
    httpserver.expect_oneshot_request(lookup).respond_with_json(missing, status=404)
    assert version_by_alias(config, "champion") is None
    for status in (403, 500):
        httpserver.expect_oneshot_request(lookup).respond_with_data("no", status=status)
        with pytest.raises(RegistryError, match=f"HTTP {status}|error code {status}"):
            version_by_alias(config, "champion")


def test_the_report_compares_with_git_only_without_a_local_registry(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = Baseline({config.training.metric: 0.97}, {}, "`main`")
    stand_in = champion(config, base)
    assert stand_in.metrics == base.metrics
    assert "Compared with git" in stand_in.note and "mlflow.db does not exist" in stand_in.note
    assert not (tmp_path / "mlflow.db").exists()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(RegistryError, match="connection refused"):  # a server: no fallback
        champion(config, base)
