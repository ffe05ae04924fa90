"""Request capture: the service's sampled requests, one row per served row, as Parquet in the sink.

    <sink>/requests/date=YYYY-MM-DD/<YYYYmmddTHHMMSSffffffZ>-<pid>-<8 hex>.parquet

Columns: the features of mlops.yaml `data.columns` (in that order, typed from the declaration), then
request_id, row (index in its request), captured_at (UTC), model_version (registry version) and
prediction. A file's date and name are the UTC time it was written: every row in it was captured at
or before that time, at most ~flush_seconds earlier (more only when the writer falls behind). Files
are written whole (sink.py: a hidden temporary file renamed, or one object PUT).

The request path only samples (per request: all its rows or none) and enqueues, without blocking;
when the bounded queue is full the request is dropped and counted. One background thread per server
process drains the queue every DRAIN_SECONDS and writes files: one as soon as `max_rows_per_file` rows
are buffered, and one at least every `flush_seconds` while rows arrive; the service's shutdown hook
writes the rest. A write that fails (sink unreachable, a package missing) logs a warning and drops
its rows: capture never fails or slows a request. MLOPS_CAPTURE_SAMPLE overrides `sample` for one
server (`mlops smoke` sets 0).

Why not `bentoml.monitor` (still current in BentoML 1.4): it writes JSON lines through `logging`
handlers, synchronously in the request, to local files that stay open and are appended to (a reader
may see half a line, rotation is daily), with no object-store sink; CT needs typed, whole files that
a fresh runner can read from the target's bucket.
"""

from __future__ import annotations

import io
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..config import CAPTURE_COLUMNS, Capture, Config
from .headers import SAMPLE_ENV
from .sink import Sink

log = logging.getLogger(__name__)

# Queued requests per server process: enough to ride out a slow PUT at a few hundred requests/s,
# small enough to bound memory (each holds at most serving.max_batch_size rows).
QUEUE_SIZE = 10_000
# fsspec protocol -> the package behind it (each in the matching target's extra of pyproject.toml).
SINK_PACKAGES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs"}
# The writer wakes this often and takes the whole queue at once: one wake-up per request would contend
# for the GIL with the request threads (the queue holds QUEUE_SIZE, far more than DRAIN_SECONDS bring).
DRAIN_SECONDS = 0.1


# A feature's Arrow type by its kind of value (Column.kind()): what the request schema let through.
_ARROW = {"numeric": pa.float64(), "integer": pa.int64(), "boolean": pa.bool_(), "string": pa.string()}


def _declared(values: Sequence[Any] | None) -> pa.DataType | None:
    """The Arrow type of declared values (None: not declared, inferred from the data)."""
    if values is None:
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return pa.float64()
    return pa.string()


def schema(config: Config) -> dict[str, pa.DataType | None]:
    """Column -> Arrow type; fixed by mlops.yaml, so the files of every process concatenate."""
    features = {name: _ARROW[col.kind()] for name, col in config.data.columns.items()}
    target = config.data.target
    prediction = pa.float64() if target.task == "regression" else _declared(target.values)
    own = [pa.string(), pa.int32(), pa.timestamp("us", tz="UTC"), pa.string(), prediction]
    return features | dict(zip(CAPTURE_COLUMNS, own, strict=True))


def _array(values: list, kind: pa.DataType | None) -> pa.Array:
    if kind == pa.string():  # declared values of mixed types (["a", 1]): all kept as text
        values = [None if value is None else str(value) for value in values]
    return pa.array(values, type=kind)


