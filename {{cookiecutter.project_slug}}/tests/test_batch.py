"""Batch prediction (ops/serving/batch.py, `mlops predict`): chunked streaming with the predictions of a
whole-frame predict, CSV and Parquet both ways, fsspec URIs, one-line errors that leave no output,
and the model from the registry."""

import socket
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.ops.cli import app
from {{ cookiecutter.package_name }}.ops.config import CONFIG_FILE
from {{ cookiecutter.package_name }}.ops.pipeline.data import DataError, features, read_table
from {{ cookiecutter.package_name }}.ops.pipeline.training import build, save
from {{ cookiecutter.package_name }}.ops.serving.batch import opened, predict

CONFIG = CONFIG_FILE.absolute()
MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No registry or workflow settings of the machine running the tests; state under tmp_path."""
    for name in (*MLFLOW_ENV, "GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_STATE_ROOT", str(tmp_path))


@pytest.fixture(scope="module")
def rows(config_module) -> pd.DataFrame:
    return read_table(config_module.data.source)


@pytest.fixture(scope="module")
def config_module():
    from {{ cookiecutter.package_name }}.ops.config import load_config

    return load_config(CONFIG)


@pytest.fixture(scope="module")
def model(config_module, rows):
    return build(config_module).fit(features(config_module, rows), rows[config_module.data.target.column])


def write(frame: pd.DataFrame, location: str) -> str:
    with fsspec.open(location, "wb") as handle:
        (frame.to_parquet if location.endswith((".parquet", ".pq")) else frame.to_csv)(handle, index=False)
    return location


def read(location: str) -> pd.DataFrame:
    with fsspec.open(location, "rb") as handle:
        return pd.read_parquet(handle) if location.endswith((".parquet", ".pq")) else pd.read_csv(handle)


def mlops(*args: str):
    return CliRunner().invoke(app, [*args, "--config", str(CONFIG)])


@pytest.mark.parametrize(("into", "out"), [("csv", "csv"), ("csv", "parquet"), ("parquet", "csv"), ("parquet", "pq")])
def test_chunks_stream_through_with_the_predictions_of_a_whole_frame(config_module, rows, model, tmp_path, into, out):
    source = write(rows, str(tmp_path / f"in.{into}"))
    target = str(tmp_path / "out" / f"predictions.{out}")
    chunks = []
    with opened(config_module, source, chunk_rows=50) as stream:
        written = predict(config_module, model, stream, target, chunks.append)
    assert written == len(rows) == sum(chunks)
    assert len(chunks) == -(-len(rows) // 50) and max(chunks) == 50  # 569 rows: 12 chunks of at most 50
    result = read(target)
    assert list(result.columns) == [*rows.columns, "prediction"]
    pd.testing.assert_frame_equal(result[rows.columns], rows, check_dtype=False)
    whole = model.predict(features(config_module, read_table(source)))
    assert (result["prediction"].to_numpy() == whole).all()
    assert [path.name for path in (tmp_path / "out").iterdir()] == [f"predictions.{out}"]  # no temporary left


def test_a_users_own_columns_stream_with_gaps_and_categories(mixed_config, mixed_frame, tmp_path):
    model = build(mixed_config).fit(features(mixed_config, mixed_frame), mixed_frame["price"])
    source = write(mixed_frame, str(tmp_path / "rows.csv"))
    with opened(mixed_config, source, chunk_rows=7) as stream:
        assert stream.unit == "bytes" and stream.total == Path(source).stat().st_size  # CSV: bytes of the file
        predict(mixed_config, model, stream, str(tmp_path / "p.parquet"))
    result = read(str(tmp_path / "p.parquet"))
    assert result["prediction"].tolist() == pytest.approx(model.predict(features(mixed_config, read_table(source))))


def test_uris_are_read_and_written_through_fsspec(config_module, rows, model):
    fs = fsspec.filesystem("memory")
    try:
        source = write(rows, "memory://batch-test/in/rows.parquet")
        with opened(config_module, source, chunk_rows=100) as stream:
            assert (stream.total, stream.unit) == (len(rows), "rows")  # Parquet: rows from its metadata
            predict(config_module, model, stream, "memory://batch-test/out/predictions.csv")
        result = read("memory://batch-test/out/predictions.csv")
        assert (result["prediction"].to_numpy() == model.predict(features(config_module, rows))).all()
        assert fs.ls("/batch-test/out", detail=False) == ["/batch-test/out/predictions.csv"]
    finally:
        fs.rm("/batch-test", recursive=True)


def test_a_failure_half_way_leaves_the_previous_output_untouched(config_module, rows, model, tmp_path):
    source = write(rows, str(tmp_path / "rows.csv"))
    target = tmp_path / "predictions.parquet"
    target.write_bytes(b"yesterday's predictions")

    class Breaks:
        calls = 0

        def predict(self, frame):
            Breaks.calls += 1
            if Breaks.calls == 3:
                raise RuntimeError("out of memory")
            return model.predict(frame)

    with pytest.raises(RuntimeError), opened(config_module, source, chunk_rows=100) as stream:
        predict(config_module, Breaks(), stream, str(target))
    assert Breaks.calls == 3, "two chunks were written before the failure"
    assert target.read_bytes() == b"yesterday's predictions"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["predictions.parquet", "rows.csv"]


def test_a_missing_column_is_one_line_naming_file_and_column_and_nothing_is_written(config_module, rows, tmp_path):
    source = write(rows.drop(columns=["mean_texture"]), str(tmp_path / "rows.parquet"))
    with pytest.raises(DataError, match=r"rows\.parquet: lacks column 'mean_texture' declared in mlops\.yaml"):
        with opened(config_module, source):
            pass
    unfitted = save(build(config_module), tmp_path / "model.joblib")  # never reached
    result = mlops("predict", source, "--output", str(tmp_path / "out" / "p.csv"), "--model-file", str(unfitted))
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "'mean_texture'" in result.stderr and source in result.stderr
    assert result.stderr.startswith("error: ")
    assert not (tmp_path / "out").exists()


def test_an_output_of_another_kind_is_refused_before_the_model_loads(config_module, rows, tmp_path):
    source = write(rows, str(tmp_path / "rows.csv"))
    result = mlops("predict", source, "--output", str(tmp_path / "p.json"), "--model-file", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {tmp_path / 'p.json'}: expected an output file ending in .parquet, .pq, .csv"]


def test_a_log_gets_a_few_progress_lines_not_one_per_chunk(config_module, rows, model, tmp_path):
    source = write(rows, str(tmp_path / "rows.parquet"))
    target, saved = tmp_path / "p.parquet", save(model, tmp_path / "model.joblib")
    result = mlops("predict", source, "--output", str(target), "--model-file", str(saved), "--chunk-rows", "5")
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("predicted ")]
    assert 1 <= len(progress) <= 10, progress  # 114 chunks
    assert progress[-1].startswith(f"predicted {len(rows):,} rows (100%")
    assert f"wrote {len(rows)} predictions" in result.stdout and len(read(str(target))) == len(rows)


def errors(result) -> list[str]:
    """The command's error lines (MLflow's own INFO log lines aside)."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_missing_alias_or_an_unreachable_registry_is_one_line(config_module, rows, tmp_path, monkeypatch):
    source = write(rows, str(tmp_path / "rows.csv"))
    missing = mlops("predict", source, "--output", str(tmp_path / "p.csv"), "--alias", "nightly")
    assert missing.exit_code == 2
    name = config_module.project.model_name
    assert errors(missing) == [
        f"error: model {name!r} has no 'nightly' version in sqlite:///{tmp_path}/mlflow.db: run `mlops register`"
    ]

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = mlops("predict", source, "--output", str(tmp_path / "p.csv"))
    assert down.exit_code == 2 and "Traceback" not in down.output
    assert len(errors(down)) == 1 and "connection refused" in errors(down)[0], down.stderr
    assert not (tmp_path / "p.csv").exists()


