"""`mlops` commands: CT. Check the captured requests, take labels, add labelled rows to the data."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, Config
from .common import ConfigOption, app, config_at, fail, notice, set_output, step, summary

Since = Annotated[str | None, typer.Option(help="Window start, ISO 8601 (default: the last check's end)")]
Until = Annotated[str | None, typer.Option(help="Window end, ISO 8601 (default: now)")]


def _window(cfg: Config, since: str | None, until: str | None):
    from ..monitoring.checks import last_end
    from ..monitoring.sink import Sink
    from ..monitoring.window import bounds, load

    now = _when(until) or datetime.now(UTC)
    start, end = (_when(since), now) if since else bounds(cfg, last_end(Sink(cfg)), now)
    return load(cfg, start, end)


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def drift(
    since: Since = None,
    until: Until = None,
    record: Annotated[bool, typer.Option(help="Record this check (the flap guard's history)")] = True,
    reports: Annotated[Path, typer.Option(help="Folder for drift.html and drift.md")] = Path("reports"),
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """CT's check of the current window: data drift (Evidently) or the champion's metric dropping on
    labelled rows, through the flap guard. Sets `retrain`, `window_start` and `window_end` for workflows."""
    cfg = config_at(config)
    with step("Reading the current window"):
        window = _window(cfg, since, until)
    bounds = {"window_start": window.start.isoformat(), "window_end": window.end.isoformat()}
    if len(window.rows) < cfg.monitoring.min_rows:
        set_output(drifted="false", retrain="false", **bounds)
        return notice(
            f"{len(window.rows)} {window.describe()} (min_rows {cfg.monitoring.min_rows}): nothing to check yet"
        )
    with step(f"Checking {len(window.rows):,} rows for drift against {cfg.data.reference}"):
        check, verdict, text = _check(cfg, window, record, reports)
    retrain = verdict and len(window.labelled) > 0
    if verdict and not retrain:
        text += "\nNo labelled rows in the window to retrain on: send ground truth with `mlops feedback FILE`.\n"
    (reports / "drift.md").write_text(text)
    summary(text)
    set_output(drifted=str(check.drifted).lower(), retrain=str(retrain).lower(), **bounds)
    print(text)


def _check(cfg: Config, window, record: bool, reports: Path):
    from ..monitoring import checks
    from ..monitoring.drift import check, markdown, save_html
    from ..monitoring.sink import Sink
    from ..pipeline.data import read_table
    from ..pipeline.evaluate import METRICS_FILE, read
    from ..pipeline.training import MODEL, load

    result = check(cfg, read_table(cfg.data.reference), window.rows, (cfg.data.reference, window.source))
    save_html(result, reports / "drift.html")
    model = load() if MODEL.exists() else None  # the merged model: what production serves
    trained = read().get(cfg.training.metric) if METRICS_FILE.exists() else None
    outcome = checks.evaluate(cfg, window, result, model, trained)
    sink = Sink(cfg)
    earlier = [item for item in checks.history(sink, cfg.monitoring.trigger.windows) if item.end != outcome.end]
    verdict, line = checks.retrain(cfg, earlier, outcome)
    if record:
        checks.record(sink, outcome)
    text = markdown(result) + "\n" + checks.markdown(cfg, window, outcome, line) + _report_link()
    return outcome, verdict, text


def _report_link() -> str:
    """Where the HTML report is: the workflow run's artifact, or the local file."""
    from ..gitops.github import run_url

    if url := run_url():
        run_id = os.environ["GITHUB_RUN_ID"]
        return f"\nFull Evidently report: artifact `drift-report` of [run {run_id}]({url}).\n"
    return "\nFull Evidently report: `reports/drift.html`.\n"


@app.command()
def feedback(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet: request_id, row (optional), the target column")],
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Record ground truth for served requests, joined to the captured requests by request id."""
    from ..monitoring.feedback import record

    cfg = config_at(config)
    with step(f"Recording the labels of {file}"):
        count, path = record(cfg, file)
    print(f"recorded {count} label(s) for {cfg.data.target.column!r} in {path}")


@app.command("append-window")
def append_window(since: Since = None, until: Until = None, config: ConfigOption = CONFIG_FILE) -> None:
    """Add the window's labelled rows to data.source, the retraining data."""
    from ..pipeline.data import append_rows

    cfg = config_at(config)
    with step("Reading the labelled rows of the window"):
        window = _window(cfg, since, until)
    if window.labelled.empty:
        return notice(f"no labelled rows in the {window.describe()}: {cfg.data.source} is unchanged")
    with step(f"Adding {len(window.labelled)} labelled rows to {cfg.data.source}"):
        rows = append_rows(cfg, window.labelled, window.source)
        if Path(cfg.data.source + ".dvc").exists():  # DVC-tracked data: refresh its pointer file
            if subprocess.run(["dvc", "add", cfg.data.source]).returncode:  # DVC printed why
                fail(f"dvc add {cfg.data.source} failed: the rows are added, its .dvc file is not updated")
    print(f"added {rows} labelled rows of the {window.describe()} to {cfg.data.source}")


@app.command()
def traffic(
    url: Annotated[str, typer.Option(help="The running service")] = "http://127.0.0.1:3000",
    rows: Annotated[int, typer.Option(min=1, help="Rows to send")] = 200,
    batch: Annotated[int, typer.Option(min=1, help="Rows per request")] = 10,
    shift: Annotated[float, typer.Option(help="Shift numeric columns by this many standard deviations")] = 0.0,
    labels: Annotated[Path | None, typer.Option(help="Write the rows' true labels here, for `mlops feedback`")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Send rows resampled from data.source (optionally shifted) to a running service, as clients would."""
    import httpx
    import pandas as pd

    from ..monitoring.drift import shift_window
    from ..pipeline.data import read_table, request_rows

    cfg = config_at(config)
    frame = shift_window(read_table(cfg.data.source), cfg.data.names("numeric"), shift, cfg.data.seed).head(rows)
    truth, requests = [], 0
    with step(f"Sending {len(frame)} rows to {url}/predict"), httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(frame), batch):
            part = frame.iloc[start : start + batch]
            body = {"rows": request_rows(cfg, part)}
            try:
                answer = client.post("/predict", json=body)
            except httpx.HTTPError as exc:
                fail(f"{url}/predict: {exc} (is the service running? uv run --no-sync mlops serve)")
            if answer.is_error:
                fail(f"{url}/predict answered {answer.status_code}: {answer.text[:200]}")
            requests += 1
            request_id = answer.json()["request_id"]
            truth += [(request_id, i, label) for i, label in enumerate(part[cfg.data.target.column])]
    if labels:
        pd.DataFrame(truth, columns=["request_id", "row", cfg.data.target.column]).to_csv(labels, index=False)
    print(f"sent {len(frame)} rows (shift {shift}) in {requests} requests to {url}")
