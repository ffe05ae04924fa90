"""The rollout as a table: live in the terminal, one line per check in CI logs, markdown for the job summary."""

from __future__ import annotations

from dataclasses import replace
from itertools import groupby

from rich.table import Table

from .controller import Row

COLUMNS = ("step", "traffic", "requests", "error rate", "p95", "agreement", "verdict")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def cells(row: Row) -> tuple[str, ...]:
    traffic = "mirror" if row.phase == "shadow" else f"{row.percent}%"
    verdict = row.verdict + (f": {'; '.join(row.reasons)}" if row.reasons else "")
    return (row.phase, traffic, str(row.requests), _pct(row.error_rate), _ms(row.p95_ms), _pct(row.agreement), verdict)


def per_step(rows: list[Row]) -> list[Row]:
    """The last check of each step, with the step's total requests (what a summary needs)."""
    merged = []
    for _, group in groupby(rows, key=lambda row: (row.phase, row.percent)):
        checks = list(group)
        last = checks[-1]
        total = sum(row.requests for row in checks if row.verdict != "wait")
        merged.append(replace(last, requests=total + (last.requests if last.verdict == "wait" else 0)))
    return merged


def live(rows: list[Row], title: str, tail: int = 12) -> Table:
    table = Table(*COLUMNS, title=title)
    for row in rows[-tail:]:
        table.add_row(*cells(row))
    return table


def markdown(rows: list[Row], title: str) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in per_step(rows)]
    return "\n".join(lines) + "\n"
