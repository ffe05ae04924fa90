"""Propose a change as a pull request: commit to a branch, push it, open or update ONE PR.

Used by CT: when a PR from `prefix` is already open, its branch is force-pushed and the PR updated,
so at most one retraining PR is ever open.

The push authenticates with an HTTP header given to that one git process through its environment
(GIT_CONFIG_COUNT/KEY/VALUE, as actions/checkout does through a config file): a token in the push
URL would be in the process table, readable by every process on the runner.
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

from ..errors import MlopsError
from .git import git_text
from .github import GitHub

BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")


def _server() -> str:
    return os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def push_env(token: str) -> dict[str, str]:
    """This process's environment plus `http.<server>/.extraheader` carrying the token, appended
    after any GIT_CONFIG_* entries already set (a test's url.insteadOf); no credential prompt."""
    env = dict(os.environ)
    count = int(env.get("GIT_CONFIG_COUNT") or 0)
    env.update(
        {
            "GIT_CONFIG_COUNT": str(count + 1),
            f"GIT_CONFIG_KEY_{count}": f"http.{_server()}/.extraheader",
            f"GIT_CONFIG_VALUE_{count}": f"AUTHORIZATION: basic {_basic(token)}",
            "GIT_TERMINAL_PROMPT": "0",  # a refused token fails the push instead of waiting for input
        }
    )
    return env


def propose(github: GitHub, paths: list[str], base: str, prefix: str, title: str, body: str) -> dict:
    """Commit `paths` on the open PR's branch (or prefix + today), push, open or update the PR."""
    existing = github.find_open_pr(prefix, base)
    branch = existing["head"]["ref"] if existing else f"{prefix}{datetime.now(UTC):%Y-%m-%d}"
    git_text("checkout", "-B", branch)
    git_text("add", "--", *paths)
    if not git_text("diff", "--cached", "--name-only"):
        raise MlopsError(f"nothing to propose: {', '.join(paths)} are unchanged")
    git_text("-c", f"user.name={BOT[0]}", "-c", f"user.email={BOT[1]}", "commit", "-m", title)
    url, secrets = f"{_server()}/{github.repository}.git", (github.token, _basic(github.token))
    git_text("push", "--force", url, f"HEAD:refs/heads/{branch}", env=push_env(github.token), secrets=secrets)
    return github.open_or_update_pr(head=branch, base=base, title=title, body=body, head_prefix=prefix)
