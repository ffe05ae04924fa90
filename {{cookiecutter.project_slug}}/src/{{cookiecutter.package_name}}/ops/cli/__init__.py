"""`mlops`: the commands the DVC pipeline, the Makefile and the workflows call, one module per area.

Heavy libraries (scikit-learn, MLflow, BentoML) are imported inside the commands that need them,
so `mlops config check` and friends start fast.
"""

from __future__ import annotations

from . import batch, deploy, monitoring, pipeline, project, registry, review, serving  # noqa: F401  (registers commands)
from .common import app


def main() -> None:
    app()
