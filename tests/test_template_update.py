"""Template updates: every bake is linked to its template (.cruft.json) and `mlops template update`
brings later template versions, skipping the user's files and changing nothing on a conflict.

Each test works on its own git clone of a snapshot of this template (its working tree, committed),
changes it as a maintainer would (a commit), bakes from it with plain cookiecutter, commits the bake
as a user would and runs the bake's `mlops` from its source with the template's venv (cruft is
installed there). The pull request path runs against the GitHub stand-in, pushing to a bare repo.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from github_standin import GitHubStandIn
from helpers import DEFAULT_PACKAGE, PYTHON, ROOT, VENV_BIN, bake, git_commit, package_of, run, template_venv_env

PROJECT_DIR = "{{cookiecutter.project_slug}}"  # inside the template
USER_OWNED = ["mlops.yaml", f"src/{DEFAULT_PACKAGE}/model", "data", "docs/deploy"]
REPO = "acme/model"
TOKEN = "ghs_" + "upd4te" * 7


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """This template's working tree (what the tests test, uncommitted edits included) as a git repo."""
    base = tmp_path_factory.mktemp("template") / "base"
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a deleted file is still listed until the deletion is staged
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, base / name)
    run(["git", "init", "-q", "-b", "main"], base)
    git_commit(base, "Template v1")
    return base


@pytest.fixture
def template(snapshot, tmp_path) -> Path:
    """A clone of the snapshot this test may change (commit with `release`)."""
    clone = tmp_path / "template"
    run(["git", "clone", "-q", str(snapshot), str(clone)], tmp_path)
    return clone


def release(template: Path, edits: dict[str, str], message: str = "Template v2") -> str:
    """Append `text` to each template file (path below the project folder), commit; the new commit."""
    for path, text in edits.items():
        file = template / PROJECT_DIR / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text((file.read_text() if file.exists() else "") + text)
    git_commit(template, message)
    return head(template)


