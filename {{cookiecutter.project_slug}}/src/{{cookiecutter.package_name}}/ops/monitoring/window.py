"""CT's current window: the requests the service captured since the last check, with their labels.

The window runs from the end of the last recorded check (at most `monitoring.window_hours` back) to
now, less the time a captured row may still be on its way to the sink. `data.current`, when set,
names a window file instead (e.g. an export from a warehouse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from ..config import Config
from ..pipeline.data import DataError, read_table
from .sink import Sink

KEY = ["request_id", "row"]


@dataclass
class Window:
    start: datetime
    end: datetime
    rows: pd.DataFrame  # the captured rows (features, request_id, row, captured_at, ...)
    labelled: pd.DataFrame  # those rows that have ground truth, with the target column
    source: str  # where the rows came from, for reports

    def describe(self) -> str:
        return f"{self.source} from {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


def in_flight(config: Config) -> timedelta:
    """How long a captured row may take to reach the sink (a file every flush_seconds, plus the write)."""
    return timedelta(seconds=2 * config.monitoring.capture.flush_seconds + 5)


def bounds(config: Config, last_end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """From the last check's end to shortly before now: rows still in flight belong to the next window."""
    end = now - in_flight(config)
    earliest = end - timedelta(hours=config.monitoring.window_hours)
    return (max(earliest, last_end) if last_end else earliest), end


def _days(start: datetime, end: datetime) -> list[str]:
    days, day = [], start.date()
    while day <= end.date():
        days.append(f"date={day:%Y-%m-%d}")
        day += timedelta(days=1)
    return days


def captured(sink: Sink, start: datetime, end: datetime) -> pd.DataFrame:
    """Captured rows with start <= captured_at < end (only the date partitions in range are read)."""
    paths = [path for day in _days(start, end) for path in sink.files("requests", f"{day}/*.parquet")]
    frame = sink.read_frames(paths)
    if frame is None:
        return pd.DataFrame(columns=[*KEY, "captured_at"])
    at = pd.to_datetime(frame["captured_at"], utc=True)
    return frame[(at >= start) & (at < end)].reset_index(drop=True)


def labels(sink: Sink, target: str) -> pd.DataFrame:
    """Every label received; a later label of the same request row wins."""
    frame = sink.read_frames(sink.files("feedback", "*.parquet"))
    if frame is None:
        return pd.DataFrame(columns=[*KEY, target])
    return frame.drop_duplicates(KEY, keep="last")[[*KEY, target]]


def load(config: Config, start: datetime, end: datetime) -> Window:
    target = config.data.target.column
    if config.data.current:
        rows = read_table(config.data.current)
        labelled = rows[rows[target].notna()] if target in rows else rows.iloc[:0]
        return Window(start, end, rows, labelled, f"`{config.data.current}`")
    sink = Sink(config)
    rows = captured(sink, start, end)
    if target in rows:
        raise DataError(f"{sink.location}: captured requests carry the target column {target!r}")
    labelled = rows.merge(labels(sink, target), on=KEY, how="inner")
    return Window(start, end, rows, labelled, f"requests captured in `{sink.location}`")
