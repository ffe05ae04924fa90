"""`mlops --version` and the help of every command."""

import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.ops.cli import app
from {{ cookiecutter.package_name }}.ops.cli.common import DISTRIBUTION

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
TYPE_LABEL = re.compile(r"<[a-z][\w\[\], |.]*>")  # Typer's own labels: <bool>, <path>, <list[Path]>, <int range>
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # in a workflow (GITHUB_ACTIONS), Typer colours help as on a terminal
HEAVY = ("sklearn", "mlflow", "bentoml", "evidently", "dvc")


def command_paths(command, path=()):
    """Every command and group of the app, as the words that call it."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


def help_of(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"mlops {' '.join(path)} --help: {result.output}"
    return ANSI.sub("", result.output)


def test_every_help_shows_its_options_and_no_python_types():
    paths = list(command_paths(typer.main.get_command(app)))
    assert ("smoke",) in paths and ("config", "check") in paths
    for path in paths:
        shown = help_of(*path)
        assert "--help" in shown
        assert not TYPE_LABEL.search(shown), f"mlops {' '.join(path)} --help:\n{shown}"
    assert "--config" in help_of("smoke")


def test_the_version_is_the_installed_distributions():
    assert DISTRIBUTION == tomllib.loads(PYPROJECT.read_text())["project"]["name"]
    result = CliRunner().invoke(app, ["--version"])
    try:
        expected = f"{DISTRIBUTION} {version(DISTRIBUTION)}"
    except PackageNotFoundError:  # the source tree on PYTHONPATH, not installed
        assert result.exit_code == 2 and f"{DISTRIBUTION} is not installed" in result.output, result.output
    else:
        assert result.exit_code == 0 and result.stdout.strip() == expected, result.output


def test_version_and_help_import_no_ml_library():
    code = (
        "import sys\n"
        "from {{ cookiecutter.package_name }}.ops.cli import app\n"
        "for args in (['--version'], ['--help'], ['smoke', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='mlops')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print([name for name in {HEAVY!r} if name in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "[]", out.stdout
