"""The metrics/params comparison posted on PRs: this change vs the champion and vs the base branch.

The champion comes from the registry. Only the embedded sqlite registry may lack it (a fresh runner
has no mlflow.db, or one with just this PR's run): then the base branch's committed metrics.json
stands in, as merged = deployed, and the report says so. A configured server is the one source of
truth: when it cannot be reached the command fails (RegistryError), it never falls back.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import CONFIG_FILE, LOWER_IS_BETTER, Config
from ..pipeline.evaluate import METRICS_FILE, gate, read
from ..registry.tracking import shown, sqlite_file, tracking_uri
from ..registry.versions import champion_metrics


@dataclass
class Baseline:
    metrics: dict[str, float] | None
    params: dict | None
    source: str
    note: str = ""  # why this baseline stands in for the registry's champion


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


def champion(config: Config, base: Baseline) -> Baseline:
    """The registry's champion; in the embedded sqlite mode without one, the base branch's merged model."""
    uri = tracking_uri(config)
    store = sqlite_file(uri)
    if store is not None and not store.exists():
        return _merged(base, f"there is no registry on this machine ({store.name} does not exist)")
    if found := champion_metrics(config):
        version, metrics = found
        return Baseline(metrics, None, f"registry v{version}")
    alias = config.registry.champion_alias
    if store is not None:
        return _merged(base, f"the registry on this machine ({store.name}) has no @{alias} version")
    return Baseline(None, None, f"none: no @{alias} in {shown(uri)}")


def _merged(base: Baseline, why: str) -> Baseline:
    stand_in = (
        f"{base.source}'s committed {METRICS_FILE} stands for the deployed model"
        if base.metrics
        else f"{base.source} has no committed {METRICS_FILE} either: no champion to compare with"
    )
    note = f"Compared with git: {why}, so {stand_in}."
    return Baseline(base.metrics, base.params, f"{base.source} (merged = deployed)", note)


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
    note = f"{champ.note}\n\n" if champ.note else ""
    head = f"### Model metrics: {config.project.model_name}\n\n{verdict}\n\n{note}"
    return head + table(config, current, base, champ) + "\n", problems
