"""Data drift between the reference data and a current window, measured with Evidently 0.7.

Evidently's cost grows with the rows compared (1M x 30 takes ~2 minutes and 2.4 GB), while its
default numeric method (normed Wasserstein distance) barely moves under random sampling. So `check`
compares at most `monitoring.drift.sample_size` rows drawn from each side (seeded by `data.seed`):
a 1M-row window is checked in seconds, with the verdict of the full data (bench/drift.py measures it).
Evidently is imported here only; the CLI imports this module lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import Config
from ..pipeline.data import DataError, features

SHOWN_COLUMNS = 15
# Methods defined for one column type only; the other type keeps Evidently's automatic choice.
NUMERIC_ONLY, CATEGORICAL_ONLY = {"ks", "wasserstein"}, {"chisquare"}


@dataclass
class ColumnDrift:
    name: str
    method: str  # Evidently's name of the test, e.g. "Wasserstein distance (normed)"
    score: float  # a p-value (drift below the threshold) or a distance (drift at or above it)
    threshold: float
    drifted: bool


@dataclass
class DriftResult:
    drifted: bool  # share >= drift_share, Evidently's dataset-level rule
    share: float  # share of the checked columns that drifted
    drift_share: float
    columns: list[ColumnDrift]
    rows: tuple[int, int]  # (reference, current) rows compared, after sampling
    total_rows: tuple[int, int]  # (reference, current) rows before sampling
    sources: tuple[str, str]  # names of the reference and current data, for reports
    snapshot: Any = field(repr=False, default=None)  # evidently Snapshot, for save_html

    @property
    def drifted_columns(self) -> list[ColumnDrift]:
        return [col for col in self.columns if col.drifted]


def _require_columns(config: Config, frame: pd.DataFrame, source: str) -> None:
    missing = [name for name in config.data.columns if name not in frame.columns]
    if missing:
        raise DataError(f"{source}: columns declared in mlops.yaml data.columns are missing: {missing}")
    if frame.empty:
        raise DataError(f"{source}: no rows to check for drift")


def _sample(frame: pd.DataFrame, size: int | None, rng: np.random.Generator) -> pd.DataFrame:
    return frame if size is None or len(frame) <= size else frame.sample(n=size, random_state=rng)


def _preset(config: Config, columns: list[str]):
    from evidently.presets import DataDriftPreset

    drift = config.monitoring.drift
    method = None if drift.method == "auto" else drift.method
    kind = "num_" if method in NUMERIC_ONLY else "cat_" if method in CATEGORICAL_ONLY else ""
    options = {f"{kind}method": method, f"{kind}threshold": drift.column_threshold}
    return DataDriftPreset(columns=columns, drift_share=drift.drift_share, **options)


def _method_name(name: str, kind: str) -> str:
    """Evidently names a method it picked by its display name, one it was given by its short name."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    try:
        return get_registered_stattest(name, column_type).display_name
    except ValueError:  # already a display name
        return name


def _columns(config: Config, snapshot) -> tuple[float, list[ColumnDrift]]:
    """Evidently's drifted-column share and, per column, its ValueDrift score and test verdict."""
    result = snapshot.dict()
    failed = {t["metric_config"]["metric_id"] for t in result["tests"] if t["status"] == "FAIL"}
    share, columns = 0.0, []
    for metric in result["metrics"]:
        conf = metric["config"]
        if conf["type"].endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
        elif conf["type"].endswith(":ValueDrift"):
            method = _method_name(conf["method"], config.data.columns[conf["column"]].type)
            score, drifted = float(metric["value"]), metric["id"] in failed
            columns.append(ColumnDrift(conf["column"], method, score, conf["threshold"], drifted))
    return share, columns


