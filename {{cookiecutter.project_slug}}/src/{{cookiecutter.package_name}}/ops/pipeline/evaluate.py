"""Metrics of a model on the test split, and the gate a candidate must pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from ..config import LOWER_IS_BETTER, Config

METRICS_FILE = Path("metrics.json")


def _classification(model, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predicted = model.predict(X)
    scores = {"accuracy": skm.accuracy_score(y, predicted)}
    if len(model.classes_) == 2:
        scores["roc_auc"] = skm.roc_auc_score(y, model.predict_proba(X)[:, 1])
        scores["f1"] = skm.f1_score(y, predicted, pos_label=model.classes_[1])
    else:
        scores["roc_auc"] = skm.roc_auc_score(y, model.predict_proba(X), multi_class="ovr")
        scores["f1"] = skm.f1_score(y, predicted, average="macro")
    return scores


def _regression(model, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predicted = model.predict(X)
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(y, predicted))),
        "mae": skm.mean_absolute_error(y, predicted),
        "r2": skm.r2_score(y, predicted),
    }


def compute(config: Config, model, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    scores = (_classification if config.data.target.task == "classification" else _regression)(model, X, y)
    return {name: round(float(value), 6) for name, value in sorted(scores.items())}


def write(scores: dict[str, float], path: Path = METRICS_FILE) -> None:
    path.write_text(json.dumps(scores, indent=2) + "\n")


def read(path: Path = METRICS_FILE) -> dict[str, float]:
    return json.loads(path.read_text())


def gate(config: Config, candidate: dict[str, float], champion: dict[str, float] | None) -> list[str]:
    """Why the candidate may not ship (empty when it may)."""
    name, training = config.training.metric, config.training
    value, lower = candidate[name], name in LOWER_IS_BETTER
    problems = []
    if (value > training.min_metric) if lower else (value < training.min_metric):
        bound = "at most" if lower else "at least"
        problems.append(f"{name} = {value:.4f}, training.min_metric requires {bound} {training.min_metric}")
    if champion and name in champion:
        drop = (value - champion[name]) if lower else (champion[name] - value)
        if drop > training.max_regression:
            problems.append(
                f"{name} = {value:.4f} is {drop:.4f} worse than the champion's {champion[name]:.4f}"
                f" (training.max_regression {training.max_regression})"
            )
    return problems
