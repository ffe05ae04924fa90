"""Plain helpers of the template's tests; conftest.py turns the useful ones into fixtures.

Everything here is safe under pytest-xdist: nothing writes to a fixed path, every bake goes into a
directory the caller owns (a tmp_path_factory directory in the fixtures).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PROJECT = ROOT / "{{cookiecutter.project_slug}}"
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python"

CONTEXT = json.loads((ROOT / "cookiecutter.json").read_text())
PYTHON_VERSIONS: tuple[str, ...] = tuple(CONTEXT["python_version"])
TARGETS: tuple[str, ...] = tuple(CONTEXT["deploy_target"])
DEFAULT_SLUG = "cancer-classifier"  # from the default project_name "Cancer Classifier"
DEFAULT_PACKAGE = "cancer_classifier"

# Variables that would make a command in a baked project use the wrong environment, and this
# machine's PYTHONDONTWRITEBYTECODE: test installs are not pre-compiled (make_setup), so Python must
# be free to write the .pyc of what it imports.
_FOREIGN = (
    "VIRTUAL_ENV",
    "PYTHONHOME",
    "PYTHONPATH",
    "UV_PROJECT_ENVIRONMENT",
    "CONDA_PREFIX",
    "PYTHONDONTWRITEBYTECODE",
)
_TAIL_LINES = 80


def project_env(**extra: str) -> dict[str, str]:
    """The environment for commands run in a baked project: no foreign venv, no telemetry."""
    env = {key: value for key, value in os.environ.items() if key not in _FOREIGN}
    env.update(
        UV_COMPILE_BYTECODE="1",  # as the Makefiles export it (PYTHONDONTWRITEBYTECODE is set here)
        MLFLOW_DISABLE_TELEMETRY="true",
        BENTOML_DO_NOT_TRACK="True",
        DO_NOT_TRACK="1",
        GIT_AUTHOR_NAME="template tests",
        GIT_AUTHOR_EMAIL="tests@localhost",
        GIT_COMMITTER_NAME="template tests",
        GIT_COMMITTER_EMAIL="tests@localhost",
    )
    env.update(extra)
    return env


def template_venv_env(project: Path, **extra: str) -> dict[str, str]:
    """Run a baked project's code with the template's own venv (it holds every runtime dependency)."""
    return project_env(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(project / "src"), **extra
    )


def _tail(text: str | bytes | None, lines: int = _TAIL_LINES) -> str:
    if text is None:
        return "(nothing)"
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = text.rstrip().splitlines()
    if not kept:
        return "(empty)"
    cut = f"[... {len(kept) - lines} earlier lines ...]\n" if len(kept) > lines else ""
    return cut + "\n".join(kept[-lines:])


def _signal_note(returncode: int | str) -> str:
    """Exit codes that mean a signal: negative (direct child) or 128+N (through a shell or uv)."""
    if isinstance(returncode, int) and (returncode < 0 or 128 < returncode < 160):
        number = -returncode if returncode < 0 else returncode - 128
        try:
            return f" (killed by {signal.Signals(number).name})"
        except ValueError:
            return ""
    return ""


def describe(cmd: Sequence[str] | str, cwd: Path, returncode: int | str, stdout, stderr) -> str:
    shown = cmd if isinstance(cmd, str) else shlex.join(str(part) for part in cmd)
    return (
        f"`{shown}` in {cwd} -> exit {returncode}{_signal_note(returncode)}\n"
        f"----- stdout -----\n{_tail(stdout)}\n"
        f"----- stderr -----\n{_tail(stderr)}"
    )


def run(
    cmd: Sequence[str | Path],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    ok: Sequence[int] | None = (0,),
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run `cmd` in `cwd` and capture its output; fail the test with both outputs unless the exit
    code is in `ok` (None: accept any code and let the caller assert)."""
    args = [str(part) for part in cmd]
    try:
        proc = subprocess.run(
            args,
            check=False,
            cwd=cwd,
            env=env if env is not None else project_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(describe(args, cwd, f"timeout after {timeout:.0f} s", exc.stdout, exc.stderr), pytrace=False)
    if ok is not None and proc.returncode not in ok:
        pytest.fail(describe(args, cwd, proc.returncode, proc.stdout, proc.stderr), pytrace=False)
    return proc


def mlops(project: Path, *args: str, ok: Sequence[int] | None = (0,), timeout: float = 300):
    """`mlops ARGS` from the baked project's source with the template's venv (no `make setup`)."""
    entry = f"import sys; from {package_of(project)}.ops.cli import main; sys.argv[0] = 'mlops'; main()"
    return run([PYTHON, "-c", entry, *args], project, env=template_venv_env(project), ok=ok, timeout=timeout)


def package_of(project: Path) -> str:
    (package,) = [path.name for path in (project / "src").iterdir() if (path / "__init__.py").exists()]
    return package


def bake(output_dir: Path, template: Path = ROOT, **answers: str) -> Path:
    """Bake the template (this one, or a copy) with these answers (defaults for the rest) into
    `output_dir`; the project path.

    Runs the cookiecutter CLI of the template's venv with a private config (no user config, replay
    files kept in `output_dir`), so parallel workers never share a file.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir / ".cookiecutter-config.yaml"
    replay = output_dir / ".replay"
    replay.mkdir(exist_ok=True)
    config.write_text(f"replay_dir: {json.dumps(str(replay))}\n")
    before = {path.name for path in output_dir.iterdir()}
    run(
        [VENV_BIN / "cookiecutter", template, "--no-input", "--config-file", config, "-o", output_dir]
        + [f"{key}={value}" for key, value in answers.items()],
        output_dir,
        timeout=120,
    )
    (project,) = [path for path in output_dir.iterdir() if path.name not in before and path.is_dir()]
    return project


def git_commit(project: Path, message: str = "Bake", env: dict[str, str] | None = None) -> None:
    """`git init` (once) + commit everything, as a user does right after baking. Git hooks run: a
    project with `pre-commit install` done (make_ready_project) commits only if its hooks pass."""
    if not (project / ".git").is_dir():
        run(["git", "init", "-q", "-b", "main"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", message], project, env=env, timeout=300)


@functools.cache
def python_dir(version: str) -> Path:
    """A directory holding a working `python<version>` (PATH first, then pyenv's versions): put it on
    PATH and uv finds the interpreter a bake's .python-version asks for (uv can download none here)."""
    candidates = [Path(entry) for entry in os.environ.get("PATH", "").split(os.pathsep) if entry]
    candidates += sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin"), reverse=True)
    for directory in candidates:
        executable = directory / f"python{version}"
        if executable.is_file():
            out = subprocess.run(
                [executable, "-c", "import sys; print(sys.version_info[:2])"],
                check=False,
                capture_output=True,
                text=True,
            )
            if out.returncode == 0 and out.stdout.strip() == str(tuple(map(int, version.split(".")))):
                return directory
    pytest.fail(f"no working python{version} on PATH nor under ~/.pyenv/versions", pytrace=False)


def setup_env(project: Path, **extra: str) -> dict[str, str]:
    """project_env for `make setup` and git hooks: the template venv's uv first (a pyenv shim of uv
    would look for uv in the bake's Python), then the interpreter the bake's .python-version names."""
    version = (project / ".python-version").read_text().strip()
    path = os.pathsep.join([str(VENV_BIN), str(python_dir(version)), os.environ.get("PATH", "")])
    return project_env(PATH=path, **extra)


def make_setup(project: Path, env: dict[str, str] | None = None, timeout: float = 1200, compiled: bool = False) -> None:
    """`make setup`, without the Makefile's bytecode pre-compilation unless `compiled`: compiling every
    installed package costs ~40 s of CPU per install here (49 s vs 10 s warm), while Python writes
    the .pyc of what it imports on first use (project_env lets it). test_first_day installs exactly
    as a user does (`compiled=True`)."""
    cmd = ["make", "setup"] if compiled else ["make", "setup", "UV_COMPILE_BYTECODE=0"]
    run(cmd, project, env=env if env is not None else setup_env(project), timeout=timeout)


def make_ready_project(output_dir: Path, **answers: str) -> Path:
    """A baked project with `make setup` done (its own .venv on its Python, ~1-2 min warm) and
    `pre-commit install`ed, then committed to git: the commit passes the project's own hooks."""
    project = bake(output_dir, **answers)
    run(["git", "init", "-q", "-b", "main"], project)
    make_setup(project)
    run(["uv", "run", "--no-sync", "pre-commit", "install"], project, env=setup_env(project))
    git_commit(project, env=setup_env(project))
    return project


@dataclass
class ActRun:
    returncode: int
    jobs: dict[str, str]  # job id -> success/failure
    log: dict[str, str]  # job id -> its messages

    def ok(self, *jobs: str) -> bool:
        return all(self.jobs.get(job) == "success" for job in jobs)

    def __str__(self) -> str:
        """Job results and the last lines of every failed job's log: the assertion message."""
        failed = [job for job, result in self.jobs.items() if result != "success"]
        tails = "".join(f"\n----- {job} -----\n" + "\n".join(self.log[job].splitlines()[-60:]) for job in failed)
        return f"{self.jobs}{tails}"


def run_act(args: Sequence[str], project: Path, env: dict[str, str]) -> ActRun:
    """`.github/act/run EVENT WORKFLOW [flags]` in `project` (as `make act-*` runs it), its --json log
    split by job."""
    cmd = [".github/act/run", *args, "--json"]
    out = subprocess.run(cmd, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=900)
    jobs, log = {}, {}
    for line in out.stdout.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        job = record.get("jobID", "")
        log[job] = log.get(job, "") + record.get("msg", "") + "\n"
        if "jobResult" in record:
            jobs[job] = record["jobResult"]
    assert jobs, f"act ran no job:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return ActRun(out.returncode, jobs, log)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text_files(project: Path) -> Iterator[tuple[Path, str]]:
    """(relative path, text) of every UTF-8 file of a project, outside .git and .venv."""
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if not path.is_file() or relative.parts[0] in {".git", ".venv"}:
            continue
        try:
            yield relative, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def template_leftovers(project: Path) -> list[str]:
    """`file:line: what` for every Jinja remnant or mention of cookiecutter in a baked project.

    Under .github/ (copied without rendering) GitHub's own `${{ ... }}` expressions are allowed;
    anything else that looks like Jinja is not. uv.lock may name the cookiecutter package (cruft, a
    dev tool of the project, depends on it), and .cruft.json has its "cookiecutter" context (cruft's format).
    """
    found = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if relative.parts[0] not in {".git", ".venv"} and re.search(r"\{\{|\{%|cookiecutter", relative.as_posix()):
            found.append(f"{relative}: file name is not rendered")
    for relative, text in text_files(project):
        github = relative.parts[0] == ".github"
        tool_file = relative.as_posix() in ("uv.lock", ".cruft.json")
        for number, line in enumerate(text.splitlines(), 1):
            checked = GITHUB_EXPRESSION.sub("", line) if github else line
            for pattern, what in (
                (r"\{\{", "{{"),
                (r"\{%", "{%"),
                (r"(?<!\$)\{#", "{#"),
                (r"(?i)cookiecutter", "the word cookiecutter"),
            ):
                if re.search(pattern, checked) and not (tool_file and what == "the word cookiecutter"):
                    found.append(f"{relative}:{number}: {what}: {line.strip()[:120]}")
    return found


READY_TIMEOUT = 120  # seconds for `bentoml serve` to answer /readyz (~5-15 s here)


def stop_group(proc: subprocess.Popen) -> None:
    """Stop the server and its workers (its own process group, started by the fixture)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def serving(cmd: list, cwd: Path, env: dict[str, str], log_path: Path, port: int):
    """Start `cmd` (a server on 127.0.0.1:port) in its own process group; yield its URL once
    /readyz answers 200; stop it and its workers afterwards."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(c) for c in cmd], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"{cmd[0]} exited {proc.returncode} before /readyz:\n{_tail(log_path.read_bytes())}", pytrace=False
                )
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no /readyz 200 within {READY_TIMEOUT} s:\n{_tail(log_path.read_bytes())}", pytrace=False)
            time.sleep(0.5)
        yield url
    finally:
        stop_group(proc)
