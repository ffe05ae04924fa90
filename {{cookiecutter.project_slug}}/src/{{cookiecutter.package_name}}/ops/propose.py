"""Propose a change as a pull request: commit to a branch, push it, open or update ONE PR.

Used by CT: when a PR from `prefix` is already open, its branch is force-pushed and the PR updated,
so at most one retraining PR is ever open.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

from .errors import MlopsError
from .gitops import GitHub

BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


def _git(*args: str, secret: str = "") -> str:
    out = subprocess.run(["git", *args], capture_output=True, text=True)
    if out.returncode != 0:
        message = out.stderr.strip().replace(secret, "***") if secret else out.stderr.strip()
        raise MlopsError(f"git {args[0]} failed: {message}")
    return out.stdout.strip()


def _push_url(repository: str, token: str) -> str:
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").removeprefix("https://")
    return f"https://x-access-token:{token}@{server}/{repository}.git"


def propose(github: GitHub, paths: list[str], base: str, prefix: str, title: str, body: str) -> dict:
    """Commit `paths` on the open PR's branch (or prefix + today), push, open or update the PR."""
    existing = github.find_open_pr(prefix, base)
    branch = existing["head"]["ref"] if existing else f"{prefix}{datetime.now(UTC):%Y-%m-%d}"
    _git("checkout", "-B", branch)
    _git("add", "--", *paths)
    if not _git("diff", "--cached", "--name-only"):
        raise MlopsError(f"nothing to propose: {', '.join(paths)} are unchanged")
    _git("-c", f"user.name={BOT[0]}", "-c", f"user.email={BOT[1]}", "commit", "-m", title)
    url = _push_url(github.repository, github.token)
    _git("push", "--force", url, f"HEAD:refs/heads/{branch}", secret=github.token)
    return github.open_or_update_pr(head=branch, base=base, title=title, body=body, head_prefix=prefix)
