"""dvc.yaml's dependencies are complete: what each stage reads of mlops.yaml and of the code is
declared in ops/pipeline/stages.py, checked here against what the stage really reads and imports, written
into dvc.yaml by `mlops sync`, and seen by the real `dvc status` when one field changes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from {{ cookiecutter.package_name }}.ops.pipeline.stages import STAGES, code, synced
from {{ cookiecutter.package_name }}.ops.sync import synced_text

PACKAGE = "{{ cookiecutter.package_name }}"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # dvc and mlops of this environment


def stage_commands() -> dict[str, list[str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: shlex.split(stage["cmd"])[1:] for name, stage in stages.items()}


def test_dvc_yaml_lists_what_ops_stages_declares(config):
    text = (ROOT / "dvc.yaml").read_text()
    present = config.model_dump(exclude_unset=True)
    assert synced_text(text, synced(present)) == text, "dvc.yaml is stale: run `mlops sync`"
    assert set(stage_commands()) == set(STAGES)


class Recording:
    """A config that records the dotted path of every field read through it (methods included)."""

    def __init__(self, model: BaseModel, reads: set[str], path: str = "") -> None:
        self._model, self._reads, self._path = model, reads, path

    def __getattr__(self, name: str):
        value = getattr(self._model, name)
        path = f"{self._path}.{name}" if self._path else name
        if isinstance(value, types.MethodType):  # e.g. data.names(): its reads go through the recording
            return types.MethodType(value.__func__, self)
        if isinstance(value, BaseModel):
            return Recording(value, self._reads, path)
        self._reads.add(path)
        return value


def run_stage(args: list[str]) -> None:
    """Run one stage command as dvc.yaml does, with a recording config; print its reads and the package
    modules it imported. Called in a fresh interpreter (see `observed`)."""
    from {{ cookiecutter.package_name }}.ops.cli import app, pipeline
    from {{ cookiecutter.package_name }}.ops.config import load_config

    reads: set[str] = set()
    pipeline.config_at = lambda path: Recording(load_config(path), reads)
    before = set(sys.modules)
    app(args, standalone_mode=False)
    modules = sorted(name.removeprefix(f"{PACKAGE}.") for name in set(sys.modules) - before if name.startswith(PACKAGE))
    print("\nOBSERVED " + json.dumps({"reads": sorted(reads), "modules": modules}))


@pytest.fixture(scope="module")
def pipeline_copy(tmp_path_factory) -> Path:
    """A git + DVC copy of the project's pipeline: data, code, mlops.yaml, dvc.yaml (no outputs yet)."""
    project = tmp_path_factory.mktemp("dvc") / "project"
    keep = ("data", "src", ".dvc", "dvc.yaml", "mlops.yaml", ".dvcignore")
    shutil.copytree(ROOT, project, ignore=lambda d, names: [n for n in names if d == str(ROOT) and n not in keep])
    for leftover in ("data/prepared", ".dvc/cache", ".dvc/tmp"):
        shutil.rmtree(project / leftover, ignore_errors=True)
    shutil.copy(project / "data" / "raw.csv", project / "data" / "copy.csv")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


