"""git as a subprocess, for proposing PRs and applying template updates: bytes out (a patch may hold
any encoding), and a failure is one MlopsError line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import MlopsError


def git(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    secrets: tuple[str, ...] = (),
) -> bytes:
    """git's stdout; on failure MlopsError naming the command, the folder and git's last message line
    (hints left out), with every one of `secrets` masked."""
    out = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True)
    if out.returncode != 0:
        lines = [line for line in out.stderr.decode(errors="replace").splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if not line.startswith("hint:")), "(no message)").strip()
        for secret in secrets:
            detail = detail.replace(secret, "***")
        raise MlopsError(f"git {args[0]} failed{f' in {cwd}' if cwd else ''}: {detail}")
    return out.stdout


def git_text(*args: str, **kwargs) -> str:
    """`git` decoded as is (no strip: a porcelain line may start with a space); undecodable bytes of a
    path are kept, not replaced."""
    return git(*args, **kwargs).decode(errors="surrogateescape")
