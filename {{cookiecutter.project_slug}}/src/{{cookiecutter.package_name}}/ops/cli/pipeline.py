"""`mlops` commands: The DVC pipeline's stages (batch prediction: cli/batch.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE
from .common import ConfigOption, app, config_at, step, summary


# Validated in the stage that writes the splits: bad data is never written, and a pipeline run
# starts one process less than with a validate stage of its own.
@app.command()
def prepare(config: ConfigOption = CONFIG_FILE) -> None:
    """Check data.source against mlops.yaml's rules, then split it into data/prepared/{train,test}.parquet;
    on a broken rule, exit 1 with the report (as `mlops validate`) and write nothing."""
    from ..pipeline.data import prepare as run
    from ..pipeline.validate import validate

    cfg = config_at(config)

    def rules(frame) -> None:
        if report := validate(cfg, frame, cfg.data.source):
            _invalid(report)

    with step(f"Preparing {cfg.data.source}"):
        train, test = run(cfg, rules)
    print(f"prepared {train} training and {test} test rows from {cfg.data.source}: every rule met")


def _invalid(report: str):
    print(report)
    summary(report)
    raise typer.Exit(1)


@app.command()
def validate(
    data: Annotated[list[Path] | None, typer.Option(help="Files to check (default: data.source)")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Check data against the rules in mlops.yaml; exit 1 with a report naming columns and rows."""
    import pandas as pd

    from ..pipeline.data import read_table
    from ..pipeline.validate import validate as check

    cfg = config_at(config)
    files = [str(path) for path in data] if data else [cfg.data.source]
    with step(f"Validating {', '.join(files)}"):
        frame = pd.concat([read_table(path) for path in files])
        report = check(cfg, frame, ", ".join(files))
    if report:
        _invalid(report)
    print(f"{', '.join(files)}: {len(frame)} rows meet every rule in {config}")


@app.command()
def train(config: ConfigOption = CONFIG_FILE) -> None:
    """Fit model/train.py's pipeline on the training split; write models/model.joblib."""
    from ..pipeline.training import fit, save

    cfg = config_at(config)
    with step("Training"):
        path = save(fit(cfg))
    print(f"wrote {path}")


@app.command()
def evaluate(config: ConfigOption = CONFIG_FILE) -> None:
    """Score the model on the test split and write metrics.json (`mlops track` logs them to MLflow)."""
    from ..pipeline.data import TEST, features, read_table
    from ..pipeline.evaluate import compute, write
    from ..pipeline.training import load

    cfg = config_at(config)
    with step("Evaluating"):
        test = read_table(TEST)
        scores = compute(cfg, load(), features(cfg, test), test[cfg.data.target.column])
        write(scores)
    print(json.dumps(scores))


@app.command()
def track(config: ConfigOption = CONFIG_FILE) -> None:
    """Log the current model, metrics.json and lineage tags as an MLflow run (after `dvc repro`; the
    run of the same model bytes and scores is reused). A step of its own: DVC may restore a stage's
    outputs from its cache without running it, and must not skip the logging with it."""
    from ..registry.tracking import shown, tracking_uri
    from ..registry.versions import track as run  # mlflow: seconds to import

    cfg = config_at(config)
    with step(f"Logging the run to {shown(tracking_uri(cfg))}"):
        run_id = run(cfg)
    print(f"MLflow run {run_id}")
