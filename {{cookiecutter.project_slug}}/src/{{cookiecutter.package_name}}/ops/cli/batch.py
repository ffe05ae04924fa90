"""`mlops` commands: Batch prediction (ops/serving/batch.py), by hand or on the schedule of batch.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, Config
from .common import ConfigOption, app, config_at, fail, set_output, step, summary


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
    from ..serving.batch import CHUNK_ROWS, kind_of, opened
    from ..serving.batch import predict as run
    from .progress import progress

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
        from ..pipeline.training import load

        with step(f"Loading {model_file}"):
            if not model_file.is_file():
                fail(f"--model-file {model_file}: file not found (run `dvc repro` to train it)")
            return load(model_file), str(model_file)
    from ..serving.batch import registry_model

    alias = alias or cfg.registry.champion_alias
    with step(f"Loading {cfg.project.model_name}@{alias}" if not version else f"Loading version {version}"):
        found, model = registry_model(cfg, alias, version)
    return model, f"{cfg.project.model_name} version {found.version}"
