"""Real bentos for the deploy tests: one good model served by five bentos that differ in their code.

`build_bentos(base)` bakes the default project into `base`, installs it (`make setup`), runs the DVC
pipeline, `mlops register` and `mlops build` with a private BENTOML_HOME, then builds the variants
from a copy of the project's bento sources with one edit each to the service's predict (the same
model, the same store). Takes ~3 min here (setup ~1.5 min, pipeline ~25 s, ~3 s a variant).

`shared_bentos(tmp_path_factory, worker_id)` builds them once per test run for every xdist worker
(pytest-xdist's file-lock recipe for session fixtures); treat that project as read-only and use
`project_copy` for a project of your own, or `installed_copy` for one as `make setup` left it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from filelock import FileLock
from helpers import VENV_BIN, describe, make_ready_project, package_of, project_env, run

# The line of ops/serving/service.py every variant edits; fails loudly if the service changes shape.
FUTURE = "from __future__ import annotations\n"
ANCHOR = "        predictions = self.model.predict(to_frame(CONFIG, rows))\n"
VARIANTS = {
    # the same code again: a second good bento (a new tag) of the same model
    "good2": "",
    # every other request (on average) raises: BentoML answers 500
    "failing": "        if random.random() < 0.5:\n            raise RuntimeError('injected failure (test bento)')\n",
    "slow": "        time.sleep(0.3)\n",
    # 0/1 labels inverted: valid answers that never agree with the good model
    "disagreeing": "        predictions = 1 - predictions\n",
}


@dataclass(frozen=True)
class Bentos:
    project: Path  # the baked project, `make setup` done, pipeline run
    env: dict[str, str]  # project_env with BENTOML_HOME and the project's .venv/bin first on PATH
    bentoml_home: Path
    good: str  # bento tags
    good2: str
    failing: str
    slow: str
    disagreeing: str
    version: str  # the registry version every bento serves


def build_bentos(base: Path) -> Bentos:
    """Bake + `make setup` in `base`, then the pipeline and every bento (see the module docstring)."""
    return bentos_for(make_ready_project(base), base / "bentoml")


def bentos_for(project: Path, bentoml_home: Path) -> Bentos:
    """The pipeline, `mlops track`, `mlops register`, `mlops build` and the variants in an installed project."""
    path = f"{project / '.venv' / 'bin'}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    env = project_env(BENTOML_HOME=str(bentoml_home), PATH=path)
    run(["dvc", "repro"], project, env=env, timeout=600)
    run(["mlops", "track"], project, env=env, timeout=300)
    registered = run(["mlops", "register"], project, env=env, timeout=300)
    version = re.search(r"version (\d+) is @challenger", registered.stdout)
    assert version, describe("mlops register", project, 0, registered.stdout, registered.stderr)
    built = run(["mlops", "build"], project, env=env, timeout=300)
    good = re.search(r"built bento (\S+) with model (\S+)", built.stdout)
    assert good, describe("mlops build", project, 0, built.stdout, built.stderr)
    tags = {name: _build_variant(project, env, name, edit, version[1], good[2]) for name, edit in VARIANTS.items()}
    return Bentos(project, env, bentoml_home, good=good[1], version=version[1], **tags)


def _build_variant(project: Path, env: dict[str, str], name: str, edit: str, version: str, model: str) -> str:
    """`bentoml build` from a copy of the bento's sources with `edit` after the predict line, serving
    `model` (the bento argument `mlops build` sets) and labelled with the registry version it serves."""
    copy = project.parent / f"variant-{name}"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    for item in ("bentofile.yaml", "service.py", "mlops.yaml"):
        shutil.copy2(project / item, copy / item)
    shutil.copytree(project / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    service = copy / "src" / package_of(project) / "ops" / "serving" / "service.py"
    text = service.read_text()
    assert ANCHOR in text and FUTURE in text, f"{service} changed shape: the test bentos edit these lines:\n{ANCHOR}"
    service.write_text(text.replace(FUTURE, FUTURE + "import random\nimport time\n", 1).replace(ANCHOR, ANCHOR + edit))
    label = f"registry_version={version}"
    cmd = ["bentoml", "build", "--output", "tag", "--label", label, "--arg", f"model={model}"]
    built = run(cmd, copy, env=env, timeout=300)
    tag = re.search(r"__tag__:(\S+)", built.stdout)
    assert tag, describe("bentoml build", copy, 0, built.stdout, built.stderr)
    return tag[1]


def shared_bentos(tmp_path_factory, worker_id: str) -> Bentos:
    """`build_bentos` once per test run: the first worker builds, the others wait and reuse it."""
    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent
    done = root / "bentos" / "bentos.json"
    with FileLock(str(root / "bentos.lock")):
        if not done.exists():
            built = build_bentos(root / "bentos")
            done.write_text(json.dumps(asdict(built), default=str))
    saved = json.loads(done.read_text())
    return Bentos(**{**saved, "project": Path(saved["project"]), "bentoml_home": Path(saved["bentoml_home"])})


def project_copy(bentos: Bentos, into: Path) -> Bentos:
    """The bentos' project copied to `into` (its .venv linked, not copied: the same installed code)
    with its own MLflow store, DVC cache and state, and the same BentoML store."""
    copy = into / bentos.project.name
    shutil.copytree(bentos.project, copy, symlinks=True, ignore=shutil.ignore_patterns(".venv", ".mlops"))
    (copy / ".venv").symlink_to(bentos.project / ".venv", target_is_directory=True)
    return replace(bentos, project=copy)


def installed_copy(bentos: Bentos, into: Path) -> Path:
    """The bentos' project as it was right after `make setup` and its commit (hooks installed), copied
    to `into` (project_copy): tracked files back at that commit, everything else the pipeline, the
    registry and the bento builds made removed, the linked .venv kept. A second install of the same
    default bake would cost ~1 min and prove nothing new."""
    copy = project_copy(bentos, into).project
    run(["git", "checkout", "-q", "--", "."], copy)
    run(["git", "clean", "-fdxq", "-e", ".venv"], copy)
    return copy
