"""CT's check of one window: data drift OR a drop of the champion's metric on labelled rows, and the
flap guard (retrain only when `trigger.violations` of the last `trigger.windows` checks violated).

Every check is recorded in the sink (`checks/`), so the next run, on a fresh runner, knows where
the last window ended and how the earlier windows went.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from ..config import LOWER_IS_BETTER, Config
from .sink import Sink
from .window import Window


@dataclass
class Check:
    start: str  # ISO UTC bounds of the window
    end: str
    rows: int
    labelled: int
    drifted: bool
    drift_share: float
    metric: str
    value: float | None  # the champion's metric on the labelled rows (None: too few labels)
    trained: float | None  # its metric on the test split when it was trained
    reasons: list[str] = field(default_factory=list)  # why this window violates (empty: it does not)

    @property
    def violated(self) -> bool:
        return bool(self.reasons)


def metric_reasons(config: Config, value: float | None, trained: float | None) -> list[str]:
    """Why the champion's metric on recent labelled rows is a concept-drift violation."""
    if value is None:
        return []
    name, lower = config.training.metric, config.training.metric in LOWER_IS_BETTER
    reasons, floor = [], config.training.min_metric
    if (value > floor) if lower else (value < floor):
        reasons.append(f"{name} {value:.4f} on labelled rows is {'above' if lower else 'below'} min_metric {floor}")
    share = config.monitoring.max_metric_drop  # relative: one setting fits AUC and RMSE alike
    if trained and ((value - trained) if lower else (trained - value)) > share * abs(trained):
        worse = f"over {share:.0%} worse than at training ({trained:.4f})"
        reasons.append(f"{name} {value:.4f} on labelled rows is {worse}")
    return reasons


def champion_metric(config: Config, model, labelled: pd.DataFrame) -> float | None:
    """The champion's metric on the labelled rows; None with too few of them, or one class only."""
    from ..pipeline.data import features
    from ..pipeline.evaluate import compute

    if len(labelled) < config.monitoring.min_rows:
        return None
    y = labelled[config.data.target.column]
    if config.data.target.task == "classification" and y.nunique() < 2:
        return None
    try:
        return compute(config, model, features(config, labelled, "the labelled window"), y)[config.training.metric]
    except ValueError:  # e.g. a label the model never saw
        return None


def evaluate(config: Config, window: Window, drift, model, trained: float | None) -> Check:
    value = champion_metric(config, model, window.labelled) if model is not None else None
    reasons = metric_reasons(config, value, trained)
    if drift.drifted:
        reasons.insert(0, f"data drift in {len(drift.drifted_columns)} of {len(drift.columns)} columns")
    return Check(
        start=window.start.isoformat(),
        end=window.end.isoformat(),
        rows=len(window.rows),
        labelled=len(window.labelled),
        drifted=drift.drifted,
        drift_share=drift.share,
        metric=config.training.metric,
        value=value,
        trained=trained,
        reasons=reasons,
    )


def history(sink: Sink, count: int) -> list[Check]:
    """The last `count` recorded checks, oldest first."""
    paths = sink.files("checks", "*.json")[-count:] if count else []
    return [Check(**json.loads(sink.read_text(path))) for path in paths]


def last_end(sink: Sink) -> datetime | None:
    (last,) = history(sink, 1) or [None]
    return datetime.fromisoformat(last.end).astimezone(UTC) if last else None


def record(sink: Sink, check: Check) -> str:
    return sink.write("checks", ".json", json.dumps(asdict(check), indent=2).encode())


def retrain(config: Config, earlier: list[Check], check: Check) -> tuple[bool, str]:
    """The flap guard over this check and the ones before it."""
    trigger = config.monitoring.trigger
    recent = [*earlier[-(trigger.windows - 1) :], check] if trigger.windows > 1 else [check]
    violated = sum(item.violated for item in recent)
    verdict = violated >= trigger.violations
    outcome = "retrain" if verdict else "no retraining"
    return verdict, (
        f"{violated} of the last {len(recent)} window(s) violated; "
        f"the trigger retrains at {trigger.violations} of {trigger.windows}: {outcome}"
    )


def markdown(config: Config, window: Window, check: Check, verdict: str) -> str:
    """The concept-drift lines of the report (the drift table comes from drift.markdown)."""
    name = config.training.metric
    if check.value is None:
        labelled = f"{check.labelled} labelled row(s): too few (min_rows {config.monitoring.min_rows}) to score"
    else:
        trained = f" (at training: {check.trained:.4f})" if check.trained is not None else ""
        labelled = f"champion's **{name}** on {check.labelled} labelled rows: **{check.value:.4f}**{trained}"
    lines = [
        f"### Window: {check.rows:,} captured rows, {window.describe()}",
        "",
        f"- {labelled}",
        *(f"- violation: {reason}" for reason in check.reasons),
        f"- trigger: {verdict}",
    ]
    return "\n".join(lines) + "\n"
