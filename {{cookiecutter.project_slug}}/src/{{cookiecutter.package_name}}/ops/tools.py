"""The command-line tools of this environment (the project's .venv), and the loopback helpers every
server start shares (smoke test, local target)."""

from __future__ import annotations

import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path


def executable(name: str) -> str:
    """`name` beside this Python (the venv's bin, which is not on PATH when `.venv/bin/mlops` is run
    directly), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, alive: Callable[[], bool], timeout: float) -> bool:
    """Until GET {url}/readyz answers 200 (True), or the server dies or `timeout` s pass (False).
    BentoML answers it once the service is up, and hangs rather than 503 before: short timeouts."""
    import httpx  # here: every `mlops` command imports this module

    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False
