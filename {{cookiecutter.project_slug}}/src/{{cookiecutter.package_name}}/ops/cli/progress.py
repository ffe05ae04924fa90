"""The live bar of a long `mlops` step (rows, rows/s, ETA), or a few log lines where there is no
terminal. Its own module: rich.progress costs every `mlops` command ~0.07 s to import."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from .common import err

LOG_STEPS = 10  # in a log, one progress line per tenth of the input


@contextmanager
def progress(stream):
    """A live bar (rows, rows/s, ETA) in a terminal. In a log (not a terminal, or GITHUB_ACTIONS: act
    gives steps a terminal) at most LOG_STEPS lines, so a long run does not flood it."""
    if err.is_terminal and not os.environ.get("GITHUB_ACTIONS"):
        with _bar(stream) as tick:
            yield tick
    else:
        yield _log_lines(stream)


@contextmanager
def _bar(stream):
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), _Rows(), TimeRemainingColumn())
    with Progress(*columns, console=err) as bar:
        name = stream.location.rsplit("/", 1)[-1]  # a bar line must fit the terminal
        task = bar.add_task(f"Predicting {name}", total=stream.total or None, rows=0)
        done = [0]

        def tick(rows: int) -> None:
            done[0] += rows
            bar.update(task, completed=stream.position(), rows=done[0])

        yield tick


class _Rows(ProgressColumn):
    """Rows predicted and rows per second (the bar itself may count bytes of a CSV)."""

    def render(self, task) -> Text:
        rows, elapsed = task.fields.get("rows", 0), task.elapsed or 0
        rate = f" {rows / elapsed:,.0f}/s" if elapsed > 0 else ""
        return Text(f"{rows:,} rows{rate}", style="progress.data.speed")


def _log_lines(stream) -> Callable[[int], None]:
    started, done, shown = time.monotonic(), [0], [0]

    def tick(rows: int) -> None:
        done[0] += rows
        share = stream.position() / stream.total if stream.total else 1.0
        if int(share * LOG_STEPS) <= shown[0]:
            return
        shown[0] = int(share * LOG_STEPS)
        elapsed = time.monotonic() - started
        rate = done[0] / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - share) / share if share > 0 else 0.0
        err.print(f"predicted {done[0]:,} rows ({share:.0%}, {rate:,.0f} rows/s, ETA {eta:.0f} s)", highlight=False)

    return tick
