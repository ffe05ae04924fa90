"""The DVC pipeline's stages: what each reads of mlops.yaml and which code it runs, declared once.

`mlops sync` writes dvc.yaml's `params:` and code `deps:` from this table (CI's `mlops sync --check`
fails when they disagree), so a config field or a module a stage uses cannot be forgotten there and
serve a stale model. tests/test_pipeline_deps.py runs each stage with a config that records what is
read, and checks the modules it imports, against these declarations.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]  # src/<package>
COMMANDS = "ops/cli/pipeline.py"  # where the stage commands live: every stage's code


@dataclass(frozen=True)
class Stage:
    reads: tuple[str, ...]  # dotted mlops.yaml fields; a field covers everything under it
    modules: tuple[str, ...]  # package modules the stage's command calls into (their imports follow)


STAGES = {
    # prepare validates what it splits: no stage of its own, one process less per run.
    "prepare": Stage(
        ("data.source", "data.test_share", "data.seed", "data.columns", "data.target", "validation"),
        ("ops.pipeline.data", "ops.pipeline.validate"),
    ),
    "train": Stage(("data.columns", "data.target", "training.params"), ("ops.pipeline.training",)),
    # Every metric of the task is computed: training.metric picks one later (report, gate), not here.
    "evaluate": Stage(
        ("data.columns", "data.target"), ("ops.pipeline.evaluate", "ops.pipeline.data", "ops.pipeline.training")
    ),
}


def params(stage: Stage, present: dict) -> list[str]:
    """The fields of `stage` that mlops.yaml sets (DVC fails on a listed param the file lacks; a default
    not written there is covered by config.py, a code dependency of every stage)."""
    return [field for field in stage.reads if _has(present, field)]


def _has(values: dict, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
    return True


def code(stage: Stage) -> list[str]:
    """Source files (and the user's model/ folder) the stage runs, relative to the project root."""
    seen: set[str] = set()
    todo = list(stage.modules)
    while todo:
        if (name := todo.pop()) not in seen:
            seen.add(name)
            todo.extend(_imports(name) + _packages(name))
    package = f"src/{PACKAGE.name}"
    files = {f"{package}/model" if name.split(".")[0] == "model" else f"{package}/{_file(name)}" for name in seen}
    return sorted(files | {f"{package}/{COMMANDS}"})


def _packages(module: str) -> list[str]:
    """The packages holding `module`: importing it runs their __init__.py first."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def _file(module: str) -> str:
    path = Path(*module.split("."))
    return (path / "__init__.py").as_posix() if (PACKAGE / path).is_dir() else f"{path.as_posix()}.py"


def _imports(module: str) -> list[str]:
    """Package modules `module` imports, anywhere in its body (lazy imports in functions too)."""
    parts = module.split(".")
    source = PACKAGE / _file(module)
    package = parts if source.name == "__init__.py" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:  # the package's own imports are relative
            target = [*package[: len(package) - node.level + 1], *(node.module or "").split(".")]
            target = [part for part in target if part]
            found += [target, *([*target, alias.name] for alias in node.names)]
    return [".".join(name) for name in found if name and _exists(name)]


def _exists(parts: list[str]) -> bool:
    path = PACKAGE.joinpath(*parts)
    return path.is_dir() or path.with_suffix(".py").is_file()


def synced(present: dict) -> dict:
    """Values for the `# mlops sync: stages.<name>.params|code` markers of dvc.yaml."""
    return {"stages": {name: {"params": params(s, present), "code": code(s)} for name, s in STAGES.items()}}
