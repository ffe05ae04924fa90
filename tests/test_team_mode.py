"""Team mode: a baked project against a real MLflow server, as a team would run one.

`mlflow server --app-name basic-auth` (MLflow's own basic-auth app; the server comes from the
template's venv, since a baked project has only mlflow-skinny) on a free 127.0.0.1 port, with a
sqlite backend store and an artifact root in the test's scratch space. The project is a default
bake installed for real (the shared bentos' project as `make setup` left it: bentos.installed_copy) whose mlops.yaml keeps
`sqlite:///mlflow.db`; MLFLOW_TRACKING_URI points `dvc repro` and every `mlops` command at the
server. What lands on the server is read back over its REST API, not through the project's code.

Claims: the environment wins over mlops.yaml (the version is on the server, no mlflow.db appears);
`register` is idempotent per model hash; a server that is down, hangs or refuses (401, 403) fails
every command within 30 s with one line and exit 2, never showing a password; with a server the
report's champion comes from it, never from git. ~3 min here.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from bentos import installed_copy, shared_bentos
from helpers import VENV_BIN, describe, free_port, project_env, run, stop_group

pytestmark = pytest.mark.slow

ADMIN = ("admin", "Adm1n-pass-never-shown")
READER = ("reader", "Reader-pass-never-shown")
WRONG = "Wr0ng-pass-never-shown"
SECRETS = (ADMIN[1], READER[1], WRONG)
FAIL_WITHIN = 30  # seconds, from starting the command to its exit
HUNG_WITHIN = 20  # seconds a silent server may add: 3 attempts x MLFLOW_HTTP_REQUEST_TIMEOUT 5 s, + slack
STARTUP_TIMEOUT = 180  # `mlflow server` answers /health after ~15 s here
# MLflow's own client settings: the tests measure the project's bounds, not the runner's.
CLIENT_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLOPS_STATE_ROOT",
)
AUTH_CONFIG = """[mlflow]
default_permission = READ
database_uri = sqlite:///{db}
admin_username = {admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = true
auth_cache_ttl_seconds = 60
"""


@dataclass(frozen=True)
class Server:
    url: str
    api: httpx.Client  # the REST API as the admin


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """A basic-auth MLflow server (admin + a read-only user), stopped at the end of the module."""
    base = tmp_path_factory.mktemp("mlflow-server")
    (base / "auth.ini").write_text(AUTH_CONFIG.format(db=base / "auth.db", admin=ADMIN[0]))
    port = free_port()
    env = project_env(
        MLFLOW_AUTH_CONFIG_PATH=str(base / "auth.ini"),
        MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN[1],
        MLFLOW_FLASK_SERVER_SECRET_KEY=hashlib.sha256(str(base).encode()).hexdigest(),
    )
    cmd = [
        VENV_BIN / "mlflow", "server", "--app-name", "basic-auth", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{base / 'store.db'}",
        "--artifacts-destination", str(base / "artifacts"),
    ]  # fmt: skip
    log = base / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, log)
        api = httpx.Client(base_url=url, auth=ADMIN, timeout=30)
        created = api.post("/api/2.0/mlflow/users/create", json={"username": READER[0], "password": READER[1]})
        assert created.status_code == 200, created.text
        yield Server(url, api)
        api.close()
    finally:
        stop_group(proc)


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited {proc.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}", pytrace=False)


@dataclass(frozen=True)
class Project:
    path: Path
    env: dict[str, str]  # its .venv first on PATH, no MLflow settings of the machine, its own BentoML store


@pytest.fixture(scope="module")
def project(tmp_path_factory, worker_id) -> Project:
    base = tmp_path_factory.mktemp("team")
    path = installed_copy(shared_bentos(tmp_path_factory, worker_id), base)  # as `make setup` left it
    env = {key: value for key, value in project_env().items() if key not in CLIENT_ENV}
    env.update(PATH=f"{path / '.venv' / 'bin'}{os.pathsep}{env['PATH']}", BENTOML_HOME=str(base / "bentoml"))
    return Project(path, env)


@pytest.fixture(scope="module")
def pipeline(project, server) -> str:
    """`dvc repro`, then `mlops track` in team mode: the run is logged to the server."""
    env = {**project.env, **as_user(server, ADMIN)}
    out = run(["dvc", "repro"], project.path, env=env, timeout=900).stdout
    return out + run(["mlops", "track"], project.path, env=env, timeout=300).stdout


def mlops(project: Project, *args: str, env: dict[str, str], ok=(0,)) -> tuple[subprocess.CompletedProcess, float]:
    """`mlops ARGS` in the project with `env` added; the result and its wall time in seconds."""
    started = time.monotonic()
    out = run(["mlops", *args], project.path, env={**project.env, **env}, ok=ok, timeout=300)
    return out, time.monotonic() - started


def as_user(server: Server, user: tuple[str, str] | None) -> dict[str, str]:
    env = {"MLFLOW_TRACKING_URI": server.url}
    if user:
        env.update(MLFLOW_TRACKING_USERNAME=user[0], MLFLOW_TRACKING_PASSWORD=user[1])
    return env


def model_name(project: Project) -> str:
    return yaml.safe_load((project.path / "mlops.yaml").read_text())["project"]["model_name"]


def model_md5(project: Project) -> str:
    return hashlib.md5((project.path / "models" / "model.joblib").read_bytes()).hexdigest()


def versions_of(server: Server, name: str, md5: str | None = None) -> list[dict]:
    query = f"name = '{name}'" + (f" and tags.model_md5 = '{md5}'" if md5 else "")
    found = server.api.get("/api/2.0/mlflow/model-versions/search", params={"filter": query})
    assert found.status_code == 200, found.text
    return found.json().get("model_versions", [])


def alias(server: Server, name: str, which: str) -> str | None:
    model = server.api.get("/api/2.0/mlflow/registered-models/get", params={"name": name}).json()
    return {entry["alias"]: entry["version"] for entry in model["registered_model"].get("aliases", [])}.get(which)


def runs_of(server: Server, md5: str) -> list[dict]:
    experiments = server.api.post("/api/2.0/mlflow/experiments/search", json={"max_results": 100}).json()
    ids = [experiment["experiment_id"] for experiment in experiments["experiments"]]
    found = server.api.post(
        "/api/2.0/mlflow/runs/search", json={"experiment_ids": ids, "filter": f"tags.model_md5 = '{md5}'"}
    )
    assert found.status_code == 200, found.text
    return found.json().get("runs", [])


def one_error_line(out: subprocess.CompletedProcess, *expected: str) -> str:
    """The command's one line on stderr, checked for `expected` and for secrets."""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    shown = describe("mlops", Path("."), out.returncode, out.stdout, out.stderr)
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: MLflow registry "), shown
    for text in expected:
        assert text in lines[0], shown
    for secret in SECRETS:
        assert secret not in out.stdout + out.stderr, f"a password in the output:\n{shown}"
    return lines[0]


@pytest.fixture(scope="module")
def registered(project, server, pipeline) -> str:
    """`mlops register` as the admin after the pipeline: the version number."""
    out, _ = mlops(project, "register", env=as_user(server, ADMIN))
    found = re.search(r"version (\d+) is @challenger", out.stdout)
    assert found, describe("mlops register", project.path, 0, out.stdout, out.stderr)
    return found[1]


def test_mlflow_tracking_uri_wins_over_mlops_yaml(project, server, pipeline, registered):
    config = yaml.safe_load((project.path / "mlops.yaml").read_text())
    assert config["registry"]["tracking_uri"] == "sqlite:///mlflow.db"
    assert "Running stage 'evaluate'" in pipeline
    assert not (project.path / "mlflow.db").exists(), "work went into a local mlflow.db, not the server"
    assert not (project.path / "mlruns").exists()
    name, md5 = model_name(project), model_md5(project)
    (version,) = versions_of(server, name)
    assert version["version"] == registered and version["tags"]  # lineage tags, model_md5 among them
    assert {tag["key"]: tag["value"] for tag in version["tags"]}["model_md5"] == md5
    assert alias(server, name, "challenger") == registered
    assert len(runs_of(server, md5)) == 1  # the run `mlops track` logged, the one register found


def test_register_is_idempotent_per_model_hash(project, server, registered):
    name, md5 = model_name(project), model_md5(project)
    (run_before,) = runs_of(server, md5)
    # `mlops track` after `dvc repro -f` on a fresh clone: the same bytes and scores reuse their run.
    tracked, _ = mlops(project, "track", env=as_user(server, ADMIN))
    assert f"MLflow run {run_before['info']['run_id']}" in tracked.stdout, tracked.stdout
    assert model_md5(project) == md5 and len(runs_of(server, md5)) == 1
    # A second run of the same bytes (a clone whose evaluation differed, an older client): same version.
    duplicate(server, run_before)
    assert len(runs_of(server, md5)) == 2
    again, _ = mlops(project, "register", env=as_user(server, ADMIN))
    assert f"version {registered} is @challenger" in again.stdout, again.stdout
    assert [version["version"] for version in versions_of(server, name)] == [registered]


def duplicate(server: Server, original: dict) -> None:
    """A new finished run with the original's tags (model_md5, model_uri) and another score."""
    tags = [tag for tag in original["data"]["tags"] if not tag["key"].startswith("mlflow.")]
    created = server.api.post(
        "/api/2.0/mlflow/runs/create",
        json={"experiment_id": original["info"]["experiment_id"], "start_time": int(time.time() * 1000), "tags": tags},
    )
    assert created.status_code == 200, created.text
    run_id = created.json()["run"]["info"]["run_id"]
    metric = {"run_id": run_id, "key": "accuracy", "value": 0.5, "timestamp": int(time.time() * 1000), "step": 0}
    assert server.api.post("/api/2.0/mlflow/runs/log-metric", json=metric).status_code == 200
    ended = {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)}
    assert server.api.post("/api/2.0/mlflow/runs/update", json=ended).status_code == 200


