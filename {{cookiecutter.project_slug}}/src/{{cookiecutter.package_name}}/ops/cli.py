"""`mlops`: the commands the DVC pipeline, the Makefile and the workflows call.

Heavy libraries (scikit-learn, MLflow, BentoML) are imported inside the commands that need them,
so `mlops config check` and friends start fast.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .config import CONFIG_FILE, SCHEMA_FILE, Config, json_schema, load_config
from .errors import MlopsError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.splitlines()[0])
config_app = typer.Typer(no_args_is_help=True, help="Check mlops.yaml or export its JSON Schema.")
app.add_typer(config_app, name="config")
err = Console(stderr=True)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The config file")]


@contextmanager
def step(message: str):
    """A spinner on long steps; MlopsError becomes one red line and exit code 2."""
    try:
        with err.status(message):
            yield
    except MlopsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def config_at(path: Path) -> Config:
    with step(f"Reading {path}"):
        return load_config(path)


def summary(markdown: str) -> None:
    """Append to the GitHub job summary when running in a workflow."""
    if target := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(target, "a") as handle:
            handle.write(markdown + "\n")


@config_app.command("check")
def config_check(config: ConfigOption = CONFIG_FILE) -> None:
    """Validate mlops.yaml against the schema, and mlops.schema.json against the code."""
    config_at(config)
    if SCHEMA_FILE.exists() and SCHEMA_FILE.read_text() != json_schema():
        err.print(f"[red]error:[/red] {SCHEMA_FILE} is stale: run `mlops config schema --write`")
        raise typer.Exit(1)
    print(f"{config}: ok")


@config_app.command("schema")
def config_schema(write: Annotated[bool, typer.Option(help=f"Write {SCHEMA_FILE}")] = False) -> None:
    """Print (or write) the JSON Schema of mlops.yaml."""
    if write:
        SCHEMA_FILE.write_text(json_schema())
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(json_schema())


@app.command()
def prepare(config: ConfigOption = CONFIG_FILE) -> None:
    """Split data.source into data/prepared/{train,test}.parquet."""
    from .data import prepare as run

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

    from .data import read_table
    from .validate import validate as check

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
    from .training import fit, save

    cfg = config_at(config)
    with step("Training"):
        path = save(fit(cfg))
    print(f"wrote {path}")


@app.command()
def evaluate(config: ConfigOption = CONFIG_FILE) -> None:
    """Score the model on the test split, write metrics.json and log the run to MLflow."""
    from .data import TEST, features, read_table
    from .evaluate import compute, write
    from .lineage import tags
    from .training import MODEL, load

    cfg = config_at(config)
    with step("Evaluating"):
        model, test = load(), read_table(TEST)
        X = features(cfg, test)
        scores = compute(cfg, model, X, test[cfg.data.target.column])
        write(scores)
    with step(f"Logging the run to {cfg.registry.tracking_uri}"):
        from .tracking import log_run

        run_id = log_run(cfg, model, scores, X.head(5), tags(cfg, MODEL))
    print(json.dumps(scores), f"(MLflow run {run_id})")


@app.command()
def register(config: ConfigOption = CONFIG_FILE) -> None:
    """Register the current model's run in the MLflow registry and set the challenger alias."""
    from .registry import register as run

    cfg = config_at(config)
    with step("Registering"):
        version = run(cfg)
    print(f"{cfg.project.model_name} version {version.version} is @{cfg.registry.challenger_alias}")


@app.command()
def promote(
    version: Annotated[str | None, typer.Option(help="Registry version (default: the challenger)")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Point the champion alias at a registered version."""
    from .registry import promote as run

    cfg = config_at(config)
    with step("Promoting"):
        promoted = run(cfg, version)
    print(f"{cfg.project.model_name} version {promoted.version} is @{cfg.registry.champion_alias}")


@app.command()
def predict(
    input: Annotated[Path, typer.Argument(help="CSV or Parquet with the declared columns")],
    output: Annotated[Path, typer.Option(help="Where to write predictions (.csv or .parquet)")],
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Batch predictions of models/model.joblib on a file."""
    from .data import features, read_table
    from .training import load

    cfg = config_at(config)
    with step(f"Predicting {input}"):
        frame = read_table(input)
        result = frame.assign(prediction=load().predict(features(cfg, frame)))
    output.parent.mkdir(parents=True, exist_ok=True)
    (result.to_parquet if output.suffix == ".parquet" else result.to_csv)(output, index=False)
    print(f"wrote {len(result)} predictions to {output}")


@app.command()
def build(
    alias: Annotated[str, typer.Option(help="Registry alias of the model to ship")] = "challenger",
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Import the registered model into the BentoML store and build the bento (offline)."""
    from .bento import build as run

    cfg = config_at(config)
    with step(f"Building a bento of {cfg.project.model_name}@{alias}"):
        model, bento = run(cfg, alias)
    print(f"built bento {bento.tag} with model {model.tag}")


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    bento: Annotated[str | None, typer.Option(help="A built bento tag (default: the project's code)")] = None,
) -> None:
    """Serve the model over HTTP with BentoML (POST /predict, GET /readyz, GET /metrics)."""
    executable = shutil.which("bentoml") or "bentoml"
    os.execv(executable, [executable, "serve", bento or "service:Model", "--host", host, "--port", str(port)])


@app.command()
def smoke(
    bento: Annotated[str | None, typer.Option(help="A built bento tag (default: the project's code)")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Serve on a free 127.0.0.1 port, send two rows of the test split, print the answer, stop."""
    from .data import TEST, read_table
    from .smoke import sample_request
    from .smoke import smoke as run

    cfg = config_at(config)
    rows = sample_request(cfg, read_table(TEST))
    with step(f"Serving {bento or 'service:Model'} and sending {len(rows)} rows"):
        answer = run(bento or "service:Model", rows)
    print(f"sent {len(rows)} rows of {TEST} to POST /predict, answer:", json.dumps(answer))


def main() -> None:
    app()