@pytest.fixture(scope="module")
def observed(pipeline_copy) -> dict[str, dict]:
    """Each stage run in turn in the copy, in a fresh interpreter each."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    found = {}
    for name, args in stage_commands().items():
        script = f"import test_pipeline_deps as t; t.run_stage({args!r})"
        out = subprocess.run([sys.executable, "-c", script], cwd=pipeline_copy, env=env, capture_output=True, text=True)
        assert out.returncode == 0, f"stage {name} failed:\n{out.stdout}\n{out.stderr}"
        found[name] = json.loads(out.stdout.rsplit("\nOBSERVED ", 1)[1])
    return found


def covered(read: str, declared: tuple[str, ...]) -> bool:
    return any(read == field or read.startswith(f"{field}.") for field in declared)


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_declares_exactly_the_fields_it_reads(observed, name):
    declared, reads = STAGES[name].reads, observed[name]["reads"]
    assert [read for read in reads if not covered(read, declared)] == [], f"{name} reads undeclared fields"
    unread = [field for field in declared if not any(covered(read, (field,)) for read in reads)]
    assert unread == [], f"{name} declares fields it does not read"


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_depends_on_every_module_it_imports(observed, name):
    files = code(STAGES[name])
    src = f"src/{PACKAGE}"
    for module in observed[name]["modules"]:
        path = Path(src, *module.split("."))
        assert any(path.as_posix() == f.removesuffix(".py") or path.is_relative_to(f) for f in files), (
            f"{name} imports {module}, not among its code deps {files}"
        )


# --- the real dvc: one change at a time, which stages does `dvc status` see changed? -----------------

ALL = {"prepare", "train", "evaluate"}
CHANGES = {
    "data.source": ({"prepare"}, lambda raw: raw["data"].update(source="data/copy.csv")),
    "data.test_share": ({"prepare"}, lambda raw: raw["data"].update(test_share=0.3)),
    "data.seed": ({"prepare"}, lambda raw: raw["data"].update(seed=7)),
    "data.columns": (ALL, lambda raw: raw["data"]["columns"].pop(next(iter(raw["data"]["columns"])))),
    "data.target": (ALL, lambda raw: raw["data"]["target"].update(values=[1, 0])),
    # prepare validates what it splits; the same splits come out, so train and evaluate stay put
    "validation": ({"prepare"}, lambda raw: raw["validation"].update(max_missing_share=0.02)),
    "training.params": ({"train"}, lambda raw: raw["training"]["params"].update(max_iter=999)),
    # The report and the gate pick training.metric out of metrics.json, which has every metric.
    "training.metric": (set(), lambda raw: raw["training"].update(metric="accuracy")),
    "training.min_metric": (set(), lambda raw: raw["training"].update(min_metric=0.5)),
    "serving": (set(), lambda raw: raw["serving"].update(max_batch_size=7)),
}
CODE_CHANGES = {
    "model/train.py": {"train", "evaluate"},
    "ops/pipeline/data.py": ALL,
    "ops/pipeline/validate.py": {"prepare"},
    "ops/pipeline/evaluate.py": {"evaluate"},
}


def dvc(project: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run([BIN / "dvc", *args], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"dvc {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def reproduced(pipeline_copy, observed) -> Path:
    """The copy with the outputs its stages wrote (`observed`) recorded in dvc.lock by `dvc commit`,
    as `dvc repro` records them, without running the stages a second time."""
    dvc(pipeline_copy, "commit", "--force", "--quiet")
    assert changed_stages(pipeline_copy) == set(), "dvc.lock does not match the outputs"
    return pipeline_copy


def changed_stages(project: Path) -> set[str]:
    """What `dvc status` reports, through DVC's own API (the CLI would spend 1-2 s starting up)."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:  # keys are "<dvc.yaml relative to the cwd>:<stage>"
        return {key.rsplit(":", 1)[-1] for key in repo.status()}


@pytest.mark.parametrize("field", list(CHANGES))
def test_changing_a_field_changes_exactly_the_stages_that_read_it(reproduced, field):
    expected, change = CHANGES[field]
    path = reproduced / "mlops.yaml"
    original = path.read_text()
    raw = yaml.safe_load(original)
    change(raw)
    try:
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        assert changed_stages(reproduced) == expected
    finally:
        path.write_text(original)


@pytest.mark.parametrize("module", list(CODE_CHANGES))
def test_changing_a_module_changes_exactly_the_stages_that_run_it(reproduced, module):
    path = reproduced / "src" / PACKAGE / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# changed\n")
        assert changed_stages(reproduced) == CODE_CHANGES[module]
    finally:
        path.write_text(original)
