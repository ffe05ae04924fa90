"""`mlops` commands: Project config: check mlops.yaml, export its schema, sync literals into the workflows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, SCHEMA_FILE, json_schema
from .common import ConfigOption, app, config_app, config_at, err, fail, step


@config_app.command("check")
def config_check(config: ConfigOption = CONFIG_FILE) -> None:
    """Validate mlops.yaml against the schema, training.params against model/train.py's estimator, and
    mlops.schema.json against the code."""
    cfg = config_at(config)
    _as_dvc_reads_it(config)
    from ..pipeline.training import check  # sklearn: a second to import, only here

    with step("Building the estimator of model/train.py"):
        check(cfg)
    if SCHEMA_FILE.exists() and SCHEMA_FILE.read_text() != json_schema():
        err.print(f"[red]error:[/red] {SCHEMA_FILE} is stale: run `mlops config schema --write`")
        raise typer.Exit(1)
    print(f"{config}: ok")


def _as_dvc_reads_it(config: Path) -> None:
    """DVC reads mlops.yaml (vars, params) with ruamel's C parser, stricter than PyYAML: e.g. an
    unquoted gs://... in a {flow: mapping}. Refused here, with the line, not later by `dvc repro`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        YAML(typ="safe").load(config.read_text())
    except YAMLError as exc:
        fail(f"{config}: DVC cannot read it: {' '.join(str(exc).split())} (quote the value)")


@config_app.command("schema")
def config_schema(write: Annotated[bool, typer.Option(help=f"Write {SCHEMA_FILE}")] = False) -> None:
    """Print (or write) the JSON Schema of mlops.yaml."""
    if write:
        SCHEMA_FILE.write_text(json_schema())
        print(f"wrote {SCHEMA_FILE}")
    else:
        sys.stdout.write(json_schema())


@config_app.command("login")
def config_login(config: ConfigOption = CONFIG_FILE) -> None:
    """Step outputs for .github/actions/cloud-login: deploy.target's cloud ids, which login to run and
    whether the cloud is reachable (not from a fork's pull request)."""
    import json
    import os

    from ..deploy.login import login_outputs
    from .common import notice, set_output

    event_file = os.environ.get("GITHUB_EVENT_PATH")
    event = json.loads(Path(event_file).read_text()) if event_file and Path(event_file).is_file() else {}
    # A fork's PR: its head lives in another repository (`repo.fork` is true for every PR of a
    # repository that is itself a fork, e.g. one made from this template's).
    pull = event.get("pull_request", {})
    head, base = (pull.get(side, {}).get("repo", {}).get("full_name") for side in ("head", "base"))
    fork = bool(head and base and head != base)
    outputs, message = login_outputs(config_at(config), fork=fork, act=bool(os.environ.get("ACT")))
    if message:
        notice(message)
    set_output(**outputs)
    print(" ".join(f"{key}={value}" for key, value in outputs.items()))


@app.command()
def sync(
    check: Annotated[bool, typer.Option(help="Only report stale files (exit 1), write nothing")] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Write config values that workflows need as literals (cron, default branch) into them, and each
    DVC stage's params and code deps (ops/pipeline/stages.py) into dvc.yaml."""
    from ..pipeline.stages import synced
    from ..sync import sync as run

    cfg = config_at(config)
    # dvc.yaml lists only the fields mlops.yaml sets: DVC fails on a param its file lacks.
    try:
        stale = run(Path("."), {**cfg.model_dump(), **synced(cfg.model_dump(exclude_unset=True))}, write=not check)
    except KeyError as exc:  # a tag naming no field: a typo in a synced file
        fail(exc.args[0])
    if check and stale:
        err.print(f"[red]error:[/red] {', '.join(stale)} disagree with {config}: run `mlops sync`")
        raise typer.Exit(1)
    fresh = "workflows match the config, so does dvc.yaml"
    print(f"{'stale' if check else 'updated'}: {', '.join(stale)}" if stale else fresh)


template_app = typer.Typer(no_args_is_help=True, help="Follow the template this project was baked from (.cruft.json).")
app.add_typer(template_app, name="template")


@template_app.command("update")
def template_update(
    propose: Annotated[
        bool, typer.Option(help="Commit the update and open (or update) ONE pull request from template-update/...")
    ] = False,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Apply the template's changes since .cruft.json's commit (cruft), skipping your files (ops/gitops/ownership.py).
    A conflict changes nothing and exits 1, naming the files."""
    from ..gitops.github import has_token
    from ..gitops.template_update import PREFIX, TemplateConflictError, propose_update, update

    base = config_at(config).project.default_branch if propose else ""
    with step("Updating from the template", spinner=False):  # cruft's output is captured, not shown
        try:
            result = update(Path("."))
        except TemplateConflictError as exc:
            fail(str(exc), code=1)
    if not result.changed:
        print(f"up to date: nothing in the template since {result.old[:12]} changes this project")
        return
    print(f"updated from the template ({result.old[:12]} -> {result.new[:12]}): {len(result.changed)} files")
    for status, path in result.changed:
        print(f"  {status} {path}")
    if propose and not has_token():
        err.print(f"[yellow]skipped:[/yellow] the {PREFIX!r} pull request: GITHUB_TOKEN is not set", highlight=False)
    elif propose:
        with step("Proposing the update"):
            pr = propose_update(result, base)
        print(f"{pr['action']} PR #{pr['number']} from {pr['branch']}: {pr['html_url']}")
