"""`mlops` commands: Serving the model locally."""

from __future__ import annotations

import json
import os
import shutil
from typing import Annotated

import typer

from ..config import CONFIG_FILE
from .common import ConfigOption, app, config_at, step


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
    from ..data import TEST, read_table
    from ..smoke import sample_request
    from ..smoke import smoke as run

    cfg = config_at(config)
    rows = sample_request(cfg, read_table(TEST))
    with step(f"Serving {bento or 'service:Model'} and sending {len(rows)} rows"):
        answer = run(bento or "service:Model", rows)
    print(f"sent {len(rows)} rows of {TEST} to POST /predict, answer:", json.dumps(answer))
