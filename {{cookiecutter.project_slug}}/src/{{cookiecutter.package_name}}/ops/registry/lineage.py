"""What produced a model: git commit, data hash, params hash, PR number. Tagged on runs and versions."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from ..config import Config

DVC_LOCK = Path("dvc.lock")


def file_md5(path: Path | str) -> str:
    """The same md5 DVC records for a file in dvc.lock."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stale_outputs(*paths: Path) -> list[str]:
    """Those of `paths` whose bytes differ from what dvc.lock recorded for them (a model retrained, or
    metrics.json rewritten, outside `dvc repro`); none without a dvc.lock."""
    if not DVC_LOCK.exists():
        return []
    recorded = {
        entry["path"]: entry["md5"]
        for stage in (yaml.safe_load(DVC_LOCK.read_text()) or {}).get("stages", {}).values()
        for entry in stage.get("deps", []) + stage.get("outs", [])
        if "md5" in entry
    }
    return [str(path) for path in paths if str(path) in recorded and file_md5(path) != recorded[str(path)]]


def params_hash(config: Config) -> str:
    text = json.dumps(config.training.params, sort_keys=True) + json.dumps(list(config.data.columns))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def pr_number() -> str | None:
    """From the PR_NUMBER variable, or GitHub's refs/pull/<n>/merge ref on pull_request runs."""
    if os.environ.get("PR_NUMBER"):
        return os.environ["PR_NUMBER"]
    match = re.fullmatch(r"refs/pull/(\d+)/merge", os.environ.get("GITHUB_REF", ""))
    return match.group(1) if match else None


def tags(config: Config, model_path: Path) -> dict[str, str]:
    found = {
        "git_commit": git_commit(),
        "data_md5": file_md5(config.data.source) if Path(config.data.source).exists() else "remote",
        "params_hash": params_hash(config),
        "model_md5": file_md5(model_path),
    }
    if number := pr_number():
        found["pr_number"] = number
    return found
