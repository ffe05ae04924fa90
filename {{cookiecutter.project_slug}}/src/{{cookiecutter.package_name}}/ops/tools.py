"""The command-line tools of this environment (the project's .venv)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def executable(name: str) -> str:
    """`name` beside this Python (the venv's bin, which is not on PATH when `.venv/bin/mlops` is run
    directly), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name
