"""MLflow model registry: register the evaluated model as `challenger`, promote it to `champion`."""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from .config import Config
from .data import TEST, features, read_table
from .errors import MlopsError
from .evaluate import read
from .lineage import file_md5, tags
from .tracking import MODEL_URI_TAG, connect, log_run
from .training import MODEL, load


class RegistryError(MlopsError):
    """The registry lacks what a command needs (a run for this model, an alias)."""


def _client(config: Config) -> MlflowClient:
    connect(config)
    return MlflowClient()


def _run_of_current_model(config: Config, client: MlflowClient):
    if not MODEL.exists():
        raise RegistryError(f"{MODEL} does not exist: run `dvc repro` first")
    experiment = client.get_experiment_by_name(config.registry.experiment)
    md5 = file_md5(MODEL)
    runs = client.search_runs(
        [experiment.experiment_id] if experiment else [],
        filter_string=f"tags.model_md5 = '{md5}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:  # e.g. DVC restored the outputs from its run cache into a fresh MLflow store
        return client.get_run(_log_current_model(config))
    return runs[0]


def _log_current_model(config: Config) -> str:
    """Log the run for the current pipeline outputs (model, test split, metrics.json) now."""
    sample = features(config, read_table(TEST)).head(5)
    return log_run(config, load(), read(), sample, tags(config, MODEL))


def _lineage(run_tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in run_tags.items() if not key.startswith("mlflow.")}


def register(config: Config) -> ModelVersion:
    """Register the run that logged the current model (once) and point the challenger alias at it."""
    client = _client(config)
    run = _run_of_current_model(config, client)
    name = config.project.model_name
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run.info.run_id}'")
    version = (
        existing[0]
        if existing
        else mlflow.register_model(run.data.tags[MODEL_URI_TAG], name, tags=_lineage(run.data.tags))
    )
    client.set_registered_model_alias(name, config.registry.challenger_alias, version.version)
    return version


def version_by_alias(config: Config, alias: str) -> ModelVersion | None:
    try:
        return _client(config).get_model_version_by_alias(config.project.model_name, alias)
    except MlflowException:
        return None


def version_by_number(config: Config, number: str) -> ModelVersion | None:
    try:
        return _client(config).get_model_version(config.project.model_name, number)
    except MlflowException:
        return None


def promote(config: Config, version: str | None = None) -> ModelVersion:
    """Point the champion alias at `version` (default: the challenger)."""
    client = _client(config)
    name, alias = config.project.model_name, config.registry.challenger_alias
    if version is None:
        challenger = version_by_alias(config, alias)
        if challenger is None:
            raise RegistryError(f"model {name!r} has no {alias!r} version: run `mlops register` first")
        version = challenger.version
    client.set_registered_model_alias(name, config.registry.champion_alias, version)
    return client.get_model_version(name, version)


def champion_metrics(config: Config) -> tuple[str, dict[str, float]] | None:
    """The champion's registry version and the metrics of its run (None without a champion)."""
    champion = version_by_alias(config, config.registry.champion_alias)
    if champion is None or not champion.run_id:
        return None
    return champion.version, dict(MlflowClient().get_run(champion.run_id).data.metrics)
