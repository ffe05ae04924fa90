"""The request log's writer (ops/monitoring/capture.py): files in the sink, rotated by rows and by
time, sampled per request, written whole, and never an error for the request that is recorded."""

import logging
import random
import re
import threading
import time
from datetime import UTC, datetime

import fsspec
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.ops.config import CAPTURE_COLUMNS, Config
from {{ cookiecutter.package_name }}.ops.monitoring.capture import CaptureWriter, capture_writer
from {{ cookiecutter.package_name }}.ops.monitoring.headers import request_id
from {{ cookiecutter.package_name }}.ops.serving.schema import row_model

NAME = re.compile(r"^\d{8}T\d{12}Z-\d+-[0-9a-f]{8}\.parquet$")


@pytest.fixture
def make(raw_config, tmp_path):
    """A config with these capture settings (sink: a fresh folder) and writers closed at the end."""
    writers = []

    def made(config: Config | None = None, rng=None, sink=None, queue_size=100, **capture) -> CaptureWriter:
        if config is None:
            raw_config["monitoring"]["capture"] = {"sink": str(tmp_path / "sink"), "flush_seconds": 60, **capture}
            config = Config.model_validate(raw_config)
        writers.append(CaptureWriter(config, "7", rng=rng, sink=sink, queue_size=queue_size))
        return writers[-1]

    yield made
    for writer in writers:
        writer.close(timeout=5)


def rows(config: Config, count: int, start: float = 0.0) -> list:
    Row = row_model(config)
    return [Row(**{name: start + i + n / 100 for n, name in enumerate(config.data.columns)}) for i in range(count)]


def files(root) -> list:
    return sorted(root.glob("requests/date=*/*.parquet"))


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_rows_are_written_with_their_features_ids_version_and_predictions(make, tmp_path):
    writer = make()
    sent = rows(writer.config, 2, start=1.0)
    before = datetime.now(UTC)
    assert writer.record("abc", sent, [0, 1])
    writer.close()
    (path,) = files(tmp_path / "sink")
    assert NAME.match(path.name) and path.parent.name == f"date={datetime.now(UTC):%Y-%m-%d}"
    table = pq.read_table(path)
    assert table.column_names == [*writer.config.data.columns, *CAPTURE_COLUMNS]
    frame = table.to_pandas()
    assert frame["request_id"].tolist() == ["abc", "abc"] and frame["row"].tolist() == [0, 1]
    assert frame["model_version"].tolist() == ["7", "7"] and frame["prediction"].tolist() == [0, 1]
    assert frame["mean_radius"].tolist() == [1.0, 2.0] and frame["mean_texture"].tolist() == [1.01, 2.01]
    assert str(frame["captured_at"].dt.tz) == "UTC"
    assert (frame["captured_at"] >= before).all() and (frame["captured_at"] <= datetime.now(UTC)).all()


def test_files_rotate_at_max_rows_and_the_rest_is_flushed_on_close(make, tmp_path):
    writer = make(max_rows_per_file=3)
    for n in range(4):
        writer.record(f"r{n}", rows(writer.config, 2), [0, 1])
    wait_for(lambda: len(files(tmp_path / "sink")) == 2)  # 8 rows: two full files, 2 rows buffered
    writer.close()
    sizes = sorted(pq.read_metadata(path).num_rows for path in files(tmp_path / "sink"))
    assert sizes == [2, 3, 3] and (writer.written, writer.files) == (8, 3)


def test_a_file_is_written_every_flush_seconds_while_rows_arrive(make, tmp_path):
    writer = make(flush_seconds=0.3)
    started = time.monotonic()
    writer.record("first", rows(writer.config, 1), [1])
    wait_for(lambda: len(files(tmp_path / "sink")) == 1)
    assert time.monotonic() - started >= 0.3  # not before flush_seconds: rows are batched
    writer.record("second", rows(writer.config, 1), [0])
    wait_for(lambda: len(files(tmp_path / "sink")) == 2)  # without close: time alone rotates
    assert writer.written == 2


def test_a_request_is_sampled_whole_or_not_at_all(make, tmp_path):
    writer = make(sample=0.5, rng=random.Random(3))
    expected = random.Random(3)
    kept = [writer.record(f"r{n}", rows(writer.config, 3), [0, 1, 0]) for n in range(200)]
    assert kept == [expected.random() < 0.5 for _ in range(200)] and 60 < sum(kept) < 140
    writer.close()
    frame = pq.read_table(tmp_path / "sink" / "requests").to_pandas()
    ids = [f"r{n}" for n, k in enumerate(kept) if k]
    assert sorted(set(frame["request_id"])) == sorted(ids) and len(frame) == 3 * len(ids)


