"""Smoke test of the service: serve it on a free loopback port, send sample rows, stop it."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx
import pandas as pd

from ..config import Config
from ..errors import MlopsError
from ..monitoring.headers import SAMPLE_ENV
from ..pipeline.data import request_rows
from ..tools import executable, free_port, wait_ready


def sample_request(config: Config, frame: pd.DataFrame, rows: int = 2) -> list[dict]:
    """The first rows of `frame` as a client sends them (each column as its kind of JSON value)."""
    return request_rows(config, frame.head(rows))


LOG_LINES = 20  # of the server's log shown when the smoke request fails


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").rstrip().splitlines()[-LOG_LINES:]
    return "\n".join(f"  | {line}" for line in lines) or "  | (empty)"


def _ready(url: str, server: subprocess.Popen, timeout: float) -> None:
    if not wait_ready(url, lambda: server.poll() is None, timeout):
        state = f"exited {server.returncode}" if server.poll() is not None else f"was not ready within {timeout:.0f} s"
        raise MlopsError(f"the server {state}")


def smoke(servable: str, rows: list[dict], timeout: float = 120, args: Sequence[str] = ()) -> tuple[str, dict]:
    """Start `servable` (a service path or a bento tag; `args` for `bentoml serve`, e.g. the model's
    `--arg`), POST /predict once, stop the server: (its URL, the answer). A failure shows the tail of
    the server's log."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="mlops-smoke-") as scratch:
        log = Path(scratch) / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                [executable("bentoml"), "serve", servable, "--host", "127.0.0.1", "--port", str(port), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=os.environ | {SAMPLE_ENV: "0"},  # smoke rows are no traffic to monitor: nothing is captured
            )
        try:
            _ready(url, server, timeout)
            answer = httpx.post(f"{url}/predict", json={"rows": rows}, timeout=60)
            if answer.status_code != 200:
                raise MlopsError(f"POST /predict answered {answer.status_code}: {answer.text[:300]}")
            return url, answer.json()
        except (MlopsError, httpx.HTTPError) as exc:
            raise MlopsError(f"smoke request failed: {exc}\nthe server's log (last lines):\n{_tail(log)}") from None
        finally:
            server.terminate()
            server.wait(timeout=30)
