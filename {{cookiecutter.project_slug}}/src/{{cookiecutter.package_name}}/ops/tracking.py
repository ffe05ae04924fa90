"""MLflow tracking: every evaluated model becomes a run with its params, metrics, lineage and model."""

from __future__ import annotations

import os
from importlib.metadata import version

import mlflow
import pandas as pd
import skops.io
from mlflow.models import infer_signature

from .config import Config

# Pinning requirements ourselves spares MLflow ~7 s of inferring them from an input example.
_SERVING_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "skops")


MODEL_URI_TAG = "model_uri"  # MLflow 3 keeps models apart from run artifacts: runs:/ URIs miss them


def connect(config: Config) -> None:
    # No calls home from pipelines and CI runners (they are often offline); set it to false to opt in.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(config.registry.tracking_uri)
    mlflow.set_experiment(config.registry.experiment)


def log_run(config: Config, model, scores: dict[str, float], sample: pd.DataFrame, tags: dict[str, str]) -> str:
    connect(config)
    with mlflow.start_run(run_name=f"train-{tags['git_commit'][:8]}") as run:
        mlflow.log_params({**config.training.params, "metric": config.training.metric})
        mlflow.log_metrics(scores)
        mlflow.set_tags(tags)
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(sample, model.predict(sample)),
            pip_requirements=[f"{name}=={version(name)}" for name in _SERVING_PACKAGES],
            # Types this run itself produced (e.g. numpy.dtype) that skops does not trust by default.
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        )
        mlflow.set_tag(MODEL_URI_TAG, logged.model_uri)
    return run.info.run_id
