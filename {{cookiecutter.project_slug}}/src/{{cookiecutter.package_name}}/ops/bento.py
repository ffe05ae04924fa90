"""Bento build: import the registry's model (by alias) into the BentoML store, then build the bento."""

from __future__ import annotations

import bentoml

from .config import Config
from .errors import MlopsError
from .registry import version_by_alias, version_by_number
from .tracking import connect

BENTOFILE = "bentofile.yaml"


def import_model(config: Config, alias: str, number: str | None = None) -> bentoml.Model:
    """The registry version `number`, or else the one `alias` names, into the BentoML store."""
    name = config.project.model_name
    version = version_by_number(config, number) if number else version_by_alias(config, alias)
    if version is None:
        wanted = f"version {number}" if number else f"{alias!r} version"
        raise MlopsError(f"model {name!r} has no {wanted} in {config.registry.tracking_uri}: run `mlops register`")
    connect(config)
    labels = {key: value for key, value in version.tags.items()} | {"registry_version": str(version.version)}
    return bentoml.mlflow.import_model(name, f"models:/{name}/{version.version}", labels=labels)


def build(config: Config, alias: str, number: str | None = None) -> tuple[bentoml.Model, bentoml.Bento]:
    model = import_model(config, alias, number)
    # model_md5 names the model's bytes: a bento is found again by it, whatever registry numbered it.
    labels = {key: model.info.labels.get(key, "") for key in ("registry_version", "model_md5")}
    labels["model"] = str(model.tag)
    bento = bentoml.bentos.build_bentofile(BENTOFILE, build_ctx=".", labels=labels)
    return model, bento
