"""Request capture with real served requests, and the served model resolved from the registry.

A copy of the shared bentos' project (tests/bentos.py) with a BentoML store of its own: `mlops build`
there, then another model imported into the store afterwards (what `<name>:latest` would pick). The
bento is served from an empty directory, clients send requests (some with their own X-Request-ID),
the server is stopped, and the Parquet files in the sink are read back and compared with what the
clients sent and got. Then `mlops serve` and `mlops smoke` (the project's code, the registry alias),
and a sink that cannot be written. ~1.5 min once the shared bentos exist.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from bentos import Bentos, project_copy, shared_bentos
from helpers import describe, free_port, run, serving

pytestmark = pytest.mark.slow

REQUESTS = 40
MAX_ROWS = 25  # monitoring.capture.max_rows_per_file here: the ~80 rows need several files


@pytest.fixture(scope="module")
def project(tmp_path_factory, worker_id) -> Bentos:
    """The shared project copied, with its own BentoML store and a sink in its scratch space."""
    base = tmp_path_factory.mktemp("capture")
    copy = project_copy(shared_bentos(tmp_path_factory, worker_id), base)
    configure(copy.project, sink=str(base / "sink"), flush_seconds=1, max_rows_per_file=MAX_ROWS)
    return replace(copy, env={**copy.env, "BENTOML_HOME": str(base / "bentoml")})


def configure(project: Path, **capture) -> None:
    path = project / "mlops.yaml"
    config = yaml.safe_load(path.read_text())
    config["monitoring"]["capture"] = capture
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def mlops(project: Bentos, *args: str, ok=(0,), timeout: float = 300) -> subprocess.CompletedProcess:
    return run(["mlops", *args], project.project, env=project.env, ok=ok, timeout=timeout)


@pytest.fixture(scope="module")
def built(project) -> dict[str, str]:
    """`mlops build` (the challenger), then another model imported into the store: the newest one."""
    out = mlops(project, "build").stdout
    found = re.search(r"built bento (\S+) with model (\S+)", out)
    assert found, out
    code = (
        "import bentoml, mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db');"
        f"model = bentoml.mlflow.import_model('cancer-classifier', 'models:/cancer-classifier/{project.version}',"
        " labels={'registry_version': '999'}); print(model.tag, bentoml.models.get('cancer-classifier:latest').tag)"
    )
    latest, newest = run(["python", "-c", code], project.project, env=project.env).stdout.split()[-2:]
    assert latest == newest != found[2]
    return {"bento": found[1], "model": found[2], "latest": latest}


@pytest.fixture(scope="module")
def rows(project) -> list[dict]:
    config = yaml.safe_load((project.project / "mlops.yaml").read_text())
    frame = pd.read_parquet(project.project / "data" / "prepared" / "test.parquet")
    return frame[list(config["data"]["columns"])].astype(float).to_dict(orient="records")


def send(url: str, rows: list[dict], requests: int) -> list[dict]:
    """`requests` POSTs of 1-3 rows; every other one with the client's own X-Request-ID."""
    picker, sent = random.Random(7), []
    with httpx.Client(timeout=30) as client:
        for n in range(requests):
            batch = picker.sample(rows, picker.randint(1, 3))
            headers = {"X-Request-ID": f"client-{n}"} if n % 2 == 0 else {}
            answer = client.post(f"{url}/predict", json={"rows": batch}, headers=headers)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert (
                answer.headers["X-Request-ID"] == body["request_id"] == headers.get("X-Request-ID", body["request_id"])
            )
            sent.append({"rows": batch, **body})
    return sent


def captured(sink: Path) -> pd.DataFrame:
    paths = sorted(sink.glob("requests/date=*/*.parquet"))
    for path in paths:
        assert re.fullmatch(r"\d{8}T\d{12}Z-\d+-[0-9a-f]{8}\.parquet", path.name), path
    assert not [path for path in sink.rglob("*") if path.is_file() and path.suffix != ".parquet"]
    return pd.concat([pd.read_parquet(path).assign(file=path.name) for path in paths], ignore_index=True)


def expected(sent: list[dict], version: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **row,
                "request_id": answer["request_id"],
                "row": index,
                "model_version": version,
                "prediction": prediction,
            }
            for answer in sent
            for index, (row, prediction) in enumerate(zip(answer["rows"], answer["predictions"], strict=True))
        ]
    )


def test_the_bento_captures_every_served_row_and_serves_the_aliased_model(project, built, rows, tmp_path):
    port = free_port()
    cmd = ["bentoml", "serve", built["bento"], "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, tmp_path, project.env, tmp_path / "serve.log", port) as url:
        sent = send(url, rows, REQUESTS)
    assert {answer["model"] for answer in sent} == {built["model"]}  # not the store's latest model

    frame = captured(Path(project.project.parent / "sink"))
    assert frame.groupby("file").size().max() <= MAX_ROWS and frame["file"].nunique() >= 3
    assert str(frame["captured_at"].dt.tz) == "UTC"
    want = expected(sent, project.version)
    got = frame[want.columns].sort_values(["request_id", "row"]).reset_index(drop=True)
    want = want.sort_values(["request_id", "row"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_mlops_serve_and_smoke_resolve_the_alias_not_the_latest_model(project, built, rows, tmp_path):
    sink = tmp_path / "sink"
    configure(project.project, sink=str(sink), flush_seconds=1)
    port = free_port()
    cmd = ["mlops", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, project.project, project.env, tmp_path / "mlops-serve.log", port) as url:
        (answer,) = send(url, rows, 1)
    assert answer["model"] == built["model"]
    assert captured(sink)["model_version"].tolist() == [project.version] * len(answer["rows"])

    shutil.rmtree(sink)
    smoked = mlops(project, "smoke", "--alias", "challenger").stdout
    found = re.search(r"answer: (\{.*\})", smoked)
    assert found and json.loads(found[1])["model"] == built["model"], smoked
    assert not sink.exists(), "smoke rows are no traffic: nothing is captured"
    missing = mlops(project, "serve", "--version", "999", ok=(2,))
    assert "has no version 999" in missing.stderr, describe("mlops serve", project.project, 2, missing.stdout, "")


def test_outside_a_bento_the_service_names_what_is_missing(project, tmp_path):
    port = str(free_port())
    cmd = ["bentoml", "serve", "service:Model", "--port", port]
    proc = run(cmd, project.project, env=project.env, ok=None, timeout=120)
    assert proc.returncode != 0 and "no registered model to serve" in proc.stdout + proc.stderr


def test_a_failing_sink_never_fails_a_request(project, built, rows, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("the sink's folder cannot be made here")
    configure(project.project, sink=str(blocked), flush_seconds=0.2)
    port, log = free_port(), tmp_path / "serve.log"
    cmd = ["mlops", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, project.project, project.env, log, port) as url:
        send(url, rows, 10)
    assert "capture:" in log.read_text() and "rows not written to" in log.read_text(), log.read_text()[-3000:]
