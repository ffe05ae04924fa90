"""`mlops` commands: The DVC pipeline's stages (batch prediction: cli/batch.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE
from .common import ConfigOption, app, config_at, step, summary


@app.command()
def prepare(config: ConfigOption = CONFIG_FILE) -> None:
    """Split data.source into data/prepared/{train,test}.parquet."""
    from ..data import prepare as run

    cfg = config_at(config)
    with step(f"Preparing {cfg.data.source}"):
        train, test = run(cfg)
    print(f"prepared {train} training and {test} test rows from {cfg.data.source}")


@app.command()
def validate(
    data: Annotated[list[Path] | None, typer.Option(help="Files to check (default: data.source)")] = None,
    record: Annotated[Path | None, typer.Option(help="Write a JSON record of a passed check here")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Check data against the rules in mlops.yaml; exit 1 with a report naming columns and rows."""
    import pandas as pd

    from ..data import read_table
    from ..validate import validate as check

    cfg = config_at(config)
    files = [str(path) for path in data] if data else [cfg.data.source]
    with step(f"Validating {', '.join(files)}"):
        frame = pd.concat([read_table(path) for path in files])
        report = check(cfg, frame, ", ".join(files))
    if report:
        print(report)
        summary(report)
        raise typer.Exit(1)
    print(f"{', '.join(files)}: {len(frame)} rows meet every rule in {config}")
    if record:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"files": files, "rows": len(frame), "passed": True}, indent=2) + "\n")


@app.command()
def train(config: ConfigOption = CONFIG_FILE) -> None:
    """Fit model/train.py's pipeline on the training split; write models/model.joblib."""
    from ..training import fit, save

    cfg = config_at(config)
    with step("Training"):
        path = save(fit(cfg))
    print(f"wrote {path}")


@app.command()
def evaluate(config: ConfigOption = CONFIG_FILE) -> None:
    """Score the model on the test split and write metrics.json (`mlops track` logs them to MLflow)."""
    from ..data import TEST, features, read_table
    from ..evaluate import compute, write
    from ..training import load

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
    from ..registry import track as run  # mlflow: seconds to import
    from ..tracking import shown, tracking_uri

    cfg = config_at(config)
    with step(f"Logging the run to {shown(tracking_uri(cfg))}"):
        run_id = run(cfg)
    print(f"MLflow run {run_id}")
