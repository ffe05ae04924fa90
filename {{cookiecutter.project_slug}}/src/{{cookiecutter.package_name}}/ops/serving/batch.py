"""Batch prediction that streams: a file of any size in bounded memory, written whole or not at all.

The input (CSV or Parquet, a path or an fsspec URI: s3://, gs://, az://, memory://) is read in chunks
with pyarrow; each chunk goes through data.features (the one entry to model input), is predicted,
and is appended with its `prediction` column to the output (CSV or Parquet, by suffix). The output
is written under a temporary name beside the target and moved there only once every row is in it.
On a bucket that is a temporary key then a server-side copy (fsspec `mv`): nothing is staged on the
runner's disk, the bytes leave it once, and a failure removes the temporary key. A reader of the
target sees the previous file or the complete new one, never half of one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, replace
from itertools import chain

import fsspec
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from ..config import Config
from ..pipeline.data import DataError, features

PREDICTION = "prediction"
# Memory grows with the rows of one predict call (the pipeline copies its input a few times: ~5 KB a
# row of 30 floats), time hardly shrinks above a few thousand (bench/batch.py).
CHUNK_ROWS = 10_000
CSV_BLOCK_BYTES = 1 << 20  # pyarrow parses a CSV this many bytes at a time (then sliced to chunks)
INPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv"}
OUTPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


@dataclass
class Source:
    """An input opened for streaming. `total` and `position()` count rows (Parquet, from its
    metadata) or bytes of the file (CSV), whichever `unit` says: what a progress bar shows."""

    location: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    total: int
    unit: str
    position: Callable[[], int]


def kind_of(location: str, what: str = "output") -> str:
    """parquet or csv, by the suffix of an input or output file; DataError naming the file otherwise."""
    suffixes = INPUTS if what == "input" else OUTPUTS
    if kind := next((kind for suffix, kind in suffixes.items() if location.endswith(suffix)), None):
        return kind
    raise DataError(f"{location}: expected an {what} file ending in {', '.join(suffixes)}")


@contextmanager
def opened(config: Config, location: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[Source]:
    """The input's chunks of at most `chunk_rows` rows; DataError (one line naming the file) when it
    cannot be read or lacks a column declared in data.columns."""
    kind = kind_of(location, "input")
    with ExitStack() as stack:
        try:
            fs, path = fsspec.core.url_to_fs(location)
            raw = stack.enter_context(fs.open(path, "rb"))
            source = _parquet(location, raw, chunk_rows) if kind == "parquet" else _csv(config, location, fs, path, raw)
        except FileNotFoundError:
            raise DataError(f"{location}: file not found") from None
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{location}: cannot be read as a table: {_first_line(exc)}") from None
        _check_columns(config, source)
        yield replace(source, batches=_sliced(source.batches, chunk_rows, location))


def _parquet(location: str, raw, chunk_rows: int) -> Source:
    reader = pq.ParquetFile(raw)
    done = [0]

    def batches():
        for batch in reader.iter_batches(batch_size=chunk_rows):
            done[0] += batch.num_rows
            yield batch

    return Source(location, reader.schema_arrow, batches(), reader.metadata.num_rows, "rows", lambda: done[0])


def _csv(config: Config, location: str, fs, path: str, raw) -> Source:
    stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip") if location.endswith(".gz") else raw
    # Types come from the first block and then hold for the file: a numeric column whose first rows
    # are whole numbers would fail on a later 1.5, so numeric columns are read as float64 (features()
    # makes them floats anyway). Empty fields are missing values, as pandas (read_table) reads them.
    numbers = {name: pa.float64() for name, col in config.data.columns.items() if col.type == "numeric"}
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(column_types=numbers, strings_can_be_null=True),
    )
    return Source(location, reader.schema, iter(reader), fs.size(path), "bytes", raw.tell)


def _check_columns(config: Config, source: Source) -> None:
    if missing := [name for name in config.data.columns if name not in source.schema.names]:
        raise DataError(f"{source.location}: lacks column {missing[0]!r} declared in mlops.yaml data.columns")


def _sliced(batches: Iterator[pa.RecordBatch], rows: int, location: str) -> Iterator[pa.RecordBatch]:
    """Batches of at most `rows` rows (zero-copy slices); a parse error of a later block as DataError."""
    try:
        for batch in batches:
            for start in range(0, batch.num_rows, rows):
                yield batch.slice(start, rows)
    except pa.ArrowException as exc:
        raise DataError(f"{location}: cannot be read as a table: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def predicted(config: Config, model, batch: pa.RecordBatch, location: str) -> pa.RecordBatch:
    """The chunk with the model's `prediction` column appended."""
    frame = features(config, batch.select(list(config.data.columns)).to_pandas(), location)
    return batch.append_column(PREDICTION, pa.array(model.predict(frame)))


def predict(
    config: Config, model, source: Source, output: str, on_chunk: Callable[[int], None] = lambda rows: None
) -> int:
    """Stream `source` through the model into `output`; the number of rows written."""
    kind, rows = kind_of(output), 0
    results = (predicted(config, model, batch, source.location) for batch in source.batches)
    first = next(results, None)  # the prediction's type, for the output's schema
    schema = source.schema.append(pa.field(PREDICTION, pa.null())) if first is None else first.schema
    # Chunk i is written (pyarrow, without the GIL) while chunk i+1 is predicted; one write in flight
    # keeps memory bounded. The pool is shut down (its write done) before the writer closes.
    with (
        staged(output) as handle,
        closing(_writer(kind, handle, schema)) as writer,
        ThreadPoolExecutor(1, thread_name_prefix="mlops-write") as pool,
    ):
        written = None
        for result in chain([] if first is None else [first], results):
            result = result if result.schema == schema else result.cast(schema)
            if written is not None:
                written.result()  # a failed write raises here
            written = pool.submit(writer.write_batch, result)
            rows += result.num_rows
            on_chunk(result.num_rows)
        if written is not None:
            written.result()
    return rows


def _writer(kind: str, handle, schema: pa.Schema):
    return pq.ParquetWriter(handle, schema) if kind == "parquet" else pacsv.CSVWriter(handle, schema)


@contextmanager
def staged(location: str):
    """A binary handle on a temporary file beside `location`, moved there when the block succeeds and
    removed when it fails."""
    fs, path = fsspec.core.url_to_fs(location)
    parent, _, name = path.rpartition("/")
    tmp = f"{parent}/.{name}.{secrets.token_hex(4)}.tmp"
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(parent, exist_ok=True)
    try:
        with fs.open(tmp, "wb") as handle:
            yield handle
        fs.mv(tmp, path)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


def registry_model(config: Config, alias: str | None = None, number: str | None = None):
    """The registry version `number`, or else the one `alias` (default: the champion) names, and its
    scikit-learn model loaded through MLflow; RegistryError/MlopsError (one line) when there is none."""
    import mlflow

    from ..registry.tracking import connect, reaching, tracking_uri
    from ..registry.versions import registry_version  # as the served model is resolved (ops/serving/bento.py)

    version = registry_version(config, alias or config.registry.champion_alias, number)
    connect(config)
    with reaching(tracking_uri(config)):  # the download: the server may refuse or drop out here too
        return version, mlflow.sklearn.load_model(f"models:/{config.project.model_name}/{version.version}")
