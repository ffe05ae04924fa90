"""`mlops` commands: Project config: check mlops.yaml, export its schema, sync literals into the workflows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, SCHEMA_FILE, json_schema
from .common import ConfigOption, app, config_app, config_at, err


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
def sync(
    check: Annotated[bool, typer.Option(help="Only report stale files (exit 1), write nothing")] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Write config values that workflows need as literals (cron, default branch) into them."""
    from ..sync import sync as run

    cfg = config_at(config)
    stale = run(Path("."), cfg.model_dump(), write=not check)
    if check and stale:
        err.print(f"[red]error:[/red] {', '.join(stale)} disagree with {config}: run `mlops sync`")
        raise typer.Exit(1)
    print(f"{'stale' if check else 'updated'}: {', '.join(stale)}" if stale else "workflows match the config")
