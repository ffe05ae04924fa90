"""Fixtures of the template's tests; the plain functions behind them live in helpers.py.

  bake(**answers) -> Path      a baked project, cached per answers for the whole worker session:
                               treat it as read-only (copy it with `fresh_bake` or shutil to change it)
  fresh_bake(**answers) -> Path  a new bake in the test's own tmp dir: change it freely

A project installed for real (`make setup`, committed through its pre-commit hooks) comes from
helpers.make_ready_project, in a module-scoped fixture of the module that needs it (`--dist loadfile`
keeps a module on one worker, so it is built once).

xdist: every fixture writes below tmp_path_factory (one base directory per worker); nothing uses a
fixed path, so `pytest -n 2` can run any mix of these tests.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import bake as bake_into

# MLflow's client runs in this process too (test_deploy.py reads the registry): no telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# Longest first: `--dist loadfile --no-loadscope-reorder` hands modules to idle workers in collection
# order (xdist's default order is by test count), two at a time at the start. test_deploy.py leads:
# its worker builds the shared bentos (tests/bentos.py) while the other runs the act module, which
# needs none, so no later module waits on the bentos' lock. The long ones start at once instead of
# queueing behind quick ones at the end.
SLOWEST_FIRST = (
    "test_deploy.py",
    "test_workflows.py",
    "test_projects.py",
    "test_e2e.py",
    "test_team_mode.py",
    "test_first_day.py",
    "test_own_data.py",
    "test_local_target.py",
    "test_capture.py",
    "test_contract.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: module order kept


@pytest.fixture(scope="session")
def bake(tmp_path_factory) -> Callable[..., Path]:
    cache: dict[tuple, Path] = {}

    def baked(**answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in cache:
            cache[key] = bake_into(tmp_path_factory.mktemp("bake"), **answers)
        return cache[key]

    return baked


@pytest.fixture
def fresh_bake(tmp_path) -> Callable[..., Path]:
    counter = iter(range(1_000))

    def baked(**answers: str) -> Path:
        return bake_into(tmp_path / f"bake{next(counter)}", **answers)

    return baked


@pytest.fixture(scope="session")
def baked_ops(bake) -> types.ModuleType:
    """The `ops` package of a bake with default answers but its own package name (`cloud_targets`, so
    it never meets another bake's package in this worker), imported from its source. Every bake ships
    every target's module; each imports its cloud SDK (the template's venv has them) only when used."""
    src = str(bake(project_name="Cloud Targets") / "src")
    sys.path.insert(0, src)
    try:
        return importlib.import_module("cloud_targets.ops")
    finally:
        sys.path.remove(src)  # the imported package keeps its own __path__
