"""`mlops` commands: CD. Roll a bento out progressively, roll back, show and remove the deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, Config
from .common import ConfigOption, app, config_at, err, fail, step, summary

TargetOption = Annotated[str | None, typer.Option("--target", help="Deploy target (default: deploy.target)")]
ROLLOUT_STATE = Path(".mlops/deploy/rollout.json")  # the last rollout, for `mlops status`


def _target(cfg: Config, name: str | None):
    from ..deploy import make_target

    with step(f"Connecting to the {name or cfg.deploy.target} target"):
        return make_target(cfg, name)


def _plan(cfg: Config, target, release) -> str:
    from ..deploy.controller import steps

    canary, state = cfg.deploy.canary, target.describe()
    if state.stable is None:
        change = "first deploy: smoke-test on reference rows, then 100%"
    elif state.stable.bento == release.bento:
        change = "nothing (already stable)"
    else:
        shares = " -> ".join(f"{p}%" for p in steps(canary))
        shadow = (
            f"mirror {canary.shadow_percent}% for {canary.shadow_seconds:g} s, then "
            if canary.mode == "shadow-then-canary"
            else ""
        )
        change = f"{shadow}{shares}, {canary.step_seconds:g} s each, a check every {canary.interval_seconds:g} s"
    gates = ", ".join(f"{k}={v}" for k, v in canary.gates.model_dump().items())
    return (
        f"target {target.name}: stable {state.stable.bento if state.stable else 'none'}, candidate {release.bento}"
        f" (registry version {release.version or '?'})\nplan: {change}\ngates: {gates}; failure_limit "
        f"{canary.failure_limit}, min_requests {canary.min_requests}, deadline {canary.progress_deadline_seconds:g} s"
    )


def _sample_rows(cfg: Config) -> list[dict]:
    from ..data import read_table
    from ..smoke import sample_request

    return sample_request(cfg, read_table(cfg.data.reference), rows=500)


@app.command()
def deploy(
    bento: Annotated[str | None, typer.Option(help="Bento tag to deploy (default: the challenger's bento)")] = None,
    target: TargetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing")] = False,
    replay: Annotated[bool, typer.Option(help="Send reference rows through the target during the rollout")] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Roll the candidate out progressively; exit 0 promoted, 1 rolled back (naming gate, step, figures)."""
    from ..deploy import release as releases

    cfg = config_at(config)
    with step("Finding the release"):
        release = releases.of_bento(bento) if bento else releases.of_alias(cfg, cfg.registry.challenger_alias)
    chosen = _target(cfg, target)
    with step("Reading the target"):
        print(_plan(cfg, chosen, release))
    if dry_run:
        return
    with step("Rolling out", spinner=False):
        result, record = _roll_out(cfg, chosen, release, replay)
    _report(cfg, result, record)


def _roll_out(cfg: Config, chosen, release, replay: bool):
    from contextlib import nullcontext

    from ..deploy.controller import Controller, Result
    from ..deploy.record import Record
    from ..deploy.replay import replaying
    from ..errors import MlopsError
    from ..registry import promote

    record = Record(cfg, release, chosen.name)
    err.print(record.where, highlight=False)
    record.start()
    rows, show = _sample_rows(cfg), _live(chosen.name, release.bento)
    controller = Controller(chosen, cfg.deploy.canary, sample_rows=rows, on_check=show, state_file=ROLLOUT_STATE)
    url = chosen.describe().url
    try:
        with replaying(url, rows) if replay and url else nullcontext() as seen:
            result = controller.run(release)
    except MlopsError as exc:  # the controller rolled back; the record says why before the error exits
        record.finish(Result("rolled_back", release, reason=str(exc)), None)
        raise
    if seen is not None:
        err.print(f"replayed {sum(seen.values())} requests through {url}: {dict(seen)}", highlight=False)
    if result.outcome in ("promoted", "first_deploy") and release.version:
        promote(cfg, release.version)  # the champion alias follows what serves 100%
    return result, record.finish(result, chosen.describe().url)


def _live(target: str, bento: str):
    """One line per check in logs; a redrawn table in a terminal."""
    from rich.live import Live

    from ..deploy.table import cells, live

    title = f"{target}: {bento}"
    board = Live(console=err, auto_refresh=False) if err.is_terminal else None

    def show(rollout) -> None:
        if board is None:
            err.print(" | ".join(cells(rollout.rows[-1])), highlight=False)
            return
        if not board.is_started:
            board.start()
        board.update(live(list(rollout.rows), title), refresh=True)
        if rollout.done:
            board.stop()

    return show


def _report(cfg: Config, result, record: dict) -> None:
    from ..deploy.table import markdown

    title = f"Rollout of {result.release.bento} to {record['target']}: {result.outcome}"
    summary(markdown(result.rows, title) if result.rows else f"### {title}\n")
    if result.reconciled:
        print(result.reconciled)
    if result.outcome == "rolled_back":
        fail(f"rolled back {result.release.bento}: {result.reason}; stable stays {_name(result.stable)}", code=1)
    champion = f", @{cfg.registry.champion_alias} -> version {result.release.version}" if result.release.version else ""
    verb = {"unchanged": "unchanged:", "first_deploy": "first deploy:"}.get(result.outcome, "promoted")
    print(f"{verb} {result.reason or result.release.bento} serves 100% at {record.get('target')}{champion}")


def _name(release) -> str:
    return release.bento if release else "none"


@app.command()
def rollback(target: TargetOption = None, config: ConfigOption = CONFIG_FILE) -> None:
    """All traffic back to stable now, the candidate removed (the on-call command)."""
    cfg = config_at(config)
    chosen = _target(cfg, target)
    with step("Rolling back"):
        before = chosen.describe()
        chosen.rollback()
    if before.candidate is None:
        print(f"nothing to roll back: {_name(before.stable)} is stable with all traffic")
    else:
        print(f"rolled back {before.candidate.bento}: {_name(before.stable)} has all traffic")


@app.command()
def status(target: TargetOption = None, config: ConfigOption = CONFIG_FILE) -> None:
    """What is deployed: stable and candidate, traffic shares, registry aliases, the last rollout."""
    from ..registry import version_by_alias

    cfg = config_at(config)
    chosen = _target(cfg, target)
    with step("Reading the target and the registry"):
        state = chosen.describe()
        aliases = {
            alias: getattr(version_by_alias(cfg, alias), "version", None)
            for alias in (cfg.registry.champion_alias, cfg.registry.challenger_alias)
        }
    stable = f"{_name(state.stable)} ({100 - state.candidate_percent}%)"
    print(f"target {chosen.name} at {state.url or '-'}: stable {stable}")
    if state.candidate:
        print(f"candidate {state.candidate.bento} ({state.candidate_percent}%, mirror {state.mirror_percent}%)")
    print("registry: " + ", ".join(f"@{alias} = version {v}" for alias, v in aliases.items()))
    if ROLLOUT_STATE.exists():
        last = json.loads(ROLLOUT_STATE.read_text())
        why = f" ({last['reason']})" if last["reason"] else ""
        print(f"last rollout: {last['candidate']['bento']} {last['phase']}{why}")


@app.command()
def undeploy(target: TargetOption = None, config: ConfigOption = CONFIG_FILE) -> None:
    """Remove the deployment and everything the target created (local: stop the proxy and servers)."""
    cfg = config_at(config)
    chosen = _target(cfg, target)
    with step("Undeploying"):
        chosen.undeploy()
    print(f"undeployed from {chosen.name}")
