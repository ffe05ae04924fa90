"""MLflow model registry: track the evaluated model as a run, register that run as `challenger`,
promote it to `champion`.

A registry version stands for the model's bytes (the `model_md5` tag): registering the same bytes
again, from another clone or after `dvc repro -f`, moves the alias to the version they already have.
Every function here raises RegistryError (one line) when the registry cannot be reached or refuses.
"""

from __future__ import annotations

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ..config import Config
from ..errors import MlopsError
from ..pipeline.data import TEST, features, read_table
from ..pipeline.evaluate import METRICS_FILE, read
from ..pipeline.training import MODEL, load
from .lineage import file_md5, stale_outputs, tags
from .tracking import MODEL_URI_TAG, RegistryError, connect, log_run, registry_call, run_of_model, shown, tracking_uri

__all__ = ["RegistryError", "champion_metrics", "promote", "register", "track", "version_by_alias", "version_by_number"]
_MISSING = "RESOURCE_DOES_NOT_EXIST"


def _client(config: Config) -> MlflowClient:
    connect(config)
    return MlflowClient()


def _current_md5() -> str:
    if not MODEL.exists():
        raise RegistryError(f"{MODEL} does not exist: run `dvc repro` first")
    return file_md5(MODEL)


def _run_of_current_model(config: Config, client: MlflowClient, md5: str):
    if (run := run_of_model(config, client, md5)) is None:
        raise RegistryError(f"no MLflow run has logged {MODEL} (md5 {md5}): run `mlops track` first")
    return run


def track(config: Config) -> str:
    """The run of the current pipeline outputs (model, test split, metrics.json), logged unless it is."""
    _current_md5()
    if not METRICS_FILE.exists():
        raise RegistryError(f"{METRICS_FILE} does not exist: run `dvc repro` first")
    if stale := stale_outputs(MODEL, TEST, METRICS_FILE):  # the run must log what the pipeline made
        raise RegistryError(f"{', '.join(stale)} differ from what dvc.lock recorded: run `dvc repro` first")
    sample = features(config, read_table(TEST)).head(5)
    return log_run(config, load(), read(), sample, tags(config, MODEL))


def _lineage(run_tags: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in run_tags.items() if not key.startswith("mlflow.")}


def _version_of_model(client: MlflowClient, name: str, md5: str) -> ModelVersion | None:
    """The first version registered with these model bytes."""
    found = client.search_model_versions(f"name = '{name}' and tags.model_md5 = '{md5}'")
    return min(found, key=lambda version: int(version.version), default=None)


@registry_call
def register(config: Config) -> ModelVersion:
    """The registry version of the current model (registered once per model_md5), now @challenger."""
    client = _client(config)
    name, md5 = config.project.model_name, _current_md5()
    version = _version_of_model(client, name, md5)
    if version is None:
        run = _run_of_current_model(config, client, md5)
        version = mlflow.register_model(run.data.tags[MODEL_URI_TAG], name, tags=_lineage(run.data.tags))
    client.set_registered_model_alias(name, config.registry.challenger_alias, version.version)
    return version


@registry_call
def version_by_alias(config: Config, alias: str) -> ModelVersion | None:
    """The version `alias` points at; None when the model or the alias does not exist (yet)."""
    client, name = _client(config), config.project.model_name
    try:
        number = client.get_registered_model(name).aliases.get(alias)
    except MlflowException as exc:
        if exc.error_code != _MISSING:
            raise
        return None
    return None if number is None else client.get_model_version(name, str(number))


@registry_call
def version_by_number(config: Config, number: str) -> ModelVersion | None:
    try:
        return _client(config).get_model_version(config.project.model_name, number)
    except MlflowException as exc:
        if exc.error_code != _MISSING:
            raise
        return None


@registry_call
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


@registry_call
def champion_metrics(config: Config) -> tuple[str, dict[str, float]] | None:
    """The champion's registry version and the metrics of its run (None without a champion)."""
    champion = version_by_alias(config, config.registry.champion_alias)
    if champion is None or not champion.run_id:
        return None
    return champion.version, dict(_client(config).get_run(champion.run_id).data.metrics)


def registry_version(config: Config, alias: str, number: str | None = None) -> ModelVersion:
    """The registry version `number`, or else the one `alias` names."""
    version = version_by_number(config, number) if number else version_by_alias(config, alias)
    if version is None:
        wanted = f"version {number}" if number else f"{alias!r} version"
        name = config.project.model_name
        where = shown(tracking_uri(config))
        # Only `register` makes versions; the champion alias is set by a deploy (or `mlops promote`).
        champion = not number and alias == config.registry.champion_alias
        promote = "`mlops promote` makes the challenger the champion (`make deploy` does)"
        fix = promote if champion else "run `mlops register`"
        raise MlopsError(f"model {name!r} has no {wanted} in {where}: {fix}")
    return version