def test_capture_is_off_at_sample_zero_or_when_the_environment_says_so(raw_config, tmp_path, monkeypatch):
    raw_config["monitoring"]["capture"] = {"sample": 0}
    assert capture_writer(Config.model_validate(raw_config), "1") is None
    raw_config["monitoring"]["capture"] = {"sink": str(tmp_path)}
    config = Config.model_validate(raw_config)
    monkeypatch.setenv("MLOPS_CAPTURE_SAMPLE", "0")  # what `mlops smoke` sets
    assert capture_writer(config, "1") is None
    monkeypatch.setenv("MLOPS_CAPTURE_SAMPLE", "0.25")
    writer = capture_writer(config, "1")
    writer.close()
    assert writer.sample == 0.25 and writer.flush_seconds == config.monitoring.capture.flush_seconds


def test_a_failing_sink_logs_a_warning_and_never_raises(make, tmp_path, caplog):
    (tmp_path / "sink").write_text("a file where the sink's folder should be")
    writer = make(max_rows_per_file=1)
    with caplog.at_level(logging.WARNING):
        assert writer.record("r", rows(writer.config, 2), [0, 1])
        writer.close()
    assert (writer.written, writer.failed) == (0, 2)
    assert "capture: 1 rows not written to" in caplog.text


def test_a_full_queue_drops_the_request_without_waiting(make):
    release = threading.Event()

    class StuckSink:  # a sink that hangs: the writer thread is busy, the queue fills
        def write(self, *args):
            release.wait(10)

    writer = make(sink=StuckSink(), queue_size=2, max_rows_per_file=1)
    writer.record("first", rows(writer.config, 1), [0])  # the writer takes it and hangs in write
    wait_for(lambda: writer._queue.empty())
    started = time.monotonic()
    kept = [writer.record(f"r{n}", rows(writer.config, 1), [0]) for n in range(5)]
    assert time.monotonic() - started < 0.5 and kept == [True, True, False, False, False] and writer.dropped == 3
    release.set()


def test_files_are_whole_no_temporary_file_is_left(make, tmp_path):
    writer = make(max_rows_per_file=5)
    for n in range(20):
        writer.record(f"r{n}", rows(writer.config, 1), [n % 2])
    writer.close()
    everything = [path for path in (tmp_path / "sink").rglob("*") if path.is_file()]
    assert len(everything) == 4 and all(NAME.match(path.name) for path in everything)
    assert sum(pq.read_metadata(path).num_rows for path in everything) == 20


def test_a_bucket_uri_gets_one_object_per_file(raw_config):
    raw_config["monitoring"]["capture"] = {"sink": "memory://capture-test/log", "max_rows_per_file": 2}
    config = Config.model_validate(raw_config)
    writer = CaptureWriter(config, "2")
    writer.record("r", rows(config, 3), [0, 1, 1])
    writer.close()
    fs = fsspec.filesystem("memory")
    found = sorted(fs.glob("/capture-test/log/requests/date=*/*.parquet"))
    assert [pq.read_metadata(fs.open(path)).num_rows for path in found] in ([2, 1], [1, 2])
    fs.rm("/capture-test", recursive=True)


def test_declared_types_for_categorical_features_and_a_regression_target(mixed_config, tmp_path):
    raw = mixed_config.model_dump()
    raw["monitoring"]["capture"] = {"sink": str(tmp_path / "sink")}
    config = Config.model_validate(raw)
    writer = CaptureWriter(config, "1")
    Row = row_model(config)
    writer.record("r", [Row(area=50.0, rooms=None, city="rome", heating=None)], [123.5])
    writer.close()
    table = pq.read_table(files(tmp_path / "sink")[0])
    types = {field.name: str(field.type) for field in table.schema}
    assert types["city"] == types["heating"] == "string" and types["prediction"] == "double"
    assert table.to_pylist()[0] | {"captured_at": None} == {
        "area": 50.0,
        "rooms": None,
        "city": "rome",
        "heating": None,
        "request_id": "r",
        "row": 0,
        "captured_at": None,
        "model_version": "1",
        "prediction": 123.5,
    }


def test_the_request_id_is_the_clients_else_a_new_one():
    assert request_id({"X-Request-ID": "client-42"}) == "client-42"
    new = request_id({})
    assert re.fullmatch(r"[0-9a-f]{32}", new) and new != request_id({})


def test_the_controllers_own_requests_are_told_apart_also_through_sagemaker():
    from {{ cookiecutter.package_name }}.ops.monitoring.headers import SAGEMAKER_ATTRIBUTES, SYNTHETIC_HEADER, synthetic

    assert synthetic({SYNTHETIC_HEADER: "replay"})
    assert synthetic({SAGEMAKER_ATTRIBUTES: f"{SYNTHETIC_HEADER}=replay"})  # all SageMaker passes on
    assert not synthetic({}) and not synthetic({SAGEMAKER_ATTRIBUTES: "trace=abc"})
