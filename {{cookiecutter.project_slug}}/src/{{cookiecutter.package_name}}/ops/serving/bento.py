"""Bento build: import the registry's model (by alias or version) into the BentoML store, then build the bento.

The service serves the stored model the bento argument `model` names (`--arg model=<tag>`): `mlops
build` records it in the bento, `mlops serve` / `mlops smoke` pass it to `bentoml serve`. Never
`<name>:latest`, which is whatever was imported last into this machine's store.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from pathlib import Path

import bentoml
import yaml
from bentoml.exceptions import NotFound
from mlflow.entities.model_registry import ModelVersion

from ..config import Config
from ..errors import MlopsError
from ..monitoring.capture import SINK_PACKAGES
from ..registry.tracking import connect, reaching, tracking_uri
from ..registry.versions import registry_version
from ..state import is_uri

BENTOFILE = "bentofile.yaml"
MODEL_ARG = "model"  # the bento argument ops/serving/service.py reads (it cannot import this module in a bento)


def model_tag(config: Config, version: ModelVersion) -> str:
    """The store tag of a registry version: its number and its model's md5 (the same number names
    other bytes in another registry, a CI runner's or a laptop's, sharing this store)."""
    identity = version.tags.get("model_md5") or version.run_id or "unknown"
    return f"{config.project.model_name}:v{version.version}-{identity[:12]}"


def import_model(config: Config, alias: str, number: str | None = None) -> bentoml.Model:
    """The registry's model into the BentoML store (once per tag: it is kept and reused)."""
    version = registry_version(config, alias, number)
    tag = model_tag(config, version)
    try:
        return bentoml.models.get(tag)
    except NotFound:
        pass
    connect(config)
    labels = dict(version.tags) | {"registry_version": str(version.version)}
    uri = f"models:/{config.project.model_name}/{version.version}"
    with reaching(tracking_uri(config)):  # the download: the server may refuse or drop out here too
        return bentoml.mlflow.import_model(tag, uri, labels=labels)


def sink_packages(config: Config) -> list[str]:
    """The filesystem package a bucket sink needs in the bento (pinned as installed here)."""
    sink = config.monitoring.capture.sink
    package = SINK_PACKAGES.get(sink.split("://", 1)[0]) if is_uri(sink) else None
    if package is None:
        return []
    try:
        return [f"{package}=={installed(package)}"]
    except PackageNotFoundError:
        raise MlopsError(
            f"monitoring.capture.sink {sink} needs {package}: install the extra of deploy.target (`make setup`)"
        ) from None


def build(config: Config, alias: str, number: str | None = None) -> tuple[bentoml.Model, bentoml.Bento]:
    model = import_model(config, alias, number)
    spec = yaml.safe_load(Path(BENTOFILE).read_text())
    spec.setdefault("python", {}).setdefault("packages", []).extend(sink_packages(config))
    # model_md5 names the model's bytes: a bento is found again by it, whatever registry numbered it.
    labels = spec.pop("labels", {}) | {key: model.info.labels.get(key, "") for key in ("registry_version", "model_md5")}
    labels["model"] = str(model.tag)
    bento = bentoml.bentos.build(**spec, labels=labels, build_ctx=".", args={MODEL_ARG: str(model.tag)})
    return model, bento
