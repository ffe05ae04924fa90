"""A user's own table, end to end by editing mlops.yaml alone (issue: own data).

Two tables that are not the bundled example, each in a copy of the shared bentos' project (its
.venv linked: no setup), with a BentoML store and a request log of its own:
- a multiclass table in CSV: string target, string and integer-coded categoricals (with gaps, so
  pandas reads 2019.0), a boolean, an integer and a numeric column with missing values;
- a regression table in Parquet with a boolean and an integer column.
Each goes through `dvc repro`, `mlops track`, `register`, `promote`, `build`, that bento served
with real typed requests (and a few the contract refuses), `mlops predict` of the champion, and
`mlops drift` on the captured requests. ~1.5 min a table once the shared bentos exist.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from bentos import Bentos, project_copy, shared_bentos
from helpers import free_port, run, serving

pytestmark = pytest.mark.slow

ROWS = 400
SENT = 60  # requests of one row each: over monitoring.min_rows


def multiclass() -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(3)
    species = rng.choice(["cat", "dog", "owl"], ROWS)
    size = pd.Series(species).map({"cat": 1.0, "dog": 2.0, "owl": 3.0}).to_numpy() + rng.normal(0, 0.25, ROWS)
    table = pd.DataFrame(
        {
            "size": size.clip(0).round(3),
            "legs": np.where(species == "owl", 2, 4) + rng.integers(0, 2, ROWS),
            "year": rng.choice([2019, 2020, 2021], ROWS).astype(float),
            "colour": rng.choice(["red", "green", "grey", None], ROWS),
            "wild": species == "owl",
            "species": species,
        }
    )
    table.loc[::17, "size"] = np.nan
    table.loc[::13, "year"] = np.nan  # an integer code with gaps: read back as 2019.0
    columns = {
        "size": {"type": "numeric", "min": 0, "max_missing_share": 0.1},
        "legs": {"type": "integer", "min": 0, "max": 8},
        "year": {"type": "categorical", "values": [2019, 2020, 2021], "max_missing_share": 0.1},
        "colour": {"type": "categorical", "max_missing_share": 0.4},
        "wild": {"type": "boolean"},
    }
    data = {"source": "data/own.csv", "target": {"column": "species", "task": "classification"}, "columns": columns}
    return table, {
        "data": data,
        "training": {"params": {"C": 1.0, "max_iter": 1000}, "metric": "accuracy", "min_metric": 0.8},
    }


def regression() -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(4)
    area = rng.uniform(20, 200, ROWS)
    rooms = rng.integers(1, 7, ROWS)
    garden = rng.choice([True, False], ROWS)
    table = pd.DataFrame({"area": area, "rooms": rooms, "garden": garden})
    table["price"] = 3 * area + 10 * rooms + 40 * garden + rng.normal(0, 5, ROWS)
    table.loc[::11, "area"] = np.nan
    columns = {
        "area": {"type": "numeric", "min": 0, "max_missing_share": 0.1},
        "rooms": {"type": "integer", "min": 1, "max": 10},
        "garden": {"type": "boolean"},
    }
    data = {"source": "data/own.parquet", "target": {"column": "price", "task": "regression"}, "columns": columns}
    return table, {"data": data, "training": {"params": {"alpha": 1.0}, "metric": "rmse", "min_metric": 50.0}}


TABLES = {"multiclass-csv": multiclass, "regression-parquet": regression}


@pytest.fixture(scope="module")
def shared(tmp_path_factory, worker_id) -> Bentos:
    return shared_bentos(tmp_path_factory, worker_id)


def own_project(shared: Bentos, base: Path, table: pd.DataFrame, changes: dict) -> Bentos:
    """The shared project with the table as data.source and mlops.yaml edited as a user would."""
    copy = project_copy(shared, base)
    project = copy.project
    source = project / changes["data"]["source"]
    (table.to_parquet if source.suffix == ".parquet" else table.to_csv)(source, index=False)
    path = project / "mlops.yaml"
    config = yaml.safe_load(path.read_text())
    config["data"].update(changes["data"])
    config["training"].update(changes["training"])
    config["monitoring"]["capture"] = {"sink": str(base / "sink"), "flush_seconds": 1}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return replace(copy, env={**copy.env, "BENTOML_HOME": str(base / "bentoml")})


def mlops(project: Bentos, *args: str, ok=(0,)) -> subprocess.CompletedProcess:
    return run(["mlops", *args], project.project, env=project.env, ok=ok, timeout=600)


def client_rows(table: pd.DataFrame, columns: dict) -> list[dict]:
    """Rows as a client's JSON: integers as integers, booleans as booleans, gaps as null."""
    kinds = {"numeric": float, "integer": int, "boolean": bool, "categorical": None}
    rows = []
    for record in table[list(columns)].to_dict(orient="records"):
        row = {}
        for name, value in record.items():
            cast = kinds[columns[name]["type"]] or (int if "values" in columns[name] else str)
            row[name] = None if pd.isna(value) else cast(value)
        rows.append(row)
    return rows


@pytest.mark.parametrize("name", list(TABLES))
def test_an_own_table_trains_serves_predicts_and_is_checked_for_drift(shared, tmp_path, name):
    table, changes = TABLES[name]()
    project = own_project(shared, tmp_path, table, changes)
    columns = changes["data"]["columns"]
    mlops(project, "config", "check")
    run(["dvc", "repro"], project.project, env=project.env, timeout=600)
    mlops(project, "track")
    mlops(project, "register")
    mlops(project, "promote")
    built = re.search(r"built bento (\S+)", mlops(project, "build", "--alias", "champion").stdout)
    assert built, "no bento tag in `mlops build`'s output"

    rows = client_rows(table, columns)
    port = free_port()
    cmd = ["mlops", "serve", "--bento", built[1], "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, project.project, project.env, tmp_path / "serve.log", port) as url, httpx.Client() as http:
        served = [http.post(f"{url}/predict", json={"rows": [row]}, timeout=30) for row in rows[:SENT]]
        assert [answer.status_code for answer in served] == [200] * SENT, served[0].text
        numeric = next(n for n, c in columns.items() if c["type"] == "numeric")
        for bad in ({numeric: True}, {numeric: "1.5"}, {numeric: -1.0}):
            answer = http.post(f"{url}/predict", json={"rows": [{**rows[0], **bad}]}, timeout=30)
            assert answer.status_code == 400 and numeric in answer.text, (bad, answer.status_code, answer.text)
        time.sleep(2)  # the request log's flush_seconds is 1
    predictions = [answer.json()["predictions"][0] for answer in served]

    output = tmp_path / "predictions.parquet"
    mlops(project, "predict", changes["data"]["source"], "--output", str(output))
    batch = pd.read_parquet(output)
    assert len(batch) == ROWS and list(batch.columns[: len(table.columns)]) == list(table.columns)
    assert batch["prediction"].head(SENT).tolist() == pytest.approx(predictions)

    until = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=1)
    out = mlops(project, "drift", "--no-record", "--until", until.isoformat()).stdout
    assert f"### Window: {SENT} captured rows" in out and "- violation:" not in out and "no retraining" in out, out
    assert (tmp_path / "sink" / "checks").exists() is False  # --no-record
