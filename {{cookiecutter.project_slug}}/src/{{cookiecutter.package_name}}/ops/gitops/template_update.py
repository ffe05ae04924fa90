"""`mlops template update`: bring in the template's changes since the commit `.cruft.json` names.

cruft does the update (it renders the template at both commits and applies the difference with a
three-way merge), in a scratch worktree of HEAD: only a clean result reaches the project, as one
patch. A conflict, which cruft would leave as `<<<<<<<` markers while moving `.cruft.json` on, leaves
the project exactly as it was. Your paths (ops/gitops/ownership.py) are in `.cruft.json`'s "skip" list.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import MlopsError
from .git import git, git_text
from .ownership import CRUFT_FILE, USER_OWNED, cruft_json

PREFIX = "template-update/"  # the branches of the one template-update PR
LOCK, PYPROJECT = "uv.lock", "pyproject.toml"
_MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.MULTILINE)
_BOT = ("-c", "user.name=mlops", "-c", "user.email=mlops@localhost")


class TemplateConflictError(MlopsError):
    """The template changed lines you changed too; str() lists the files."""


@dataclass
class Update:
    template: str
    old: str  # the commit .cruft.json named before
    new: str  # the commit it names now
    changed: list[tuple[str, str]]  # (git status letter, path relative to the project); [] = up to date
    skip: list[str]  # what .cruft.json keeps out of updates


def _paths(output: str) -> list[str]:
    return [path for path in output.split("\0") if path]


def read_link(project: Path) -> dict:
    path = project / CRUFT_FILE
    if not path.is_file():
        raise MlopsError(
            f"{CRUFT_FILE} not found in {project.resolve()}: the project is not linked to its template "
            "(bake it from a git checkout of the template, or run `cruft link <template git url>`)"
        )
    try:
        state = json.loads(path.read_text())
    except ValueError as exc:
        raise MlopsError(f"{CRUFT_FILE}: not valid JSON ({exc})") from None
    missing = [key for key in ("template", "commit", "context") if key not in state]
    if missing:
        raise MlopsError(f"{CRUFT_FILE}: expected the keys template, commit and context; missing {', '.join(missing)}")
    return state


def _check_clean(project: Path) -> None:
    dirty = _paths(git_text("status", "--porcelain", "-z", "--untracked-files=no", cwd=project))
    if dirty:
        files = ", ".join(entry[3:] for entry in dirty if entry[:2].strip())
        raise MlopsError(f"uncommitted changes ({files}): commit or stash them before a template update")


@contextlib.contextmanager
def _scratch(top: Path) -> Iterator[Path]:
    """A detached worktree of HEAD in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="template-update-") as tmp:
        tree = Path(tmp) / "tree"
        git_text("worktree", "add", "--quiet", "--detach", str(tree), "HEAD", cwd=top)
        try:
            yield tree
        finally:
            git_text("worktree", "remove", "--force", str(tree), cwd=top)


def _skip_user_files(project: Path) -> None:
    """Add the paths of ops/gitops/ownership.py that .cruft.json does not skip yet (`cruft create` writes
    no skip list), committed in the scratch tree: cruft updates a clean tree only."""
    state = read_link(project)
    skip = state.get("skip") or []
    missing = [path for path in USER_OWNED if path not in skip]
    if missing:
        state["skip"] = [*skip, *missing]
        (project / CRUFT_FILE).write_text(cruft_json(state))
        git_text(
            *_BOT, "commit", "--quiet", "--no-verify", "-m", "skip the user's files", "--", CRUFT_FILE, cwd=project
        )


