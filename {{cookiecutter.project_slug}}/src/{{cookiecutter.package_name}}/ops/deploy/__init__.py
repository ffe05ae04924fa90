"""CD: the canary controller and its targets (one module each, imported only when chosen)."""

from __future__ import annotations

from importlib import import_module

from ..config import Config
from .target import Target, TargetError

# name -> "module:Class"; a new platform is one module and one line here.
TARGETS = {
    "local": "local:LocalTarget",
    "aws": "sagemaker:SageMakerTarget",
    "gcp": "vertex:VertexTarget",
    "azure": "azureml:AzureMLTarget",
    "kubernetes": "kserve:KServeTarget",
    "fake": "fake:FakeTarget",
}


def make_target(config: Config, name: str | None = None) -> Target:
    """The target `name` (default: deploy.target). An unknown or unbuilt one is an error, never a fallback."""
    name = name or config.deploy.target
    if name not in TARGETS:
        raise TargetError(f"deploy target {name!r} is not available in this version (have: {', '.join(TARGETS)})")
    module, cls = TARGETS[name].split(":")
    target = getattr(import_module(f"{__name__}.{module}"), cls)
    return target() if name == "fake" else target(config)
