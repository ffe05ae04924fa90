"""`mlops` commands: CD. Roll a bento out progressively, roll back, show and remove the deployment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, Config
from ..state import state_path
from .common import ConfigOption, app, config_at, err, fail, set_output, step, summary

TargetOption = Annotated[str | None, typer.Option("--target", help="Deploy target (default: deploy.target)")]
ROLLOUT_STATE = state_path(".mlops/deploy/rollout.json")  # the last rollout, for `mlops status`


def _target(cfg: Config, name: str | None):
    from ..deploy import make_target

    with step(f"Connecting to the {name or cfg.deploy.target} target"):
        return make_target(cfg, name)


def _config_and_target(config: Path, name: str | None):
    cfg = config_at(config)
    return cfg, _target(cfg, name)


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
    from ..pipeline.data import read_table
    from ..serving.smoke import sample_request

    return sample_request(cfg, read_table(cfg.data.reference), rows=500)


@app.command()
def deploy(
    bento: Annotated[str | None, typer.Option(help="Bento tag to deploy (default: the challenger's bento)")] = None,
    version: Annotated[
        str | None, typer.Option(help="Registry version to deploy (its bento, built if missing)")
    ] = None,
    target: TargetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing")] = False,
    replay: Annotated[bool, typer.Option(help="Send reference rows through the target during the rollout")] = False,
    rehearse: Annotated[
        bool, typer.Option(help="Rehearse on this machine: a local canary on a free port against the champion")
    ] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Roll the candidate out progressively; exit 0 promoted, 1 rolled back (naming gate, step, figures)."""
    cfg = config_at(config)
    release = _release(cfg, bento, version)
    set_output(bento=release.bento)
    if rehearse:
        with step("Rehearsing", spinner=False):
            result = _rehearse(cfg, release)
        return _report(cfg, result, "local rehearsal", moves_alias=False)
    chosen = _target(cfg, target)
    with step("Reading the target"):
        print(_plan(cfg, chosen, release))
    if dry_run:
        return None
    with step("Rolling out", spinner=False):
        result = _roll_out(cfg, chosen, release, replay)
    return _report(cfg, result, chosen.name)


def _release(cfg: Config, bento: str | None, version: str | None):
    """The given bento, else the bento of registry `version`, else the challenger's (built if missing)."""
    from ..deploy import release as releases

    with step("Finding the release"):
        return releases.of_bento(bento) if bento else releases.of_registry(cfg, cfg.registry.challenger_alias, version)


def _controller(cfg: Config, chosen, rows: list[dict], release):
    from ..deploy.controller import Controller

    show = _live(chosen.name, release.bento)
    return Controller(chosen, cfg.deploy.canary, sample_rows=rows, on_check=show, state_file=ROLLOUT_STATE)


def _run(cfg: Config, chosen, release, replay: bool, rows: list[dict] | None = None):
    """The controller's rollout, with reference rows replayed through the client address if asked."""
    from contextlib import nullcontext

    from ..deploy.replay import replaying

    rows = rows if rows is not None else _sample_rows(cfg)
    url = chosen.describe().url
    with replaying(url, rows) if replay and url else nullcontext() as seen:
        result = _controller(cfg, chosen, rows, release).run(release)
    if seen is not None:
        err.print(f"replayed {sum(seen.values())} requests through {url}, answers: {dict(seen)}", highlight=False)
    return result


def _roll_out(cfg: Config, chosen, release, replay: bool):
    from ..deploy.controller import Result
    from ..deploy.record import Record
    from ..errors import MlopsError
    from ..registry.versions import promote

    record = Record(cfg, release, chosen.name)
    err.print(record.where, highlight=False)
    record.start()
    try:
        result = _run(cfg, chosen, release, replay)
    except MlopsError as exc:  # the controller rolled back; the record says why before the error exits
        record.finish(Result("rolled_back", release, reason=str(exc)), None)
        raise
    if result.outcome in ("promoted", "first_deploy") and release.version:
        promote(cfg, release.version)  # the champion alias follows what serves 100%
    record.finish(result, chosen.describe().url)
    return result


# A cloud target's checks wait minutes for its metrics; a local canary has its own at once.
LOCAL_TIMING = ("step_seconds", "interval_seconds", "min_requests", "progress_deadline_seconds")


def _rehearsal_policy(cfg: Config):
    """deploy.canary, with the local target's default timing when deploy.target is a cloud."""
    from ..config import Canary

    canary, defaults = cfg.deploy.canary, Canary()
    if cfg.deploy.target == "local":
        return canary
    return canary.model_copy(update={field: getattr(defaults, field) for field in LOCAL_TIMING})


