"""`mlops`: the commands the DVC pipeline, the Makefile and the workflows call.

Heavy libraries (scikit-learn, MLflow, BentoML) are imported inside the commands that need them,
so `mlops config check` and friends start fast.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
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
err = Console(stderr=True, soft_wrap=True)  # CI logs: one message, one line
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


def set_output(**values: str) -> None:
    """Set step outputs when running in a workflow (multi-line values in GitHub's heredoc form)."""
    if target := os.environ.get("GITHUB_OUTPUT"):
        with open(target, "a") as handle:
            for key, value in values.items():
                delimiter = f"EOF_{secrets.token_hex(8)}"
                handle.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")


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


@app.command()
def sync(
    check: Annotated[bool, typer.Option(help="Only report stale files (exit 1), write nothing")] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Write config values that workflows need as literals (cron, default branch) into them."""
    from .sync import sync as run

    cfg = config_at(config)
    stale = run(Path("."), cfg.model_dump(), write=not check)
    if check and stale:
        err.print(f"[red]error:[/red] {', '.join(stale)} disagree with {config}: run `mlops sync`")
        raise typer.Exit(1)
    print(f"{'stale' if check else 'updated'}: {', '.join(stale)}" if stale else "workflows match the config")


BaseOption = Annotated[str, typer.Option("--base", help="Base branch or ref to compare with")]


@app.command()
def report(
    base: BaseOption = "",
    output: Annotated[Path | None, typer.Option(help="Also write the markdown here")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Markdown table of metrics and params: this change vs the champion and the base branch."""
    from .report import markdown

    cfg = config_at(config)
    with step("Comparing metrics"):
        text, _ = markdown(cfg, base or cfg.project.default_branch)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    summary(text)
    set_output(report=text)
    print(text)


@app.command()
def gate(base: BaseOption = "", config: ConfigOption = CONFIG_FILE) -> None:
    """Exit 1 unless metrics.json meets training.min_metric and stays within max_regression of the champion."""
    from .report import markdown

    cfg = config_at(config)
    with step("Checking the gate"):
        _, problems = markdown(cfg, base or cfg.project.default_branch)
    for problem in problems:
        err.print(f"[red]gate:[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    print("gate passed")


@app.command()
def comment(
    pr: Annotated[int, typer.Option(help="Pull request number")],
    body: Annotated[str, typer.Option(help="Markdown to post")],
    marker: Annotated[str, typer.Option(help="Identifies the comment to update")] = "mlops-metrics",
) -> None:
    """Create or update this PR's one comment with `marker` (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL)."""
    from .gitops import GitHub

    with step(f"Commenting on PR #{pr}"):
        result = GitHub.from_env().upsert_comment(pr, body, marker)
    print(f"{result['action']} comment {result['html_url']}")


@app.command()
def window(
    output: Annotated[Path, typer.Option(help="Where to write the window")] = Path("data/current.parquet"),
    shift: Annotated[float, typer.Option(help="Shift numeric columns by this many standard deviations")] = 0.0,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Write a data window (resampled from data.source, optionally shifted) to try the drift loop."""
    from .data import read_table, write_table
    from .drift import shift_window

    cfg = config_at(config)
    frame = shift_window(read_table(cfg.data.source), cfg.data.names("numeric"), shift, cfg.data.seed)
    write_table(frame, output, index=False)
    print(f"wrote {len(frame)} rows (shift {shift}) to {output}")


@app.command()
def drift(
    current: Annotated[str | None, typer.Option(help="Current window (default: data.current)")] = None,
    reports: Annotated[Path, typer.Option(help="Folder for drift.html and drift.md")] = Path("reports"),
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Evidently drift check of the current window against data.reference; sets `drifted` for workflows."""
    from .data import read_table
    from .drift import check, markdown, save_html

    cfg = config_at(config)
    source = current or cfg.data.current
    with step(f"Checking {source} for drift against {cfg.data.reference}"):
        result = check(cfg, read_table(cfg.data.reference), read_table(source), (cfg.data.reference, source))
        reports.mkdir(parents=True, exist_ok=True)
        save_html(result, reports / "drift.html")
        text = markdown(result) + _report_link()
        (reports / "drift.md").write_text(text)
    summary(text)
    set_output(drifted=str(result.drifted).lower())
    print(text)


def _report_link() -> str:
    """Where the HTML report is: the workflow run's artifact, or the local file."""
    if run_id := os.environ.get("GITHUB_RUN_ID"):
        server, repo = os.environ.get("GITHUB_SERVER_URL", "https://github.com"), os.environ.get("GITHUB_REPOSITORY")
        url = f"{server}/{repo}/actions/runs/{run_id}"
        return f"\nFull Evidently report: artifact `drift-report` of [run {run_id}]({url}).\n"
    return "\nFull Evidently report: `reports/drift.html`.\n"


@app.command("append-window")
def append_window(
    window: Annotated[str | None, typer.Option(help="Labelled window (default: data.current)")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Add the current (labelled) window to data.source, the retraining data."""
    from .data import append_window as run

    cfg = config_at(config)
    source = window or cfg.data.current
    with step(f"Adding {source} to {cfg.data.source}"):
        rows = run(cfg, source)
        if Path(cfg.data.source + ".dvc").exists():  # DVC-tracked data: refresh its pointer file
            subprocess.run(["dvc", "add", cfg.data.source], check=True)
    print(f"added {rows} rows of {source} to {cfg.data.source}")


def _retraining_set(cfg: Config) -> list[str]:
    """What a retraining changes: the data (or its .dvc pointer), dvc.lock and metrics.json."""
    pointer = Path(cfg.data.source + ".dvc")
    return ["dvc.lock", "metrics.json", str(pointer) if pointer.exists() else cfg.data.source]


@app.command()
def propose(
    title: Annotated[str, typer.Option(help="Commit and PR title")],
    body_file: Annotated[list[Path], typer.Option(help="PR body parts (markdown), joined")],
    paths: Annotated[list[str] | None, typer.Argument(help="Files to commit (default: the retraining set)")] = None,
    prefix: Annotated[str, typer.Option(help="Branch prefix; one open PR per prefix")] = "retrain/",
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Commit PATHS to a branch, push it and open (or update) the one PR of that prefix."""
    from .gitops import GitHub
    from .propose import propose as run

    cfg = config_at(config)
    with step("Proposing the change"):
        body = "\n\n".join(part.read_text() for part in body_file)
        result = run(GitHub.from_env(), paths or _retraining_set(cfg), cfg.project.default_branch, prefix, title, body)
    print(f"{result['action']} PR #{result['number']} from {result['branch']}: {result['html_url']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