def head(repo: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def user_edit(project: Path, edits: dict[str, str], message: str = "My changes") -> None:
    for path, text in edits.items():
        (project / path).write_text((project / path).read_text() + text)
    git_commit(project, message)


def baked_project(template: Path, out: Path) -> Path:
    project = bake(out, template=template)
    git_commit(project)
    return project


def mlops(project: Path, *args: str, ok=(0,), **env: str) -> subprocess.CompletedProcess[str]:
    entry = f"import sys; from {package_of(project)}.ops.cli import main; sys.argv[0] = 'mlops'; main()"
    return run([PYTHON, "-c", entry, *args], project, env=template_venv_env(project, **env), ok=ok, timeout=300)


def status(project: Path) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout


def link(project: Path) -> dict:
    return json.loads((project / ".cruft.json").read_text())


def test_a_plain_bake_is_linked_exactly_as_cruft_create_links_it(template, tmp_path):
    project = bake(tmp_path / "plain", template=template)
    state = link(project)
    assert state["template"] == str(template) and state["commit"] == head(template)
    assert state["skip"] == USER_OWNED
    skips = [flag for path in USER_OWNED for flag in ("--skip", path)]
    out = tmp_path / "cruft"
    run([VENV_BIN / "cruft", "create", "--no-input", "--output-dir", out, str(template), *skips], tmp_path)
    assert (project / ".cruft.json").read_text() == (out / project.name / ".cruft.json").read_text()


def test_the_readme_ownership_table_agrees_with_the_skip_list(template, tmp_path):
    """Rows owned by "you" are skipped (the path or a folder above it), rows of the template are not."""
    project = bake(tmp_path / "out", template=template)
    skip = [Path(path) for path in link(project)["skip"]]
    rows = re.findall(r"^\| `([^`]+)` \| (you|template) \|", (project / "README.md").read_text(), re.MULTILINE)
    assert {owner for _, owner in rows} == {"you", "template"}, rows
    for path, owner in rows:
        skipped = any(Path(path) == entry or entry in Path(path).parents for entry in skip)
        assert skipped == (owner == "you"), f"README says {path} is owned by {owner}; .cruft.json skip is {skip}"
    for entry in skip:
        assert (project / entry).exists(), f".cruft.json skips {entry}, which the bake does not have"


def test_an_update_brings_the_templates_changes_and_skips_the_users_files(template, tmp_path):
    project = baked_project(template, tmp_path / "out")
    assert "up to date" in mlops(project, "template", "update").stdout

    new = release(
        template,
        {
            "Makefile": "# template v2\n",
            "src/{{cookiecutter.package_name}}/ops/added.py": '"""New in v2 of {{ cookiecutter.package_name }}."""\n',
            "mlops.yaml": "# template v2\n",  # the user's: never touched, edited by the user or not
            "src/{{cookiecutter.package_name}}/model/train.py": "# template v2\n",
        },
    )
    user_edit(project, {"mlops.yaml": "# mine\n"})
    mine = {path: (project / path).read_text() for path in ("mlops.yaml", f"src/{DEFAULT_PACKAGE}/model/train.py")}

    added = f"src/{DEFAULT_PACKAGE}/ops/added.py"
    (project / added).write_text("# an untracked file where the template now has one\n")
    in_the_way = mlops(project, "template", "update", ok=(2,)).stderr
    assert "does not apply here" in in_the_way and "nothing was changed" in in_the_way, in_the_way
    assert status(project) == f"?? {added}\n"  # all or nothing: no other file changed
    (project / added).unlink()

    out = mlops(project, "template", "update").stdout
    assert out.splitlines()[0].startswith("updated from the template"), out
    assert (project / "Makefile").read_text().endswith("# template v2\n")
    assert (project / f"src/{DEFAULT_PACKAGE}/ops/added.py").read_text() == f'"""New in v2 of {DEFAULT_PACKAGE}."""\n'
    assert {path: (project / path).read_text() for path in mine} == mine
    assert link(project)["commit"] == new
    assert sorted(status(project).splitlines()) == sorted(["M  .cruft.json", "M  Makefile", f"A  {added}"])
    assert {line.split()[-1] for line in out.splitlines()[1:]} == {".cruft.json", "Makefile", added}

    git_commit(project, "Template update")
    again = mlops(project, "template", "update").stdout
    assert again.startswith("up to date") and len(again.splitlines()) == 1, again
    assert status(project) == ""


def test_a_conflict_fails_naming_the_file_and_changes_nothing(template, tmp_path):
    project = baked_project(template, tmp_path / "out")
    release(template, {"Makefile": "# template v2\n", "dvc.yaml": "# template v2\n"})
    user_edit(project, {"Makefile": "# mine\n"})  # the same place: the end of the file
    before = (project / ".cruft.json").read_bytes()

    proc = mlops(project, "template", "update", ok=(1,))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "conflicts" in lines[0] and "Makefile" in lines[0], proc.stderr
    assert "dvc.yaml" not in lines[0]  # merged cleanly: not a conflict, and not applied either
    assert status(project) == ""
    assert (project / ".cruft.json").read_bytes() == before
    assert (project / "Makefile").read_text().endswith("# mine\n")
    assert not (project / "dvc.yaml").read_text().endswith("# template v2\n")
    worktrees = run(["git", "worktree", "list", "--porcelain"], project).stdout
    assert worktrees.count("worktree ") == 1, worktrees


# A dependency at each end of pyproject.toml's list, so the two edits merge; both are already in the
# lock (as dependencies of dependencies), so `uv lock` resolves them offline from it.
TEMPLATE_DEP, USER_DEP = '  "six>=1.16",\n', '  "tabulate>=0.9",\n'
DEPS = "dependencies = [\n"


def add_dependency(project: Path, line: str, first: bool) -> None:
    """Add `line` to pyproject.toml's dependencies (first or last) and re-lock, offline."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    at = text.index(DEPS) + len(DEPS) if first else text.index("\n]\n", text.index(DEPS)) + 1
    pyproject.write_text(text[:at] + line + text[at:])
    run([VENV_BIN / "uv", "lock", "--offline", "--quiet"], project)


def root_dependencies(project: Path) -> set[str]:
    lock = tomllib.loads((project / "uv.lock").read_text())
    (root,) = [package for package in lock["package"] if package["name"] == project.name]
    return {dependency["name"] for dependency in root["dependencies"]}


def test_dependencies_added_on_both_sides_are_locked_together_not_merged(template, tmp_path):
    """uv.lock is derived: a change to it or to pyproject.toml on both sides is re-locked by uv from
    the merged pyproject.toml, where git alone would conflict (or merge two locks into a wrong one)."""
    project = baked_project(template, tmp_path / "out")
    maintainer = bake(tmp_path / "maintainer", template=template)  # `make lock`, as the maintainer runs it
    add_dependency(maintainer, TEMPLATE_DEP, first=True)
    lock = (
        (maintainer / "uv.lock")
        .read_text()
        .replace(f'name = "{maintainer.name}"', 'name = "{{ cookiecutter.project_slug }}"')
    )
    (template / PROJECT_DIR / "uv.lock").write_text(lock)
    pyproject = template / PROJECT_DIR / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(DEPS, DEPS + TEMPLATE_DEP, 1))
    new = release(template, {})
    add_dependency(project, USER_DEP, first=False)
    git_commit(project, "My dependency")

    out = mlops(project, "template", "update", UV_OFFLINE="1").stdout
    assert out.splitlines()[0].startswith("updated from the template"), out
    assert (
        TEMPLATE_DEP in (project / "pyproject.toml").read_text()
        and USER_DEP in (project / "pyproject.toml").read_text()
    )
    assert {"six", "tabulate"} <= root_dependencies(project)
    run([VENV_BIN / "uv", "lock", "--check", "--offline"], project)  # the lock fits the merged pyproject.toml
    assert link(project)["commit"] == new
    assert "<<<<<<<" not in (project / "uv.lock").read_text()


def test_a_cruft_create_bake_gets_the_skip_list_on_its_first_update(template, tmp_path):
    """cruft writes its own .cruft.json after the hook (no skip list unless told): the update adds it."""
    run([VENV_BIN / "cruft", "create", "--no-input", "--output-dir", tmp_path, str(template)], tmp_path)
    project = tmp_path / "cancer-classifier"
    assert "skip" not in link(project) and link(project)["commit"] == head(template)
    git_commit(project)
    release(template, {"Makefile": "# template v2\n", "mlops.yaml": "# template v2\n"})

    mlops(project, "template", "update")
    assert (project / "Makefile").read_text().endswith("# template v2\n")
    assert not (project / "mlops.yaml").read_text().endswith("# template v2\n")
    assert link(project)["skip"] == USER_OWNED


def test_a_bake_without_git_history_says_why_it_has_no_link(snapshot, tmp_path):
    unpacked = tmp_path / "unpacked"
    shutil.copytree(snapshot, unpacked, ignore=shutil.ignore_patterns(".git"))
    config = tmp_path / "config.yaml"
    config.write_text(f"replay_dir: {json.dumps(str(tmp_path / 'replay'))}\n")
    cmd = [VENV_BIN / "cookiecutter", unpacked, "--no-input", "--config-file", config, "-o", tmp_path / "out"]
    proc = run(cmd, tmp_path)
    notices = [line for line in proc.stdout.splitlines() if ".cruft.json" in line]
    assert len(notices) == 1 and "not a git checkout" in notices[0] and "cruft link" in notices[0], proc.stdout
    project = tmp_path / "out" / "cancer-classifier"
    assert not (project / ".cruft.json").exists()

    git_commit(project)
    failed = mlops(project, "template", "update", ok=(2,))
    assert len(failed.stderr.strip().splitlines()) == 1 and ".cruft.json not found" in failed.stderr, failed.stderr


def test_propose_opens_one_pull_request_then_updates_it(template, tmp_path):
    project = baked_project(template, tmp_path / "out")
    bare = tmp_path / "remote.git"
    run(["git", "init", "-q", "--bare", str(bare)], tmp_path)
    run(["git", "push", "-q", str(bare), "main"], project)
    github = GitHubStandIn(REPO, bare, token=TOKEN)
    # The push lands in the bare repository, whichever URL form propose pushes to.
    urls = [f"https://github.com/{REPO}.git", f"https://x-access-token:{TOKEN}@github.com/{REPO}.git"]
    git = {"GIT_CONFIG_COUNT": str(len(urls))}
    for index, url in enumerate(urls):
        git |= {f"GIT_CONFIG_KEY_{index}": f"url.{bare}.insteadOf", f"GIT_CONFIG_VALUE_{index}": url}

    def propose(api: str) -> str:
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": api}
        out = mlops(project, "template", "update", "--propose", **env, **git).stdout
        run(["git", "checkout", "-q", "main"], project)  # as the next scheduled run's fresh checkout
        return out.strip().splitlines()[-1]

    def proposed(path: str) -> str:
        (pull,) = github.pulls.values()
        return run(["git", "show", f"{pull['head']['ref']}:{path}"], bare).stdout

    with github.serve() as api:
        first = release(template, {"Makefile": "# template v2\n"})
        assert re.match(r"created PR #\d+ from template-update/", propose(api))
        assert proposed("Makefile").endswith("# template v2\n")

        second = release(template, {"Makefile": "# template v3\n"}, "Template v3")
        assert re.match(r"updated PR #\d+ from template-update/", propose(api))
        assert proposed("Makefile").endswith("# template v2\n# template v3\n")
        assert json.loads(proposed(".cruft.json"))["commit"] == second != first

    assert len(github.pulls) == 1 and len(github.calls("POST", r"/pulls$")) == 1
    (pull,) = github.pulls.values()
    assert pull["state"] == "open" and second[:12] in pull["title"]
    github.assert_clean()
