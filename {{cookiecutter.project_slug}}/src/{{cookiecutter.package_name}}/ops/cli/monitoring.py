"""`mlops` commands: Drift checks of the current window, and adding it to the training data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE
from .common import ConfigOption, app, config_at, set_output, step, summary


@app.command()
def window(
    output: Annotated[Path, typer.Option(help="Where to write the window")] = Path("data/current.parquet"),
    shift: Annotated[float, typer.Option(help="Shift numeric columns by this many standard deviations")] = 0.0,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Write a data window (resampled from data.source, optionally shifted) to try the drift loop."""
    from ..data import read_table, write_table
    from ..drift import shift_window

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
    from ..data import read_table
    from ..drift import check, markdown, save_html

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
    from ..gitops import run_url

    if url := run_url():
        run_id = os.environ["GITHUB_RUN_ID"]
        return f"\nFull Evidently report: artifact `drift-report` of [run {run_id}]({url}).\n"
    return "\nFull Evidently report: `reports/drift.html`.\n"


@app.command("append-window")
def append_window(
    window: Annotated[str | None, typer.Option(help="Labelled window (default: data.current)")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Add the current (labelled) window to data.source, the retraining data."""
    from ..data import append_window as run

    cfg = config_at(config)
    source = window or cfg.data.current
    with step(f"Adding {source} to {cfg.data.source}"):
        rows = run(cfg, source)
        if Path(cfg.data.source + ".dvc").exists():  # DVC-tracked data: refresh its pointer file
            subprocess.run(["dvc", "add", cfg.data.source], check=True)
    print(f"added {rows} rows of {source} to {cfg.data.source}")
