"""The metrics/params comparison posted on PRs: this change vs the champion and vs the base branch.

Without a tracking server (a fresh runner has no mlflow.db) the champion is what the base branch
has merged: git is the source of truth, so its committed metrics.json describes production.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from .config import CONFIG_FILE, LOWER_IS_BETTER, Config
from .evaluate import METRICS_FILE, gate, read


@dataclass
class Baseline:
    metrics: dict[str, float] | None
    params: dict | None
    source: str


def git_show(ref: str, path: Path) -> str | None:
    """A file at `ref` (tried as origin/<ref> first, as CI checkouts have remote refs only)."""
    for candidate in (f"origin/{ref}", ref):
        out = subprocess.run(["git", "show", f"{candidate}:{path.as_posix()}"], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout
    return None


def at_ref(ref: str) -> Baseline:
    metrics, config = git_show(ref, METRICS_FILE), git_show(ref, CONFIG_FILE)
    params = (yaml.safe_load(config) or {}).get("training", {}).get("params") if config else None
    return Baseline(json.loads(metrics) if metrics else None, params, f"`{ref}`")


def _local_store_missing(uri: str) -> bool:
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def champion(config: Config, base: Baseline) -> Baseline:
    """The registry's champion when a store is reachable, else the base branch's merged model."""
    if not _local_store_missing(config.registry.tracking_uri):
        from .registry import champion_metrics

        if found := champion_metrics(config):
            version, metrics = found
            return Baseline(metrics, None, f"registry v{version}")
    return Baseline(base.metrics, base.params, f"{base.source} (merged = deployed)")


def _delta(name: str, new: float | None, old: float | None) -> str:
    if new is None or old is None:
        return ""
    diff = new - old
    better = diff < 0 if name in LOWER_IS_BETTER else diff > 0
    mark = "" if abs(diff) < 1e-12 else (" ✅" if better else " 🔻")
    return f"{diff:+.4f}{mark}"


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def table(config: Config, current: dict[str, float], base: Baseline, champ: Baseline) -> str:
    metric = config.training.metric
    lines = [
        f"| metric | this change | champion ({champ.source}) | Δ | base ({base.source}) | Δ |",
        "|---|---|---|---|---|---|",
    ]
    for name, value in current.items():
        old_c = (champ.metrics or {}).get(name)
        old_b = (base.metrics or {}).get(name)
        label = f"**{name}**" if name == metric else name
        row = [label, _cell(value), _cell(old_c), _delta(name, value, old_c), _cell(old_b), _delta(name, value, old_b)]
        lines.append("| " + " | ".join(row) + " |")
    params = config.training.params
    changed = {k for k in set(params) | set(base.params or {}) if params.get(k) != (base.params or {}).get(k)}
    if changed:
        lines += ["", "| param | this change | base |", "|---|---|---|"]
        lines += [f"| {k} | `{params.get(k)}` | `{(base.params or {}).get(k)}` |" for k in sorted(changed)]
    return "\n".join(lines)


def markdown(config: Config, base_ref: str) -> tuple[str, list[str]]:
    """The report and the gate's problems (empty: the candidate may ship)."""
    base = at_ref(base_ref)
    champ = champion(config, base)
    current = read()
    problems = gate(config, current, champ.metrics)
    verdict = "✅ gate passed" if not problems else "❌ gate failed: " + "; ".join(problems)
    head = f"### Model metrics: {config.project.model_name}\n\n{verdict}\n\n"
    return head + table(config, current, base, champ) + "\n", problems
