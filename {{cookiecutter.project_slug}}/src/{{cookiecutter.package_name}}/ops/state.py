"""Where machine-local state lives: `.mlops/` (deployments, the request log) and the sqlite registry.

Relative state paths resolve against MLOPS_STATE_ROOT when it is set, else the working directory.
`.github/act/run` sets it to the project, so act's copy of the tree (which leaves ignored files
out) works on the project's own registry, request log and local deployment, as production would.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_ROOT_ENV = "MLOPS_STATE_ROOT"


def state_path(path: str | Path) -> Path:
    """`path` under the state root (absolute paths are kept)."""
    path = Path(path)
    root = os.environ.get(STATE_ROOT_ENV)
    return (Path(root) / path if root and not path.is_absolute() else path).absolute()


def is_uri(location: str) -> bool:
    return "://" in location


def state_location(location: str) -> str:
    """A URI as it is, a path under the state root."""
    return location if is_uri(location) else str(state_path(location))