def test_the_report_reads_the_champion_from_the_server(project, server, registered):
    env = as_user(server, ADMIN)
    before, _ = mlops(project, "report", "--base", "HEAD", env=env)
    assert f"champion (none: no @champion in {server.url})" in before.stdout, before.stdout
    assert "Compared with git" not in before.stdout
    promoted, _ = mlops(project, "promote", env=env)
    assert f"version {registered} is @champion" in promoted.stdout
    after, _ = mlops(project, "report", "--base", "HEAD", env=env)
    assert f"champion (registry v{registered})" in after.stdout, after.stdout
    mlops(project, "gate", "--base", "HEAD", env=env)


@pytest.mark.parametrize("command", ["report", "gate", "register", "build", "promote", "status"])
def test_a_server_that_is_down_fails_every_command_fast(project, pipeline, command):
    port = free_port()  # nothing listens there
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "MLFLOW_TRACKING_USERNAME": "ci"}
    out, seconds = mlops(project, command, env={**env, "MLFLOW_TRACKING_PASSWORD": WRONG}, ok=None)
    one_error_line(out, f"http://127.0.0.1:{port}: cannot connect (connection refused")
    assert seconds < FAIL_WITHIN, f"`mlops {command}` took {seconds:.1f} s to fail"
    assert not (project.path / "mlflow.db").exists()