def _run_cruft(project: Path, checkout: str | None) -> None:
    from cruft import update  # GitPython and the template engine: imported only here

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            applied = update(project_dir=project, checkout=checkout, skip_apply_ask=True, allow_untracked_files=True)
    except Exception as exc:  # cruft, git and the template's hooks: one line, whatever failed
        raise MlopsError(f"cruft update failed: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    if not applied:
        last = (log.getvalue().strip().splitlines() or ["(no message)"])[-1]
        raise MlopsError(f"cruft update refused: {last}")


def _conflicts(project: Path, changed: list[str]) -> list[str]:
    """Unmerged paths, `.rej` files and conflict markers: what cruft leaves where the merge failed."""
    found = set(_paths(git_text("diff", "--name-only", "-z", "--relative", "--diff-filter=U", cwd=project)))
    for path in changed:
        file = project / path
        if path.endswith(".rej"):
            found.add(path.removesuffix(".rej"))
        elif file.is_file() and _MARKER.search(file.read_text(errors="replace")):
            found.add(path)
    return sorted(found)


def _relock(project: Path, touched: list[str], conflicts: list[str]) -> list[str]:
    """uv.lock is derived from pyproject.toml, never merged by hand: when the update touches either and
    nothing else conflicts, uv re-resolves it for the merged pyproject.toml, starting from this
    project's lock where git could not merge the two (only what changed moves). The conflicts left."""
    if not {LOCK, PYPROJECT} & set(touched) or set(conflicts) - {LOCK}:
        return conflicts
    if LOCK in conflicts:
        git_text("checkout", "HEAD", "--", LOCK, cwd=project)
        (project / f"{LOCK}.rej").unlink(missing_ok=True)
    if (uv := shutil.which("uv")) is None:
        raise MlopsError(f"the template update changes {PYPROJECT} or {LOCK}: uv is needed to re-lock, and not on PATH")
    out = subprocess.run([uv, "lock", "--quiet"], cwd=project, capture_output=True, text=True)
    if out.returncode != 0:
        detail = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise MlopsError(f"uv lock of the updated {PYPROJECT} failed, nothing was changed: {detail}")
    return []


def update(project: Path = Path(".")) -> Update:
    """Update the project from its template; raises TemplateConflictError (nothing changed) on a conflict."""
    project = project.resolve()
    state = read_link(project)
    top = Path(git_text("rev-parse", "--show-toplevel", cwd=project).strip())
    prefix = git_text("rev-parse", "--show-prefix", cwd=project).strip()  # the project may be a subfolder
    _check_clean(project)
    head = git_text("rev-parse", "HEAD", cwd=project).strip()
    with _scratch(top) as tree:
        here = tree / prefix
        _skip_user_files(here)
        _run_cruft(here, state.get("checkout"))
        status = _paths(git_text("status", "--porcelain", "-z", "--untracked-files=all", "--no-renames", ".", cwd=here))
        touched = [entry[3:] for entry in status]
        conflicts = _relock(here, touched, _conflicts(here, touched))
        if conflicts:
            raise TemplateConflictError(
                f"the template update conflicts with your changes in {', '.join(conflicts)}: nothing was changed "
                f"(merge by hand with `cruft update` and fix the `<<<<<<<` markers, or add the files to "
                f'{CRUFT_FILE} "skip")'
            )
        git_text("add", "--all", cwd=tree)
        linked = read_link(here)
        names = _paths(
            git_text("diff", "--cached", "--name-status", "-z", "--no-renames", "--relative", head, cwd=here)
        )
        changed = list(zip(names[::2], names[1::2], strict=True))
        result = Update(state["template"], state["commit"], linked["commit"], changed, linked.get("skip") or [])
        if all(path == CRUFT_FILE for _, path in changed):  # the template moved on, this project's files did not
            result.changed = []
            return result
        patch = git("diff", "--cached", "--binary", "--no-renames", head, cwd=tree)
    try:
        git("apply", "--index", "--binary", stdin=patch, cwd=top)  # all or nothing
    except MlopsError as exc:
        raise MlopsError(
            f"the template update does not apply here (untracked files in the way?), nothing was changed: {exc}"
        ) from None
    return result


def propose_update(result: Update, base: str) -> dict:
    """Commit the update on a `template-update/` branch and open (or update) its one PR."""
    from .github import GitHub, run_url
    from .propose import propose

    files = "\n".join(f"- `{status}` {path}" for status, path in result.changed)
    body = (
        f"Template `{result.template}`: {result.old[:12]} -> {result.new[:12]} (`mlops template update`).\n\n"
        f'{files}\n\nNot touched (yours, `{CRUFT_FILE}` "skip"): {", ".join(result.skip)}.'
    )
    if link := run_url():
        body += f"\n\n[Workflow run]({link})"
    with GitHub.from_env() as github:
        paths = [path for _, path in result.changed]
        return propose(github, paths, base, PREFIX, f"Template update to {result.new[:12]}", body)
