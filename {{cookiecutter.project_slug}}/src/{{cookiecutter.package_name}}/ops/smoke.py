"""Smoke test of the service: serve it on a free loopback port, send sample rows, stop it."""

from __future__ import annotations

import socket

import bentoml
import pandas as pd

from .config import Config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sample_request(config: Config, frame: pd.DataFrame, rows: int = 2) -> list[dict]:
    """The first rows of `frame` as request rows (NaN -> null)."""
    sample = frame[list(config.data.columns)].head(rows)
    return sample.astype(object).where(sample.notna(), None).to_dict(orient="records")


def smoke(servable: str, rows: list[dict], timeout: float = 90) -> dict:
    """Start `servable` (a service path or a bento tag), POST /predict once, stop the server."""
    port = free_port()
    server = bentoml.HTTPServer(servable, host="127.0.0.1", port=port, timeout=timeout)
    server.start(text=True)  # returns once /readyz answers; its context manager wants a legacy client
    try:
        with bentoml.SyncHTTPClient(f"http://127.0.0.1:{port}", timeout=timeout) as client:
            return client.predict(rows=rows)
    finally:
        server.stop()
