"""`mlops` commands: Serving the model locally."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ..config import CONFIG_FILE, Config
from ..tools import executable
from .common import ConfigOption, app, config_at, fail, step

BentoOption = Annotated[
    str | None, typer.Option(help="A built bento tag (default: the project's code with the registry's model)")
]
AliasOption = Annotated[str | None, typer.Option(help="Registry alias of the model (default: the challenger)")]
VersionOption = Annotated[str | None, typer.Option("--version", help="Registry version (instead of the alias)")]


def served(cfg: Config, bento: str | None, alias: str | None, version: str | None) -> tuple[str, list[str]]:
    """What `bentoml serve` runs and its extra arguments: a bento as it was built (it names its own
    model), or the project's code with the registry model of `alias`/`version` (imported if needed)."""
    if bento:
        if alias or version:
            fail("--bento serves the model the bento was built with: drop --alias/--version")
        return bento, []
    from ..serving.bento import MODEL_ARG, import_model

    alias = alias or cfg.registry.challenger_alias
    with step(f"Resolving {cfg.project.model_name}@{alias}" if not version else f"Resolving version {version}"):
        model = import_model(cfg, alias, version)
    return "service:Model", ["--arg", f"{MODEL_ARG}={model.tag}"]


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    bento: BentoOption = None,
    alias: AliasOption = None,
    version: VersionOption = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Serve the model over HTTP with BentoML (POST /predict, GET /readyz, GET /metrics)."""
    servable, args = served(config_at(config), bento, alias, version)
    command = executable("bentoml")
    os.execv(command, [command, "serve", servable, "--host", host, "--port", str(port), *args])


@app.command()
def smoke(
    bento: BentoOption = None,
    alias: AliasOption = None,
    version: VersionOption = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Serve on a free 127.0.0.1 port, send two rows of the test split, print the answer, stop."""
    from ..pipeline.data import TEST, read_table
    from ..serving.smoke import sample_request
    from ..serving.smoke import smoke as run

    cfg = config_at(config)
    servable, args = served(cfg, bento, alias, version)
    rows = sample_request(cfg, read_table(TEST))
    with step(f"Serving {servable} and sending {len(rows)} rows"):
        url, answer = run(servable, rows, args=args)
    print(f"sent {len(rows)} rows of {TEST} to POST {url}/predict, answer:", json.dumps(answer))
