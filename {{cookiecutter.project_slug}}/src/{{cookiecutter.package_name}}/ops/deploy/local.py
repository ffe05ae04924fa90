"""The local target: `bentoml serve` processes behind HAProxy on this machine, no cloud account needed.

HAProxy (the OS package) listens on 127.0.0.1:deploy.local.port. Its one backend has two server
slots, `stable` and `candidate`; weights, addresses and the mirror share move over its admin socket
(runtime API, never a reload, which would forget the weights). Each slot is served by its own
`bentoml serve <bento>` with its own BENTOML_HOME: servers sharing a home share (and wipe) one
Prometheus directory and report each other's metrics. Every process runs in its own session, so
the model keeps serving after `mlops deploy` returns or is killed; `state.json` records what runs,
and every call re-reads it and checks the processes, so a new LocalTarget sees the same deployment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

import httpx
import psutil  # a dependency of BentoML

from ..config import Config
from ..config import LocalTarget as LocalSettings
from ..monitoring.headers import SAMPLE_ENV, SYNTHETIC_HEADER
from ..state import STATE_ROOT_ENV, state_path
from ..tools import executable, free_port, wait_ready
from .policy import histogram_quantile
from .target import Observation, Release, State, TargetError, Window

HERE = Path(__file__).resolve().parent
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
BACKEND = "model"  # the backend's name in haproxy.cfg (mirror.lua uses it too)
ENDPOINT = "/predict"
READY_TIMEOUT = 180  # seconds for a new server's /readyz (8-15 s here, more on a busy machine)
STOP_TIMEOUT = 15  # seconds between SIGTERM and SIGKILL (BentoML stops in ~2 s)
DRAIN_SECONDS = 0.5  # an old stable keeps answering its in-flight requests this long after weight 0
PLACEHOLDER = "127.0.0.1:1"  # address of an empty slot (weight 0: never chosen)
LOG_TAIL = 40


# ---------------------------------------------------------------- window math (pure, unit-tested)


@dataclass(frozen=True)
class Counters:
    """One side's cumulative /predict counters from one scrape of BentoML's /metrics."""

    requests: int = 0
    errors: int = 0  # 5xx
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound in s, cumulative count), rising; +Inf last


def parse_metrics(text: str, endpoint: str = ENDPOINT) -> Counters:
    """Requests, 5xx and the latency histogram of `endpoint`, summed over response codes."""
    from prometheus_client.parser import text_string_to_metric_families

    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("endpoint") != endpoint:
                continue
            if family.name == "bentoml_service_request":  # the parser drops the counter's _total
                requests += sample.value
                errors += sample.value if sample.labels.get("http_response_code", "").startswith("5") else 0
            elif sample.name == "bentoml_service_request_duration_seconds_bucket":
                upper = float(sample.labels["le"])
                buckets[upper] = buckets.get(upper, 0.0) + sample.value
    return Counters(int(requests), int(errors), tuple(sorted(buckets.items())))


def restarted(previous: Counters, current: Counters) -> bool:
    """Counters only grow; any drop means the server restarted (and began again at 0)."""
    if current.requests < previous.requests or current.errors < previous.errors:
        return True
    before = dict(previous.buckets)
    return any(count < before.get(upper, 0) for upper, count in current.buckets)


def counters_delta(previous: Counters | None, current: Counters) -> Counters:
    """What happened between two scrapes; after a restart (or without a previous one), all of `current`."""
    if previous is None or restarted(previous, current):
        return current
    before = dict(previous.buckets)
    buckets = tuple((upper, count - before.get(upper, 0)) for upper, count in current.buckets)
    return Counters(current.requests - previous.requests, current.errors - previous.errors, buckets)


def window(delta: Counters) -> Window:
    p95 = histogram_quantile(0.95, delta.buckets) if delta.requests else None
    p95_ms = None if p95 is None else p95 * 1000
    return Window(requests=delta.requests, errors=delta.errors, p95_ms=p95_ms, latency=delta.buckets)


def mirror_delta(previous: tuple[int, int] | None, current: tuple[int, int]) -> tuple[int, int]:
    """(agreed, compared) since the previous reading; HAProxy's counters restart with HAProxy."""
    if previous is None or current[0] < previous[0] or current[1] < previous[1]:
        return current
    return current[0] - previous[0], current[1] - previous[1]