def test_a_server_that_hangs_fails_within_the_bound(project, pipeline):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        out, seconds = mlops(project, "register", env={"MLFLOW_TRACKING_URI": uri}, ok=None)
    one_error_line(out, f"{uri}: no answer within MLFLOW_HTTP_REQUEST_TIMEOUT=5 s (3 attempts)")
    # The same command against a closed port, in the same run, is the baseline: start-up, imports and
    # the retries' backoff, which a loaded machine stretches. The silence may add only the 3 timeouts.
    refused = f"http://127.0.0.1:{free_port()}"
    out, baseline = mlops(project, "register", env={"MLFLOW_TRACKING_URI": refused}, ok=None)
    one_error_line(out, f"{refused}: cannot connect (connection refused")
    waited = seconds - baseline
    assert waited < HUNG_WITHIN, f"a silent server kept `mlops register` {waited:.1f} s longer than a closed port"


@pytest.mark.parametrize(
    ("user", "command", "expected"),
    [
        (None, "register", "the server refused the credentials (HTTP 401): no credentials"),
        ((ADMIN[0], WRONG), "report", "the server refused the credentials (HTTP 401): user 'admin'"),
        ((ADMIN[0], WRONG), "gate", "the server refused the credentials (HTTP 401): user 'admin'"),
        (READER, "register", "permission denied (HTTP 403) for user 'reader'"),
    ],
    ids=["no-credentials", "wrong-password-report", "wrong-password-gate", "read-only-user"],
)
def test_a_server_that_refuses_fails_in_one_line(project, server, registered, user, command, expected):
    out, seconds = mlops(project, command, env=as_user(server, user), ok=None)
    one_error_line(out, f"MLflow registry {server.url}: {expected}")
    assert seconds < FAIL_WITHIN, f"`mlops {command}` took {seconds:.1f} s"
    assert [version["version"] for version in versions_of(server, model_name(project))] == [registered]