def _rehearse(cfg: Config, release):
    """The rollout on a throwaway local target: the champion (when the registry has one) as stable,
    the candidate as canary, reference rows replayed through it; removed afterwards."""
    from ..config import LocalTarget as LocalSettings
    from ..deploy import release as releases
    from ..deploy.local import LocalTarget
    from ..registry.versions import version_by_alias
    from ..tools import free_port

    deploy = {"local": LocalSettings(port=free_port()), "canary": _rehearsal_policy(cfg)}
    local = cfg.model_copy(update={"deploy": cfg.deploy.model_copy(update=deploy)})
    chosen = LocalTarget(local, state_dir=Path(".mlops/deploy/rehearsal"), capture=False)
    rows = _sample_rows(cfg)
    try:
        champion = version_by_alias(cfg, cfg.registry.champion_alias)
        if champion is not None and str(champion.version) != release.version:
            baseline = releases.of_registry(cfg, cfg.registry.champion_alias)
            err.print(f"rehearsal: stable is the champion, {baseline.bento}", highlight=False)
            _controller(cfg, chosen, rows, baseline).run(baseline)
        else:
            err.print("rehearsal: no other champion in the registry, so a first deploy (smoke test, then 100%)")
        return _run(local, chosen, release, replay=True, rows=rows)
    finally:
        chosen.undeploy()


def _live(target: str, bento: str):
    """One line per check in logs (act gives steps a terminal: GITHUB_ACTIONS says it is a log); a
    redrawn table in a terminal."""
    import os

    from rich.live import Live

    from ..deploy.table import cells, live

    title = f"{target}: {bento}"
    board = Live(console=err, auto_refresh=False) if err.is_terminal and not os.environ.get("GITHUB_ACTIONS") else None

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


def _report(cfg: Config, result, where: str, moves_alias: bool = True) -> None:
    from ..deploy.table import markdown

    title = f"Rollout of {result.release.bento} to {where}: {result.outcome}"
    summary(markdown(result.rows, title) if result.rows else f"### {title}\n")
    if result.reconciled:
        print(result.reconciled)
    if result.outcome == "rolled_back":
        fail(f"rolled back {result.release.bento}: {result.reason}; stable stays {_name(result.stable)}", code=1)
    moved = moves_alias and result.release.version and result.outcome != "unchanged"
    champion = f", @{cfg.registry.champion_alias} -> version {result.release.version}" if moved else ""
    verb = {"unchanged": "unchanged:", "first_deploy": "first deploy:"}.get(result.outcome, "promoted")
    print(f"{verb} {result.reason or result.release.bento} serves 100% on {where}{champion}")


def _name(release) -> str:
    return release.bento if release else "none"


@app.command()
def image(
    bento: Annotated[str | None, typer.Option(help="Bento tag (default: the challenger's bento)")] = None,
    version: Annotated[str | None, typer.Option(help="Registry version (its bento, built if missing)")] = None,
    push: Annotated[bool, typer.Option("--push", help="Push it to the target's registry (docker login first)")] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Build the bento's container image, tagged for deploy.target's registry (and push it there)."""
    from ..deploy.image import build_and_push, image_uri

    cfg, chosen = _config_and_target(config, None)
    release = _release(cfg, bento, version)
    if (uri := image_uri(chosen, release)) is None:
        print(f"the {chosen.name} target serves {release.bento} from the BentoML store: no image to build")
        return
    with step(f"Building {uri}" + (" and pushing it" if push else ""), spinner=False):
        build_and_push(release, uri, push)
    set_output(image=uri)
    print(f"{'pushed' if push else 'built'} {uri}")


@app.command()
def rollback(target: TargetOption = None, config: ConfigOption = CONFIG_FILE) -> None:
    """All traffic back to stable now, the candidate removed (the on-call command)."""
    _, chosen = _config_and_target(config, target)
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
    from ..registry.versions import version_by_alias

    cfg, chosen = _config_and_target(config, target)
    with step("Reading the target and the registry"):
        state = chosen.describe()
        aliases = {
            alias: getattr(version_by_alias(cfg, alias), "version", None)
            for alias in (cfg.registry.champion_alias, cfg.registry.challenger_alias)
        }
    if state.stable is None and state.candidate is None:
        print(f"target {chosen.name}: nothing deployed")
    else:
        stable = f"{_name(state.stable)} ({100 - state.candidate_percent}%)"
        print(f"target {chosen.name} at {state.url}: stable {stable}")
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
    _, chosen = _config_and_target(config, target)
    with step("Undeploying"):
        chosen.undeploy()
    print(f"undeployed from {chosen.name}")
