"""Remove the files of options not chosen (whole files, never Jinja ifs), write the answers that
workflows need as literals (cron, default branch) with the project's own `mlops sync` code, and
link the project to its template (`.cruft.json`, as `cruft create` writes it) so that
`mlops template update` can bring it later template versions."""

import importlib.util
import json
import subprocess
from pathlib import Path

TARGET = {{ cookiecutter.deploy_target | tojson }}
TARGETS = ("local", "aws", "gcp", "azure", "kubernetes")
# Per-target files; "{t}" stands for a target name.
TARGET_FILES = ("docs/deploy/{t}.md",)

LITERALS = {
    "deploy": {"target": TARGET},
    "monitoring": {"schedule": {{ cookiecutter.retrain_schedule | tojson }}},
    "project": {"default_branch": {{ cookiecutter.default_branch | tojson }}},
}
SYNC_FILE = Path("src/{{ cookiecutter.package_name }}/ops/sync.py")
OWNERSHIP_FILE = Path("src/{{ cookiecutter.package_name }}/ops/gitops/ownership.py")  # skip list, file format

CONTEXT = json.loads(r'''{{ cookiecutter | tojson }}''')  # tojson escapes ' (\u0027): the quotes hold
# The folder holding cookiecutter.json, absolute (local_extensions.py): `_repo_dir` may be relative
# to a working directory this hook does not know. Undefined when cruft renders this commit with an
# older commit's local_extensions (it imports the module once per update); cruft links itself then.
TEMPLATE_DIR = Path({{ template_dir | default("") | tojson }} or ".")


class NoLinkError(Exception):
    """Why the template cannot be linked (one line)."""


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def remove_other_targets() -> None:
    for target in TARGETS:
        if target != TARGET:
            for pattern in TARGET_FILES:
                Path(pattern.format(t=target)).unlink()


def write_literals() -> None:
    load(SYNC_FILE, "project_sync").sync(Path("."), LITERALS, partial=True)


def git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(TEMPLATE_DIR), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise NoLinkError("git is not installed") from None
    if out.returncode != 0:
        raise NoLinkError((out.stderr.strip().splitlines() or [f"git {args[0]} failed"])[0])
    return out.stdout.strip()


def cruft_state(skip: list[str]) -> dict:
    """What `cruft create` would write: the template's git source, its HEAD commit, the answers."""
    try:
        top = Path(git("rev-parse", "--show-toplevel"))
        git("ls-files", "--error-unmatch", "cookiecutter.json")  # not some enclosing repository's
    except NoLinkError:
        raise NoLinkError(
            f"the template at {TEMPLATE_DIR} is not a git checkout (an unpacked archive?): "
            "link the project later with `cruft link <template git url>`"
        ) from None
    commit = git("rev-parse", "HEAD")
    if git("status", "--porcelain"):
        print(f"notice: the template has uncommitted changes; .cruft.json links its commit {commit[:12]}")
    # A local template is used in place (cruft takes its path); a remote one was cloned from a URL.
    local = Path(CONTEXT["_repo_dir"]).is_relative_to(CONTEXT["_template"])
    template = str(top) if local else git("remote", "get-url", "origin")
    directory = TEMPLATE_DIR.resolve().relative_to(top.resolve()).as_posix()
    # cruft keeps cookiecutter.json's order and its private keys, without the prompts.
    order = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    answers = {key: CONTEXT[key] for key in order if key in CONTEXT and key != "__prompts__"}
    return {
        "template": template,
        "commit": commit,
        "checkout": CONTEXT.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None if directory == "." else directory,
        "skip": skip,
    }


def link_template() -> None:
    """Write .cruft.json; under cruft (its context carries `_commit`) cruft writes it itself."""
    if "_commit" in CONTEXT:
        return
    ownership = load(OWNERSHIP_FILE, "project_ownership")
    try:
        state = cruft_state(list(ownership.USER_OWNED))
    except NoLinkError as exc:
        print(f"notice: no .cruft.json, so no template updates: {exc}")
        return
    Path(ownership.CRUFT_FILE).write_text(ownership.cruft_json(state))


if __name__ == "__main__":
    remove_other_targets()
    write_literals()
    link_template()
