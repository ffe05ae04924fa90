"""The train step: fit the user's pipeline (model/train.py) on the prepared training split."""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

from ...model.train import build_pipeline
from ..config import Config
from ..errors import MlopsError
from .data import TRAIN, features, read_table

MODEL = Path("models/model.joblib")


class TrainingError(MlopsError):
    """The estimator could not be built or fitted; str() names the config field."""


def build(config: Config) -> Pipeline:
    """model/train.py's pipeline with training.params, unfitted."""
    data = config.data
    try:
        return build_pipeline(
            data.target.task, dict(config.training.params), data.numeric_inputs(), data.names("categorical")
        )
    except TypeError as exc:
        hint = _accepted(config)
        raise TrainingError(f"mlops.yaml training.params: not accepted by the estimator: {exc}{hint}") from None


def _accepted(config: Config) -> str:
    """What the estimator of this task does accept (model/train.py's pipeline, its last step)."""
    data = config.data
    try:
        estimator = build_pipeline(data.target.task, {}, data.numeric_inputs(), data.names("categorical"))[-1]
        return f" ({type(estimator).__name__} accepts {', '.join(sorted(estimator.get_params(deep=False)))})"
    except Exception:  # model/train.py is the user's: no hint rather than a second error
        return ""


def check(config: Config) -> None:
    """Build the pipeline and validate every step's params as fit would (sklearn checks types and
    ranges only at fit), without data."""
    pipeline = build(config)
    steps = [pipeline, *(value for value in pipeline.get_params().values() if isinstance(value, BaseEstimator))]
    for step in steps:
        try:
            getattr(step, "_validate_params", lambda: None)()
        except InvalidParameterError as exc:
            raise TrainingError(f"mlops.yaml training.params: {exc}") from None


def fit(config: Config) -> Pipeline:
    train = read_table(TRAIN)
    pipeline = build(config)
    pipeline.fit(features(config, train), train[config.data.target.column])
    return pipeline


def save(pipeline: Pipeline, path: Path = MODEL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(pipeline, tmp)
    tmp.replace(path)
    return path


def load(path: Path = MODEL) -> Pipeline:
    return joblib.load(path)