def parse_mirror(text: str) -> dict[str, int]:
    """`mirror show` -> {"percent": 10, "agreed": 3, ...}."""
    try:
        return {key: int(value) for key, value in (part.split("=") for part in text.split())}
    except ValueError:
        raise TargetError(f"local: unexpected answer to `mirror show`: {text.strip()!r}") from None


# ---------------------------------------------------------------- processes


def _process(pid: int | None, started: float | None = None) -> psutil.Process | None:
    """The live process `pid`; None when it is gone, a zombie, or the pid was reused (other start time)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError):  # our own child: reap it
                os.waitpid(pid, os.WNOHANG)
            return None
        return proc if started is None or proc.create_time() == started else None
    except psutil.Error:
        return None


def _alive(pid: int | None, started: float | None = None) -> bool:
    return _process(pid, started) is not None


def _start_time(pid: int) -> float | None:
    proc = _process(pid)
    return proc.create_time() if proc else None


def _family(pid: int) -> set[int]:
    """`pid` and its descendants. Circus gives every BentoML worker a session of its own, so the
    server's process group alone misses them."""
    proc = _process(pid)
    return {proc.pid, *(child.pid for child in proc.children(recursive=True))} if proc else set()


def _stop(pid: int | None, started: float | None = None, workers=(), timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM `pid` (a BentoML server stops its own workers), SIGKILL what is left after `timeout`.
    `workers` ([pid, start time] pairs) are found even when `pid` died first and left them orphaned."""
    live = [proc for proc in (_process(each, start) for each, start in [(pid, started), *workers]) if proc]
    family = {member for proc in live for member in (proc, *_children(proc))}
    if not family:
        return
    if main := _process(pid, started):
        main.terminate()
    _, left = psutil.wait_procs(family, timeout=timeout if main else 0)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, left = psutil.wait_procs(left, timeout=5)
    # A killed process its parent has not reaped yet is a zombie: dead, though psutil still waits on it.
    if left := [proc for proc in left if _alive(proc.pid, proc.create_time())]:
        shown = ", ".join(sorted(f"{proc.pid} ({_status(proc)})" for proc in left))
        raise TargetError(f"local: processes {shown} survived SIGKILL")


def _status(proc: psutil.Process) -> str:
    try:
        return f"{proc.name()}, {proc.status()}"
    except psutil.Error:
        return "gone"


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def _spawn(cmd: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str | None]:
    """Start `cmd` detached (own session and process group, output to `log`): it outlives this process."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid, _start_time(proc.pid)


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        kept = path.read_text(errors="replace").rstrip().splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(kept[-lines:]) or "(empty log)"


def _user_bentoml_home() -> Path:
    """The user's BentoML store (bentos and models), which every server's own home links to."""
    if home := os.environ.get("BENTOML_HOME"):
        return Path(home)
    from bentoml._internal.configuration.containers import BentoMLContainer

    return Path(BentoMLContainer.bentoml_home.get())


# ---------------------------------------------------------------- the target


class LocalTarget:
    """Stable and candidate `bentoml serve` processes behind HAProxy on 127.0.0.1:deploy.local.port."""

    name = "local"

    def __init__(self, config: Config, state_dir: Path | None = None, capture: bool = True) -> None:
        self.port = (config.deploy.local or LocalSettings()).port
        self.capture = capture  # False for rehearsals: their traffic is not production's
        # Under the state root: `make status` / `make undeploy` manage what `make act-cd` deployed.
        self.state_dir = Path(state_dir).absolute() if state_dir else state_path(".mlops/deploy/local")
        self.state_file = self.state_dir / "state.json"
        self.socket = self.state_dir / "haproxy.sock"
        self.url = f"http://127.0.0.1:{self.port}"
        self._last: dict[str, tuple[int, Counters]] = {}  # side -> (server pid, counters at the last observe)
        self._last_mirror: tuple[int, tuple[int, int]] | None = None  # (haproxy pid, (agreed, compared))

    # -------------------------------------------------------- the Target protocol

    def describe(self) -> State:
        state = self._load()
        if not self._proxy_alive(state):
            return State(details={"haproxy": "not running", "state_dir": str(self.state_dir)})
        weights = {slot: self._weight(slot) for slot in ("stable", "candidate")}
        mirror = parse_mirror(self._admin("mirror show"))
        details = {"haproxy": {"pid": state["haproxy"]["pid"], "log": str(self.state_dir / "haproxy.log")}}
        details["weights"] = weights
        details["mirror"] = mirror
        for slot in ("stable", "candidate"):
            if server := state.get(slot):
                details[slot] = {key: server.get(key) for key in ("pid", "port", "home", "workers", "ready_seconds")}
                details[slot]["alive"] = _alive(server["pid"], server.get("started"))
        return State(
            stable=_release(state.get("stable")),
            candidate=_release(state.get("candidate")),
            candidate_percent=weights["candidate"] if state.get("candidate") else 0,
            mirror_percent=mirror["percent"],
            url=self.url,
            details=details,
        )

    def deploy_candidate(self, release: Release) -> None:
        state = self._load()
        if not self._proxy_alive(state):
            state = self._fresh_state(state)
        current = state.get("candidate")
        if current and current["bento"] == release.bento and current.get("ready"):
            if _alive(current["pid"], current.get("started")):
                return  # already there
        if current:  # another bento, a dead server, or a deploy interrupted before it was ready
            self.rollback()
            state = self._load()
        server = self._start_server(release)
        state["candidate"] = server  # saved before the wait: an interrupted deploy can still be cleaned up
        self._save(state)
        try:
            if not self._proxy_alive(state):
                state["haproxy"] = self._start_proxy(state)
                self._save(state)
            self._wait_ready(server)
        except TargetError:
            self.rollback()
            raise
        self._admin(f"set server {BACKEND}/candidate addr 127.0.0.1 port {server['port']}")
        self._set_weight("candidate", 0)
        # The window of the first observe(): stable and mirror counters as the candidate starts.
        server["baseline"] = {"mirror": self._mirror_counts()}
        if stable := state.get("stable"):
            server["baseline"]["stable"] = asdict(self._scrape(stable))
        server["ready"] = True
        self._save(state)

    def set_traffic(self, percent: int) -> None:
        state = self._require_proxy()
        if not state.get("candidate"):
            raise TargetError("local: set_traffic needs a candidate (deploy_candidate first)")
        # Desired -> set -> verify. Without a stable, the candidate is the only server: stable stays 0.
        desired = {"stable": 100 - _percent(percent) if state.get("stable") else 0, "candidate": _percent(percent)}
        # The rising weight first: both at 0 for a moment would answer 503.
        for slot in sorted(desired, key=lambda slot: desired[slot] < self._weight(slot)):
            self._set_weight(slot, desired[slot])

    def set_mirror(self, percent: int) -> None:
        state = self._load()
        percent = _percent(percent)
        if percent and not state.get("candidate"):
            raise TargetError("local: set_mirror needs a candidate (deploy_candidate first)")
        if not percent and not self._proxy_alive(state):
            return
        self._require_proxy()
        self._admin(f"mirror set {percent}")
        if (got := parse_mirror(self._admin("mirror show"))["percent"]) != percent:
            raise TargetError(f"local: mirror share is {got} % after setting {percent} %")

    def observe(self) -> Observation:
        state = self._require_proxy()
        candidate = state.get("candidate")
        baseline = (candidate or {}).get("baseline", {})
        windows = {}
        for side in ("stable", "candidate"):
            server = state.get(side)
            if not server:
                windows[side] = Window()
                continue
            current = self._scrape(server)
            last = self._last.get(side)
            if last and last[0] == server["pid"]:
                previous = last[1]
            elif side == "stable" and "stable" in baseline:
                previous = Counters(**{**baseline["stable"], "buckets": _buckets(baseline["stable"]["buckets"])})
            else:
                previous = None
            windows[side] = window(counters_delta(previous, current))
            self._last[side] = (server["pid"], current)
        agreed, compared = self._mirror_window(state, baseline)
        return Observation(windows["stable"], windows["candidate"], agreed=agreed, compared=compared)

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        if side not in ("stable", "candidate"):
            raise TargetError(f"local: side must be 'stable' or 'candidate', got {side!r}")
        server = self._load().get(side)
        if not server:
            raise TargetError(f"local: no {side} server is deployed")
        try:
            url = f"http://127.0.0.1:{server['port']}{ENDPOINT}"
            response = httpx.post(url, json={"rows": rows}, headers={SYNTHETIC_HEADER: "replay"}, timeout=30)
        except httpx.HTTPError as exc:
            raise TargetError(f"local: {side} ({server['bento']}) did not answer: {exc}") from None
        if response.status_code != 200:
            raise TargetError(f"local: {side} ({server['bento']}) answered {response.status_code}: {response.text}")
        return response.json()["predictions"]

    def promote(self) -> None:
        state = self._require_proxy()
        candidate = state.get("candidate")
        if not candidate:
            return  # already promoted (or nothing to promote)
        self.set_mirror(0)
        self.set_traffic(100)
        # The stable slot takes the candidate's address: both slots now reach the new server, so no
        # request finds a slot with nowhere to go; then the candidate slot is emptied.
        self._admin(f"set server {BACKEND}/stable addr 127.0.0.1 port {candidate['port']}")
        self._set_weight("stable", 100)
        self._set_weight("candidate", 0)
        old = state.get("stable")
        candidate.pop("baseline", None)
        state.update(stable=candidate, candidate=None, retired=state.get("retired", []) + ([old] if old else []))
        self._save(state)
        time.sleep(DRAIN_SECONDS if old else 0)
        self._stop_retired(state)

    def rollback(self) -> None:
        state = self._load()
        candidate = state.get("candidate")
        if self._proxy_alive(state):
            # Stable up first (at the 100 % step it is at 0: both at 0 would answer 503), then at once
            # no new request reaches the candidate; then stop it.
            if state.get("stable"):
                self._set_weight("stable", 100)
            self._set_weight("candidate", 0)
            self._admin("mirror set 0")
        if not candidate:
            return
        state.update(candidate=None, retired=state.get("retired", []) + [candidate])
        self._save(state)
        self._stop_retired(state)

    def undeploy(self) -> None:
        state = self._load()
        haproxy = state.get("haproxy") or {}
        _stop(haproxy.get("pid"), haproxy.get("started"))
        for server in [state.get("stable"), state.get("candidate"), *state.get("retired", [])]:
            if server:
                _stop(server["pid"], server.get("started"), server.get("workers", ()))
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self._last.clear()
        self._last_mirror = None

    # -------------------------------------------------------- state

    def _load(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise TargetError(f"local: {self.state_file} is not valid JSON ({exc}); `undeploy` resets it") from None

    def _save(self, state: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)  # atomic: a reader sees the old or the new state, never half

    def _fresh_state(self, state: dict) -> dict:
        """HAProxy is gone, so nothing is served: stop what it fronted and start over."""
        if state:
            self.undeploy()
        fresh = {"port": self.port, "haproxy": None, "stable": None, "candidate": None, "retired": []}
        self._save(fresh)
        return fresh

    def _stop_retired(self, state: dict) -> None:
        for server in list(state.get("retired", [])):
            _stop(server["pid"], server.get("started"), server.get("workers", ()))
            shutil.rmtree(server["home"], ignore_errors=True)
            state["retired"].remove(server)
            self._save(state)

    # -------------------------------------------------------- servers

    def _start_server(self, release: Release) -> dict:
        """`bentoml serve` on a free port, with a home of its own whose store links to the user's."""
        port = free_port()
        home = self.state_dir / f"server-{port}"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        store = _user_bentoml_home()
        for name in ("bentos", "models"):
            (home / name).symlink_to(store / name, target_is_directory=True)
        env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        # The server runs in its own home: relative state (the request log) stays the project's.
        env.update(BENTOML_HOME=str(home), BENTOML_DO_NOT_TRACK="True", **{STATE_ROOT_ENV: str(state_path("."))})
        if not self.capture:
            env[SAMPLE_ENV] = "0"
        cmd = [executable("bentoml"), "serve", release.bento, "--host", "127.0.0.1", "--port", str(port)]
        pid, started = _spawn(cmd, home / "serve.log", cwd=home, env=env)
        return {
            "bento": release.bento,
            "version": release.version,
            "pid": pid,
            "started": started,
            "port": port,
            "home": str(home),
            "launched": time.time(),
        }

    def _wait_ready(self, server: dict, timeout: float = READY_TIMEOUT) -> None:
        log = Path(server["home"]) / "serve.log"
        url = f"http://127.0.0.1:{server['port']}"
        if not wait_ready(url, lambda: _alive(server["pid"], server.get("started")), timeout):
            if not _alive(server["pid"], server.get("started")):
                raise TargetError(f"local: `bentoml serve {server['bento']}` exited early; its log:\n{_tail(log)}")
            raise TargetError(f"local: {server['bento']} not ready after {timeout:.0f} s; its log:\n{_tail(log)}")
        server["ready_seconds"] = round(time.time() - server["launched"], 2)
        server["workers"] = [[each, _start_time(each)] for each in sorted(_family(server["pid"]) - {server["pid"]})]

    def _scrape(self, server: dict) -> Counters:
        try:
            response = httpx.get(f"http://127.0.0.1:{server['port']}/metrics", timeout=5)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TargetError(f"local: no /metrics from {server['bento']} (pid {server['pid']}): {exc}") from None
        return parse_metrics(response.text)

    # -------------------------------------------------------- HAProxy

    def _start_proxy(self, state: dict) -> dict:
        stable, candidate = state.get("stable"), state.get("candidate")
        cfg = self.state_dir / "haproxy.cfg"
        cfg.write_text(
            Template((HERE / "haproxy.cfg").read_text()).substitute(
                socket=f"unix@{self.socket.name}",  # relative to HAProxy's cwd: unix paths have at most 107 bytes
                lua=HERE / "mirror.lua",
                port=self.port,
                stable=f"127.0.0.1:{stable['port']}" if stable else PLACEHOLDER,
                stable_weight=100 if stable else 0,
                candidate=f"127.0.0.1:{candidate['port']}" if candidate else PLACEHOLDER,
            )
        )
        if not shutil.which(HAPROXY):
            raise TargetError("local: haproxy is not installed (Debian/Ubuntu: apt-get install haproxy)")
        check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise TargetError(f"local: {cfg} is invalid:\n{check.stdout}{check.stderr}")
        log = self.state_dir / "haproxy.log"
        pid, started = _spawn([HAPROXY, "-db", "-f", str(cfg)], log, cwd=self.state_dir)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not _alive(pid, started):
                raise TargetError(f"local: haproxy exited (port {self.port} in use?); its log:\n{_tail(log)}")
            try:
                self._admin("show info")
                return {"pid": pid, "started": started}
            except TargetError:
                time.sleep(0.05)
        _stop(pid, started)
        raise TargetError(f"local: haproxy did not open {self.socket} within 10 s; its log:\n{_tail(log)}")

    def _proxy_alive(self, state: dict) -> bool:
        haproxy = state.get("haproxy") or {}
        return _alive(haproxy.get("pid"), haproxy.get("started")) and self.socket.exists()

    def _require_proxy(self) -> dict:
        state = self._load()
        if not self._proxy_alive(state):
            raise TargetError(f"local: nothing is deployed (no haproxy running for {self.state_dir})")
        return state

    def _admin(self, command: str) -> str:
        """One command over the admin socket (the runtime API); HAProxy closes the connection after it."""
        path = min(str(self.socket), os.path.relpath(self.socket), key=len)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
                sock.sendall(command.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise TargetError(f"local: haproxy admin socket {self.socket}: {exc}") from None
        answer = b"".join(chunks).decode()
        if answer.lstrip().lower().startswith(("unknown command", "no such", "error", "require")):
            raise TargetError(f"local: haproxy refused `{command}`: {answer.strip()}")
        return answer

    def _weight(self, slot: str) -> int:
        answer = self._admin(f"get weight {BACKEND}/{slot}")  # "10 (initial 0)"
        try:
            return int(answer.split()[0])
        except (IndexError, ValueError):
            raise TargetError(f"local: unexpected answer to `get weight {BACKEND}/{slot}`: {answer!r}") from None

    def _set_weight(self, slot: str, weight: int) -> None:
        self._admin(f"set weight {BACKEND}/{slot} {weight}")
        if (got := self._weight(slot)) != weight:
            raise TargetError(f"local: weight of {slot} is {got} after setting {weight}")

    def _mirror_counts(self) -> tuple[int, int]:
        counts = parse_mirror(self._admin("mirror show"))
        return counts["agreed"], counts["compared"]

    def _mirror_window(self, state: dict, baseline: dict) -> tuple[int, int]:
        pid = state["haproxy"]["pid"]
        current = self._mirror_counts()
        if self._last_mirror and self._last_mirror[0] == pid:
            previous = self._last_mirror[1]
        else:
            previous = tuple(baseline["mirror"]) if "mirror" in baseline else None
        self._last_mirror = (pid, current)
        return mirror_delta(previous, current)


def _release(server: dict | None) -> Release | None:
    return Release(server["bento"], server.get("version")) if server else None


def _buckets(raw: list) -> tuple[tuple[float, float], ...]:
    return tuple((float(upper), float(count)) for upper, count in raw)


def _percent(percent: int) -> int:
    if not 0 <= int(percent) <= 100:
        raise TargetError(f"local: a traffic share is 0-100 %, got {percent}")
    return int(percent)
