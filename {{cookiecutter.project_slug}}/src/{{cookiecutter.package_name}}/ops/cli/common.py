"""What every `mlops` command shares: the Typer apps, one-line errors, step outputs, job summaries."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperOption

from ..config import Config, load_config
from ..errors import MlopsError

DISTRIBUTION = "{{ cookiecutter.project_slug }}"  # pyproject.toml's project.name: `mlops --version`


def _no_type(param, ctx) -> str:
    """Typer (>= 0.27) puts each parameter's Python type in help (`<bool>` even for --help,
    `<list[Path]>`): noise beside help texts that say what a value is."""
    return ""


TyperOption.display_type_rich = TyperArgument.display_type_rich = _no_type

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # a docstring's lines join into paragraphs; `code` is shown as code
    help="`mlops`: the commands the DVC pipeline, the Makefile and the workflows call.",
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"{DISTRIBUTION} {version(DISTRIBUTION)}")
        except PackageNotFoundError:
            fail(f"{DISTRIBUTION} is not installed in this environment: run `make setup`")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Options before any command."""


config_app = typer.Typer(no_args_is_help=True, help="Check mlops.yaml or export its JSON Schema.")
app.add_typer(config_app, name="config")
# CI logs: one message, one line. In a workflow, plain text: act gives steps a terminal, and a
# spinner's cursor codes would litter the log (GitHub's runners have none).
IN_WORKFLOW = bool(os.environ.get("GITHUB_ACTIONS"))
err = Console(stderr=True, soft_wrap=True, force_terminal=False if IN_WORKFLOW else None)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The config file")]


@contextmanager
def step(message: str, spinner: bool = True):
    """A spinner on long steps (off where the step draws its own live view); MlopsError becomes one
    red line and exit code 2."""
    try:
        with err.status(message) if spinner and not IN_WORKFLOW else nullcontext():
            yield
    except MlopsError as exc:
        fail(str(exc))


def fail(message: str, code: int = 2):
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code) from None


def notice(message: str) -> None:
    """One line that needs no action; an annotation on the run's page in GitHub Actions."""
    prefix = "::notice::" if os.environ.get("GITHUB_ACTIONS") else "notice: "
    print(prefix + message)


def config_at(path: Path) -> Config:
    with step(f"Reading {path}"):
        return load_config(path)


def set_output(**values: str) -> None:
    """Set step outputs when running in a workflow (multi-line values in GitHub's heredoc form)."""
    if target := os.environ.get("GITHUB_OUTPUT"):
        with open(target, "a") as handle:
            for key, value in values.items():
                delimiter = f"EOF_{secrets.token_hex(8)}"
                handle.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")


def summary(markdown: str) -> None:
    """Append to the GitHub job summary when running in a workflow."""
    if target := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(target, "a") as handle:
            handle.write(markdown + "\n")
