"""`mlops` commands: The MLflow registry and the bento of a registered model."""

from __future__ import annotations

from typing import Annotated

import typer

from ..config import CONFIG_FILE
from .common import ConfigOption, app, config_at, step


@app.command()
def register(config: ConfigOption = CONFIG_FILE) -> None:
    """Register the current model's run in the MLflow registry and set the challenger alias."""
    from ..registry.versions import register as run

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
    from ..registry.versions import promote as run

    cfg = config_at(config)
    with step("Promoting"):
        promoted = run(cfg, version)
    print(f"{cfg.project.model_name} version {promoted.version} is @{cfg.registry.champion_alias}")


@app.command()
def build(
    alias: Annotated[str | None, typer.Option(help="Registry alias of the model (default: the challenger)")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Registry version (instead of the alias)")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Import the registered model into the BentoML store and build the bento (offline) that serves it."""
    from ..serving.bento import build as run

    cfg = config_at(config)
    alias = alias or cfg.registry.challenger_alias
    with step(f"Building a bento of {cfg.project.model_name}@{alias}" if not version else f"Building {version}"):
        model, bento = run(cfg, alias, version)
    print(f"built bento {bento.tag} with model {model.tag}")
