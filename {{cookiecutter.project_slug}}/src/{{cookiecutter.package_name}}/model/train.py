"""The estimator (user-owned: edit freely). `training.params` in mlops.yaml are its keyword arguments."""

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from .features import build_preprocessor


def build_estimator(task: str, params: dict) -> BaseEstimator:
    estimator = LogisticRegression if task == "classification" else Ridge
    return estimator(**params)


def build_pipeline(task: str, params: dict, numeric: list[str], categorical: list[str]) -> Pipeline:
    return Pipeline([("features", build_preprocessor(numeric, categorical)), ("model", build_estimator(task, params))])