@pytest.fixture
def workspace(config, tmp_path, monkeypatch) -> Path:
    """The project's data in a temporary directory, trained and evaluated there (the working directory)."""
    from {{ cookiecutter.package_name }}.ops.pipeline.data import TEST, prepare
    from {{ cookiecutter.package_name }}.ops.pipeline.evaluate import compute
    from {{ cookiecutter.package_name }}.ops.pipeline.evaluate import write as write_metrics
    from {{ cookiecutter.package_name }}.ops.pipeline.training import fit, load

    (tmp_path / "data").mkdir()
    (tmp_path / config.data.source).write_bytes(Path(config.data.source).read_bytes())
    monkeypatch.chdir(tmp_path)
    prepare(config)
    save(fit(config))
    test = read_table(TEST)
    write_metrics(compute(config, load(), features(config, test), test[config.data.target.column]))
    return tmp_path


def test_the_champion_is_loaded_from_the_registry_by_default(config, workspace):
    from {{ cookiecutter.package_name }}.ops.pipeline.training import load
    from {{ cookiecutter.package_name }}.ops.registry.versions import promote, register, track

    track(config)  # the run register needs
    version = register(config)
    # Day one: registered (the challenger), never deployed: the error says how a champion is made.
    first = mlops("predict", config.data.source, "--output", "p.parquet")
    assert first.exit_code == 2 and not Path("p.parquet").exists()
    assert "has no 'champion' version" in errors(first)[0], first.output
    assert "`mlops promote` makes the challenger the champion (`make deploy` does)" in errors(first)[0]
    promote(config, version.version)
    result = mlops("predict", config.data.source, "--output", "p.parquet")
    assert result.exit_code == 0, result.output
    assert f"of {config.project.model_name} version {version.version} to p.parquet" in result.stdout
    rows = read_table(config.data.source)
    assert (read("p.parquet")["prediction"].to_numpy() == load().predict(features(config, rows))).all()