def check(
    config: Config,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    sources: tuple[str, str] | None = None,
) -> DriftResult:
    """Compare the declared feature columns of `current` with `reference` (Evidently DataDriftPreset).

    Settings come from `monitoring.drift`. `method`: auto lets Evidently pick per column (K-S, or
    chi-square/Z for few values, up to 1000 reference rows; normed Wasserstein, or Jensen-Shannon for
    few values, above); ks and wasserstein apply to numeric columns and chisquare to categorical ones,
    the other type keeping auto; psi and jensenshannon apply to all. `column_threshold` goes with the
    method (with auto: to every column, whatever test is picked; None keeps each test's default).
    A column drifts by Evidently's test verdict; the dataset drifts when the drifted share reaches
    `drift_share`.

    Before the run, at most `sample_size` rows are drawn at random from each side (seed `data.seed`;
    None compares all rows): that keeps million-row windows fast and small in memory. Normed
    Wasserstein distances from 20,000 rows (the default) stay within about 0.015 of the full-data ones,
    so only a column that close to its threshold can get another verdict. `rows` and `total_rows` of
    the result tell how many rows were compared out of how many. `sources` names the data in errors
    and reports (default: `data.reference` and `data.current`); a side lacking a declared column
    raises DataError.
    """
    sources = sources or (config.data.reference, config.data.current)
    for frame, source in zip((reference, current), sources, strict=True):
        _require_columns(config, frame, source)
    rng, size = np.random.default_rng(config.data.seed), config.monitoring.drift.sample_size
    # Both sides as the model takes them (data.features): 2019 in a request and 2019.0 in a file agree.
    sides = zip((reference, current), sources, strict=True)
    ref, cur = (features(config, _sample(frame, size, rng), source) for frame, source in sides)
    share, columns, snapshot = _run(config, ref, cur)
    drift_share = config.monitoring.drift.drift_share
    return DriftResult(
        drifted=share >= drift_share,
        share=share,
        drift_share=drift_share,
        columns=columns,
        rows=(len(ref), len(cur)),
        total_rows=(len(reference), len(current)),
        sources=sources,
        snapshot=snapshot,
    )


def _run(config: Config, ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, list[ColumnDrift], Any]:
    from evidently import DataDefinition, Dataset, Report

    definition = DataDefinition(
        numerical_columns=config.data.names("numeric", "integer"),
        categorical_columns=config.data.names("categorical", "boolean"),
    )
    snapshot = Report([_preset(config, list(ref.columns))], include_tests=True).run(
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
        current_data=Dataset.from_pandas(cur, data_definition=definition),
    )
    return *_columns(config, snapshot), snapshot


def _severity(col: ColumnDrift) -> float:
    """How far past its threshold a drifted column is; p-value tests drift below it, distances above."""
    if col.score < col.threshold:
        return col.threshold / col.score if col.score > 0 else float("inf")
    return col.score / col.threshold if col.threshold > 0 else float("inf")


def _rows(compared: int, total: int) -> str:
    return f"{total:,}" if compared == total else f"{compared:,} sampled of {total:,}"


def markdown(result: DriftResult) -> str:
    """A verdict line and a table of the drifted columns (worst first), for a PR body or job summary."""
    drifted, total = result.drifted_columns, len(result.columns)
    verdict = "Drift detected" if result.drifted else "No dataset drift"
    lines = [
        f"### {verdict}: {len(drifted)} of {total} columns ({result.share:.0%}) drifted, "
        f"threshold {result.drift_share:.0%}",
        "",
        f"Reference `{result.sources[0]}` ({_rows(result.rows[0], result.total_rows[0])} rows) vs "
        f"current `{result.sources[1]}` ({_rows(result.rows[1], result.total_rows[1])} rows).",
    ]
    if drifted:
        lines += ["", "| column | method | score | threshold |", "|---|---|---|---|"]
        worst = sorted(drifted, key=_severity, reverse=True)
        lines += [f"| {c.name} | {c.method} | {c.score:.3g} | {c.threshold:g} |" for c in worst[:SHOWN_COLUMNS]]
        if len(worst) > SHOWN_COLUMNS:
            lines.append(f"| +{len(worst) - SHOWN_COLUMNS} more | | | |")
    return "\n".join(lines) + "\n"


def save_html(result: DriftResult, path: Path | str) -> Path:
    """Evidently's interactive HTML report, written via a temporary file (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    result.snapshot.save_html(str(tmp))  # evidently silently ignores a Path: pass a str
    tmp.replace(path)
    return path


def shift_window(frame: pd.DataFrame, columns: list[str], shift: float, seed: int) -> pd.DataFrame:
    """A demo "current window": `frame` resampled with replacement (same size, seeded), with the
    numeric `columns` moved by `shift` of their standard deviations; shift=0 is a plain resample.
    Every other column (the target too) is resampled unchanged.
    """
    bad = [name for name in columns if name not in frame or not pd.api.types.is_numeric_dtype(frame[name])]
    if bad:
        raise DataError(f"shift_window: columns missing or not numeric: {bad}")
    window = frame.sample(n=len(frame), replace=True, random_state=np.random.default_rng(seed))
    window = window.reset_index(drop=True)
    names = list(columns)
    window[names] = window[names] + shift * frame[names].std()
    return window
