"""Which bento a rollout ships: a given tag, or the bento of a registry alias (built when missing)."""

from __future__ import annotations

import bentoml
from bentoml.exceptions import NotFound

from ..config import Config
from ..registry.versions import version_by_alias, version_by_number
from ..serving.bento import build
from .target import Release, TargetError


def of_bento(tag: str) -> Release:
    try:
        bento = bentoml.bentos.get(tag)
    except NotFound:
        raise TargetError(f"bento {tag!r} is not in the BentoML store (`bentoml list`): run `mlops build`") from None
    return Release(str(bento.tag), bento.info.labels.get("registry_version"))


def of_registry(config: Config, alias: str, number: str | None = None) -> Release:
    """The newest bento of the model of registry version `number` (else the one `alias` names), matched
    by the model's md5 (version numbers differ between registries: a CI runner's, a laptop's); built
    when missing."""
    version = version_by_number(config, number) if number else version_by_alias(config, alias)
    if version is None:
        wanted = f"version {number}" if number else f"@{alias} version"
        raise TargetError(f"model {config.project.model_name!r} has no {wanted}: run `mlops register`")
    built = [
        bento
        for bento in _bentos(config.project.model_name)
        if bento.info.labels.get("model_md5") == version.tags.get("model_md5", "-")
    ]
    if built:
        newest = max(built, key=lambda bento: bento.creation_time)
        return Release(str(newest.tag), str(version.version))
    _, bento = build(config, alias, str(version.version))
    return Release(str(bento.tag), str(version.version))


def _bentos(name: str) -> list:
    try:
        return bentoml.bentos.list(name)
    except NotFound:  # a fresh store (a new runner) has none of this name yet
        return []
