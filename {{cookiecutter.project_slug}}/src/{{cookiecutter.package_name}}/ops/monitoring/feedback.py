"""Ground truth for served requests (`mlops feedback FILE`): stored by request id in the sink.

The file has `request_id` (returned by the service with every answer), optionally `row` (the row's
index in its request, default 0) and the target column. Labels are joined to the captured requests
when CT reads its window, so they may arrive before or after the requests are flushed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..config import Config
from ..pipeline.data import DataError, read_table
from .sink import Sink


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":  # ids are text: "0123" or "1e5" must not become numbers
        try:
            return pd.read_csv(path, dtype={"request_id": str})
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
    return read_table(path)


def _checked(config: Config, frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    target = config.data.target
    if missing := [name for name in ("request_id", target.column) if name not in frame]:
        raise DataError(f"{path}: lacks column(s) {missing} (feedback needs request_id and {target.column!r})")
    frame = frame.assign(row=frame["row"] if "row" in frame else 0)
    if frame["request_id"].isna().any() or frame[target.column].isna().any():
        raise DataError(f"{path}: request_id and {target.column!r} may not be empty")
    if target.values is not None and (bad := sorted(set(frame[target.column]) - set(target.values), key=str)):
        raise DataError(f"{path}: {target.column!r} has values {bad[:5]} outside data.target.values {target.values}")
    if not pd.api.types.is_integer_dtype(frame["row"]) or (frame["row"] < 0).any():
        raise DataError(f"{path}: column 'row' must hold row indexes (integers >= 0)")
    return frame.assign(request_id=frame["request_id"].astype(str), labelled_at=datetime.now(UTC))


def record(config: Config, path: Path) -> tuple[int, str]:
    """Store the labels of `path` in the sink; returns how many and where."""
    frame = _checked(config, _read(path), path)
    columns = ["request_id", "row", config.data.target.column, "labelled_at"]
    return len(frame), Sink(config).write_frame("feedback", frame[columns])