class CaptureWriter:
    """Sampled served rows -> Parquet files in the sink, written by one background thread."""

    def __init__(
        self,
        config: Config,
        model_version: str,
        *,
        queue_size: int = QUEUE_SIZE,
        rng: random.Random | None = None,
        sink: Sink | None = None,
    ) -> None:
        settings = config.monitoring.capture
        self.config, self.model_version, self.sample = config, model_version, settings.sample
        self.flush_seconds, self.max_rows = settings.flush_seconds, settings.max_rows_per_file
        self.types = schema(config)
        self.features = list(config.data.columns)
        self.dropped = 0  # requests that found the queue full
        self.written = self.files = self.failed = 0  # rows written, files, rows lost to failed writes
        self._sink = sink
        self._rng = rng or random.Random()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._columns: dict[str, list] = {name: [] for name in self.types}
        self._oldest: float | None = None  # monotonic time the oldest buffered row arrived
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ request threads

    def record(self, request: str, rows: Sequence[Any], predictions: Sequence[Any]) -> bool:
        """Enqueue one answered request (rows: objects with the feature attributes); never blocks.
        False when the request is not sampled or is dropped."""
        if self.sample < 1 and self._rng.random() >= self.sample:
            return False
        try:
            self._queue.put_nowait((request, datetime.now(UTC), rows, predictions))
        except queue.Full:
            with self._lock:
                self.dropped += 1
            return False
        return True

    def close(self, timeout: float = 30) -> None:
        """Write what is buffered and stop the thread (the service's shutdown hook)."""
        if not self._thread.is_alive():
            return
        self._closing.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("capture: the writer did not finish within %.0f s; its unwritten rows are lost", timeout)
            return
        log.info(
            "capture: %d rows in %d files to %s (%d rows failed, %d requests dropped)",
            self.written,
            self.files,
            self.config.monitoring.capture.sink,
            self.failed,
            self.dropped,
        )

    # ------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        while not self._closing.wait(self._pause()):
            self._drain()
            if self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds:
                self._write(self._buffered())
        self._drain()
        while self._buffered():
            self._write(min(self._buffered(), self.max_rows))

    def _pause(self) -> float:
        """Until the next drain: DRAIN_SECONDS, or sooner when the buffer is due."""
        if self._oldest is None:
            return DRAIN_SECONDS
        return max(0.0, min(DRAIN_SECONDS, self._oldest + self.flush_seconds - time.monotonic()))

    def _drain(self) -> None:
        """Everything queued into the buffer, a file written whenever max_rows_per_file are buffered."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            try:
                self._add(*item)
            except Exception as exc:  # the thread must outlive any one bad request
                log.warning("capture: a request was not recorded: %s", exc)
            while self._buffered() >= self.max_rows:
                self._write(self.max_rows)

    def _add(self, request: str, at: datetime, rows: Sequence[Any], predictions: Sequence[Any]) -> None:
        """Append one request's rows (built aside first: a bad request cannot misalign the columns)."""
        added: dict[str, list] = {name: [] for name in self._columns}
        for index, (row, prediction) in enumerate(zip(rows, predictions, strict=True)):
            for name in self.features:
                added[name].append(getattr(row, name))
            for name, value in zip(CAPTURE_COLUMNS, (request, index, at, self.model_version, prediction), strict=True):
                added[name].append(value)
        for name, values in added.items():
            self._columns[name].extend(values)
        if self._oldest is None and rows:
            self._oldest = time.monotonic()

    def _buffered(self) -> int:
        return len(self._columns["row"])

    def _write(self, count: int) -> None:
        """The first `count` buffered rows as one file; on failure they are dropped, with a warning."""
        taken = {name: values[:count] for name, values in self._columns.items()}
        for values in self._columns.values():
            del values[:count]
        self._oldest = time.monotonic() if self._buffered() else None
        try:
            self._store(taken)
        except Exception as exc:  # any sink or package problem: never let it reach the requests
            self.failed += count
            log.warning("capture: %d rows not written to %s: %s", count, self.config.monitoring.capture.sink, exc)
        else:
            self.written += count
            self.files += 1

    def _store(self, columns: dict[str, list]) -> None:
        table = pa.table({name: _array(values, self.types[name]) for name, values in columns.items()})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        if self._sink is None:  # first write: a bucket sink imports its filesystem package here
            self._sink = Sink(self.config)
        self._sink.write("requests", ".parquet", buffer.getvalue(), f"date={datetime.now(UTC):%Y-%m-%d}")


def capture_writer(config: Config, model_version: str) -> CaptureWriter | None:
    """The service's writer; None when capture is off (sample 0). MLOPS_CAPTURE_SAMPLE overrides the
    share for one server (`mlops smoke` sets 0: its test rows are no production traffic)."""
    if (share := os.environ.get(SAMPLE_ENV)) is not None:
        settings = Capture.model_validate(config.monitoring.capture.model_dump() | {"sample": share})
        config = config.model_copy(update={"monitoring": config.monitoring.model_copy(update={"capture": settings})})
    return CaptureWriter(config, model_version) if config.monitoring.capture.sample > 0 else None
