"""`mlops` commands: Pull-request feedback: metrics report, gate, sticky comment, the retraining PR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import CONFIG_FILE, Config
from .common import ConfigOption, app, config_at, err, set_output, step, summary

BaseOption = Annotated[str, typer.Option("--base", help="Base branch or ref to compare with")]


@app.command()
def report(
    base: BaseOption = "",
    output: Annotated[Path | None, typer.Option(help="Also write the markdown here")] = None,
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Markdown table of metrics and params: this change vs the champion and the base branch."""
    from ..gitops.report import markdown

    cfg = config_at(config)
    with step("Comparing metrics"):
        text, _ = markdown(cfg, base or cfg.project.default_branch)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    summary(text)
    set_output(report=text)
    print(text)


@app.command()
def gate(base: BaseOption = "", config: ConfigOption = CONFIG_FILE) -> None:
    """Exit 1 unless metrics.json meets training.min_metric and stays within max_regression of the champion."""
    from ..gitops.report import markdown

    cfg = config_at(config)
    with step("Checking the gate"):
        _, problems = markdown(cfg, base or cfg.project.default_branch)
    for problem in problems:
        err.print(f"[red]gate:[/red] {problem}", highlight=False)
    if problems:
        raise typer.Exit(1)
    print("gate passed")


@app.command()
def comment(
    pr: Annotated[int, typer.Option(help="Pull request number")],
    body: Annotated[str, typer.Option(help="Markdown to post")],
    marker: Annotated[str, typer.Option(help="Identifies the comment to update")] = "mlops-metrics",
) -> None:
    """Create or update this PR's one comment with `marker` (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL)."""
    from ..gitops.github import GitHub, has_token

    if not has_token():
        return _skip(f"the comment on PR #{pr}")
    with step(f"Commenting on PR #{pr}"):
        result = GitHub.from_env().upsert_comment(pr, body, marker)
    print(f"{result['action']} comment {result['html_url']}")


def _skip(what: str) -> None:
    """Without a token (a local run under act) GitHub's steps are skipped with one line, not failed."""
    err.print(f"[yellow]skipped:[/yellow] {what}: GITHUB_TOKEN is not set (nor GH_TOKEN)", highlight=False)


def _retraining_set(cfg: Config) -> list[str]:
    """What a retraining changes: the data (or its .dvc pointer), dvc.lock and metrics.json."""
    pointer = Path(cfg.data.source + ".dvc")
    return ["dvc.lock", "metrics.json", str(pointer) if pointer.exists() else cfg.data.source]


@app.command()
def propose(
    title: Annotated[str, typer.Option(help="Commit and PR title")],
    body_file: Annotated[list[Path], typer.Option(help="PR body parts (markdown), joined")],
    paths: Annotated[list[str] | None, typer.Argument(help="Files to commit (default: the retraining set)")] = None,
    prefix: Annotated[str, typer.Option(help="Branch prefix; one open PR per prefix")] = "retrain/",
    config: ConfigOption = CONFIG_FILE,
) -> None:
    """Commit PATHS to a branch, push it and open (or update) the one PR of that prefix."""
    from ..gitops.github import GitHub, has_token
    from ..gitops.propose import propose as run

    cfg = config_at(config)
    if not has_token():
        return _skip(f"the {prefix!r} pull request (its files stay changed in this checkout)")
    with step("Proposing the change"):
        body = "\n\n".join(part.read_text() for part in body_file)
        result = run(GitHub.from_env(), paths or _retraining_set(cfg), cfg.project.default_branch, prefix, title, body)
    print(f"{result['action']} PR #{result['number']} from {result['branch']}: {result['html_url']}")
