"""Smoke test of the service: serve it on a free loopback port, send sample rows, stop it."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Sequence

import bentoml
import pandas as pd

from .config import Config
from .monitoring.capture import SAMPLE_ENV
from .tools import executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample_request(config: Config, frame: pd.DataFrame, rows: int = 2) -> list[dict]:
    """The first rows of `frame` as request rows (NaN -> null)."""
    sample = frame[list(config.data.columns)].head(rows)
    return sample.astype(object).where(sample.notna(), None).to_dict(orient="records")


def smoke(servable: str, rows: list[dict], timeout: float = 120, args: Sequence[str] = ()) -> dict:
    """Start `servable` (a service path or a bento tag; `args` for `bentoml serve`, e.g. the model's
    `--arg`), POST /predict once, stop the server."""
    port = free_port()
    command = executable("bentoml")
    server = subprocess.Popen(
        [command, "serve", servable, "--host", "127.0.0.1", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ | {SAMPLE_ENV: "0"},  # smoke rows are no traffic to monitor: nothing is captured
    )
    try:  # the client itself waits for /readyz (server_ready_timeout)
        with bentoml.SyncHTTPClient(f"http://127.0.0.1:{port}", server_ready_timeout=timeout) as client:
            return client.predict(rows=rows)
    finally:
        server.terminate()
        server.wait(timeout=30)
