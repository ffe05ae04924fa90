"""`mlops` commands: Batch prediction (ops/batch.py), by hand or on the schedule of batch.yml."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from ..config import CONFIG_FILE, Config
from .common import ConfigOption, app, config_at, err, fail, set_output, step, summary

LOG_STEPS = 10  # in a log, one progress line per tenth of the input


@app.command()
def predict(
    input: Annotated[
        str | None, typer.Argument(help="CSV or Parquet, a path or URI (default: batch.input, else data.source)")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Where to write, .csv or .parquet, a path or URI (default: batch.output)")
    ] = None,
    alias: Annotated[
        str | None, typer.Option(help="Registry alias of the model (default: batch.alias, else the champion)")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", help="Registry version (instead of the alias)")] = None,
    model_file: Annotated[
        Path | None, typer.Option(help="A local joblib model (e.g. models/model.joblib) instead of the registry's")
    ] = None,
    chunk_rows: Annotated[
        int | None, typer.Option(min=1, help="Rows predicted at a time: memory is bounded by it (default: 10,000)")
    ] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Batch predictions on a CSV or Parquet file, streamed in chunks (bounded memory).

    The output is the input's columns and `prediction`, written under a temporary name and moved
    into place only when complete. The model: the registry's champion unless told otherwise."""
    cfg = config_at(config)
    if model_file and (alias or version):
        fail("--model-file is the model to use: drop --alias/--version")
    source, target = input or cfg.batch.input or cfg.data.source, output or cfg.batch.output
    from ..batch import CHUNK_ROWS, kind_of, opened
    from ..batch import predict as run

    # The input's columns and the output's suffix are checked before the model loads (seconds).
    with step(f"Predicting {source}", spinner=False), opened(cfg, source, chunk_rows or CHUNK_ROWS) as stream:
        kind_of(target)
        model, name = _model(cfg, model_file, alias or cfg.batch.alias, version)
        with progress(stream) as tick:
            rows = run(cfg, model, stream, target, tick)
    print(f"wrote {rows} predictions of {name} to {target}")
    summary(f"Batch: {rows} predictions of {name} on {source}, written to {target}")
    set_output(output=target, rows=str(rows))


def _model(cfg: Config, model_file: Path | None, alias: str | None, version: str | None):
    """The model and what to call it in the log."""
    if model_file:
        from ..training import load

        with step(f"Loading {model_file}"):
            if not model_file.is_file():
                fail(f"--model-file {model_file}: file not found (run `dvc repro` to train it)")
            return load(model_file), str(model_file)
    from ..batch import registry_model

    alias = alias or cfg.registry.champion_alias
    with step(f"Loading {cfg.project.model_name}@{alias}" if not version else f"Loading version {version}"):
        found, model = registry_model(cfg, alias, version)
    return model, f"{cfg.project.model_name} version {found.version}"


@contextmanager
def progress(stream):
    """A live bar (rows, rows/s, ETA) in a terminal. In a log (not a terminal, or GITHUB_ACTIONS: act
    gives steps a terminal) at most LOG_STEPS lines, so a long run does not flood it."""
    if err.is_terminal and not os.environ.get("GITHUB_ACTIONS"):
        with _bar(stream) as tick:
            yield tick
    else:
        yield _log_lines(stream)


@contextmanager
def _bar(stream):
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), _Rows(), TimeRemainingColumn())
    with Progress(*columns, console=err) as bar:
        name = stream.location.rsplit("/", 1)[-1]  # a bar line must fit the terminal
        task = bar.add_task(f"Predicting {name}", total=stream.total or None, rows=0)
        done = [0]

        def tick(rows: int) -> None:
            done[0] += rows
            bar.update(task, completed=stream.position(), rows=done[0])

        yield tick


class _Rows(ProgressColumn):
    """Rows predicted and rows per second (the bar itself may count bytes of a CSV)."""

    def render(self, task) -> Text:
        rows, elapsed = task.fields.get("rows", 0), task.elapsed or 0
        rate = f" {rows / elapsed:,.0f}/s" if elapsed > 0 else ""
        return Text(f"{rows:,} rows{rate}", style="progress.data.speed")


def _log_lines(stream) -> Callable[[int], None]:
    started, done, shown = time.monotonic(), [0], [0]

    def tick(rows: int) -> None:
        done[0] += rows
        share = stream.position() / stream.total if stream.total else 1.0
        if int(share * LOG_STEPS) <= shown[0]:
            return
        shown[0] = int(share * LOG_STEPS)
        elapsed = time.monotonic() - started
        rate = done[0] / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - share) / share if share > 0 else 0.0
        err.print(f"predicted {done[0]:,} rows ({share:.0%}, {rate:,.0f} rows/s, ETA {eta:.0f} s)", highlight=False)

    return tick
