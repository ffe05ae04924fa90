"""The request log's storage: a folder, or a bucket URI in team mode (fsspec), in whole files.

    <sink>/requests/date=YYYY-MM-DD/<stamp>.parquet   captured rows (the service, capture.py)
    <sink>/feedback/<stamp>.parquet                   ground truth by request id (`mlops feedback`)
    <sink>/checks/<stamp>.json                        one record per CT check (the flap guard's history)

Every file is written whole (a temporary file renamed, or one object PUT), so a reader on another
machine never sees half of one. A fresh runner finds all of it where production wrote it.
"""

from __future__ import annotations

import io
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from ..config import Config
from ..state import state_location


class Sink:
    def __init__(self, config: Config) -> None:
        self.location = state_location(config.monitoring.capture.sink)
        self.fs, self.root = fsspec.core.url_to_fs(self.location)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def files(self, kind: str, pattern: str) -> list[str]:
        """Files under <sink>/<kind> matching `pattern`, oldest first (names start with a UTC stamp)."""
        found = self.fs.glob(self.path(kind, pattern))
        return sorted(found, key=lambda path: path.rsplit("/", 1)[-1])

    def write(self, kind: str, suffix: str, data: bytes, *subdir: str) -> str:
        path = self.path(kind, *subdir, f"{stamp()}{suffix}")
        if isinstance(self.fs, LocalFileSystem):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(path).with_name(f".{Path(path).name}.tmp")  # readers glob *.parquet: never this
            tmp.write_bytes(data)
            tmp.replace(path)
        else:
            self.fs.pipe_file(path, data)
        return path

    def write_frame(self, kind: str, frame: pd.DataFrame, *subdir: str) -> str:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return self.write(kind, ".parquet", buffer.getvalue(), *subdir)

    def read_frames(self, paths: list[str]) -> pd.DataFrame | None:
        frames = [pd.read_parquet(self.fs.open(path, "rb")) for path in paths]
        return pd.concat(frames, ignore_index=True) if frames else None

    def read_text(self, path: str) -> str:
        return self.fs.cat_file(path).decode()


def stamp(now: datetime | None = None) -> str:
    """Sortable and unique across processes: UTC time, pid, random."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S%fZ}-{os.getpid()}-{secrets.token_hex(4)}"
