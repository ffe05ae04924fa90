"""Every rollout is recorded where users look: a GitHub Deployment in `deploy.environment` with
statuses (in_progress, then success or failure), and a JSON record kept as a workflow artifact."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from ..config import Config
from ..gitops.github import GitHub, has_token, run_url
from ..registry.lineage import git_commit
from .controller import Result
from .target import Release

RECORD = Path("reports/rollout.json")


class Record:
    """`start()` before the first change, `finish(result)` after the last; GitHub only with a token."""

    def __init__(self, config: Config, release: Release, target: str, path: Path = RECORD) -> None:
        self.config, self.release, self.target, self.path = config, release, target, path
        self.github = GitHub.from_env() if has_token() else None
        self.deployment: dict | None = None
        self.started = time.time()
        self.ref = os.environ.get("GITHUB_SHA") or git_commit()

    @property
    def where(self) -> str:
        """One line saying where the record goes."""
        if self.github is None:
            return f"GITHUB_TOKEN is not set: the rollout is recorded in {self.path} only (no GitHub Deployment)"
        return f"recording the rollout as a GitHub Deployment in {self.config.deploy.environment!r} and {self.path}"

    def start(self) -> None:
        if self.github is None:
            return
        env, payload = self.config.deploy.environment, {"bento": self.release.bento, "version": self.release.version}
        description = f"{self.target}: canary of {self.release.bento}"
        self.deployment = self.github.create_deployment(self.ref, env, description, payload)
        self.github.create_deployment_status(self.deployment["id"], "in_progress", description, log_url=run_url())

    def finish(self, result: Result, url: str | None) -> dict:
        record = {
            "target": self.target,
            "environment": self.config.deploy.environment,
            "ref": self.ref,
            "outcome": result.outcome,
            "reason": result.reason,
            "release": asdict(result.release),
            "previous": asdict(result.stable) if result.stable else None,
            "reconciled": result.reconciled,
            "started": self.started,
            "seconds": round(time.time() - self.started, 1),
            "checks": [asdict(row) for row in result.rows],
            "deployment_id": self.deployment["id"] if self.deployment else None,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record, indent=2) + "\n")
        if self.deployment:
            state = "success" if result.ok else "failure"
            text = f"{result.outcome}: {result.reason or result.release.bento}"
            self.github.create_deployment_status(
                self.deployment["id"], state, text, log_url=run_url(), environment_url=url if result.ok else None
            )
        return record
