"""`mlops template update`'s checks before and after cruft runs (the update itself is tested by the
template's own suite, against a template repository it changes)."""

import json
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.ops.errors import MlopsError
from {{ cookiecutter.package_name }}.ops.gitops.ownership import USER_OWNED
from {{ cookiecutter.package_name }}.ops.gitops.template_update import _conflicts, update

PROJECT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=tests", "-c", "user.email=tests@localhost")
    return subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "Makefile").write_text("all:\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "Bake")
    return tmp_path


def test_the_skip_list_names_paths_this_project_has():
    assert [path for path in USER_OWNED if not (PROJECT / path).exists()] == []


def test_an_unlinked_project_is_told_how_to_link_it(repo):
    with pytest.raises(MlopsError, match=r"\.cruft\.json not found .*`cruft link <template git url>`"):
        update(repo)


def test_uncommitted_changes_stop_the_update_before_anything_runs(repo):
    (repo / ".cruft.json").write_text(json.dumps({"template": str(repo), "commit": "0" * 40, "context": {}}))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Link")
    (repo / "Makefile").write_text("all: changed\n")
    with pytest.raises(MlopsError, match=r"uncommitted changes \(Makefile\): commit or stash them"):
        update(repo)
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_rejected_hunks_and_conflict_markers_are_conflicts(repo):
    (repo / "dvc.yaml.rej").write_text("@@ -1 +1 @@\n")
    (repo / "Makefile").write_text("<<<<<<< ours\nall:\n=======\nall: x\n>>>>>>> theirs\n")
    (repo / "clean.py").write_text("ok = '<<<<<<<'  # not at a line start\n")
    assert _conflicts(repo, ["dvc.yaml.rej", "Makefile", "clean.py"]) == ["Makefile", "dvc.yaml"]
