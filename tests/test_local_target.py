"""The local deploy target for real: `bentoml serve` processes behind HAProxy, driven by client traffic.

One baked project with real bentos (tests/bentos.py), one deployment for the whole module: the tests
run in file order and each leaves the deployment as the next one expects (a stable model serving).
Traffic is loopback only, from a few httpx clients for a few seconds; statuses are counted on the
client side. ~1.5 min after the bentos are built (~3 min); every process is stopped at module end.
"""

from __future__ import annotations

import csv
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import load
import psutil
import pytest
import yaml
from bentos import Bentos, shared_bentos
from helpers import free_port, package_of

pytestmark = pytest.mark.slow

CLIENTS = 6
SECONDS = 4.0


@pytest.fixture(scope="module")
def bentos(tmp_path_factory, worker_id) -> Bentos:
    return shared_bentos(tmp_path_factory, worker_id)  # read-only here


@pytest.fixture(scope="module")
def local(bentos, tmp_path_factory):
    """The baked project's ops.deploy.local module, imported from its source with its store in the env."""
    sys.path.insert(0, str(bentos.project / "src"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(bentos.bentoml_home))
        patch.setenv("MLOPS_STATE_ROOT", str(tmp_path_factory.mktemp("state")))  # request log: not this checkout
        yield importlib.import_module(f"{package_of(bentos.project)}.ops.deploy.local")
    sys.path.remove(str(bentos.project / "src"))


@pytest.fixture(scope="module")
def make_target(bentos, local, tmp_path_factory) -> Callable:
    """New LocalTarget objects for one state dir and a free port (as a restarted controller makes them)."""
    config_module = importlib.import_module(f"{package_of(bentos.project)}.ops.config")
    config = config_module.load_config(bentos.project / "mlops.yaml")
    deploy = config.deploy.model_copy(update={"local": config_module.LocalTarget(port=free_port())})
    config = config.model_copy(update={"deploy": deploy})
    state_dir = tmp_path_factory.mktemp("local") / "state"
    made = []

    def make():
        made.append(local.LocalTarget(config, state_dir))
        return made[-1]

    yield make
    if made:
        made[0].undeploy()  # whatever a test left behind


@pytest.fixture(scope="module")
def target(make_target):
    return make_target()


@pytest.fixture(scope="module")
def rows(bentos) -> list[dict]:
    columns = list(yaml.safe_load((bentos.project / "mlops.yaml").read_text())["data"]["columns"])
    with (bentos.project / "data" / "raw.csv").open() as data:
        reader = csv.DictReader(data)
        return [{name: float(row[name]) for name in columns} for row, _ in zip(reader, range(2), strict=False)]


def traffic(url: str, rows: list[dict], seconds: float = SECONDS, during: Callable | None = None) -> Counter:
    """Keep-alive clients POST /predict for `seconds` (while `during` runs); statuses counted."""
    return load.traffic(url, rows, seconds, during, clients=CLIENTS)


def failures(statuses: Counter) -> dict:
    return {status: count for status, count in statuses.items() if status != 200}


def running(pid: int) -> bool:
    """Alive and not a zombie (nothing reaps children of an exited process here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_mirror_drained(target, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while target.describe().details["mirror"]["pending"] and time.monotonic() < deadline:
        time.sleep(0.2)


def test_first_deploy_answers_directly_then_serves_after_promote(target, bentos, rows, local):
    started = time.monotonic()
    target.deploy_candidate(local.Release(bentos.good, bentos.version))
    ready = time.monotonic() - started
    state = target.describe()
    assert state.stable is None and state.candidate.bento == bentos.good and state.candidate_percent == 0
    assert httpx.post(f"{state.url}/predict", json={"rows": rows}).status_code == 503  # all weights 0
    predictions = target.predict(rows)
    assert len(predictions) == len(rows) and set(predictions) <= {0, 1}

    target.deploy_candidate(local.Release(bentos.good, bentos.version))  # idempotent: the same server
    assert target.describe().details["candidate"]["pid"] == state.details["candidate"]["pid"]
    target.set_traffic(100)
    target.promote()
    state = target.describe()
    assert state.stable.bento == bentos.good and state.candidate is None
    assert failures(traffic(state.url, rows, seconds=1)) == {}
    print(f"first deploy ready in {ready:.1f} s")


def test_a_new_target_object_sees_the_same_deployment(target, make_target):
    before, after = target.describe(), make_target().describe()
    assert after.stable == before.stable and after.url == before.url
    assert after.details["stable"]["pid"] == before.details["stable"]["pid"] and after.details["stable"]["alive"]


@pytest.mark.parametrize("percent, tolerance", [(10, 5), (50, 10)])
def test_traffic_split_matches_the_weights(target, bentos, rows, local, percent, tolerance):
    target.deploy_candidate(local.Release(bentos.good2, bentos.version))  # the first case starts it
    target.set_traffic(percent)
    assert target.describe().candidate_percent == percent
    target.observe()  # the window starts now
    statuses = traffic(target.url, rows)
    seen = target.observe()
    total = seen.stable.requests + seen.candidate.requests
    assert failures(statuses) == {} and total == statuses[200]
    assert abs(100 * seen.candidate.requests / total - percent) <= tolerance, seen
    assert seen.candidate.errors == seen.stable.errors == 0 and seen.candidate.p95_ms > 0


def test_a_mirrored_good_candidate_agrees(target, rows):
    target.set_traffic(0)
    target.set_mirror(100)
    target.observe()
    statuses = traffic(target.url, rows, seconds=3)
    wait_mirror_drained(target)
    seen = target.observe()
    target.set_mirror(0)
    assert failures(statuses) == {} and target.describe().mirror_percent == 0
    assert seen.compared >= 50 and seen.agreed == seen.compared, seen


def test_promote_under_load_fails_no_request(target, bentos, rows):
    old = target.describe().details["stable"]["pid"]
    statuses = traffic(target.url, rows, seconds=6, during=lambda: (time.sleep(1.5), target.promote()))
    state = target.describe()
    assert failures(statuses) == {} and statuses[200] > 100, statuses
    assert state.stable.bento == bentos.good2 and state.candidate is None
    assert state.details["weights"] == {"stable": 100, "candidate": 0}
    assert not running(old), "the old stable server is still running"
    target.promote()  # idempotent: nothing left to promote


def test_a_failing_candidate_is_invisible_to_clients_and_seen_in_its_metrics(target, bentos, rows, local):
    target.deploy_candidate(local.Release(bentos.failing, bentos.version))
    pid = target.describe().details["candidate"]["pid"]
    target.set_traffic(50)
    target.observe()
    statuses = traffic(target.url, rows)
    seen = target.observe()
    assert failures(statuses) == {}, statuses  # HAProxy retried every 500 on stable
    assert seen.candidate.requests >= 50 and 0.3 <= seen.candidate.error_rate <= 0.7, seen

    started = time.monotonic()
    target.rollback()
    took = time.monotonic() - started
    state = target.describe()
    assert state.candidate is None and state.details["weights"] == {"stable": 100, "candidate": 0}
    assert not running(pid) and took < 20
    target.rollback()  # idempotent: no candidate left
    print(f"rollback (weight 0, then the server stopped) took {took:.2f} s")


def test_a_mirrored_disagreeing_candidate_disagrees_and_a_dead_candidate_shows(target, bentos, rows, local):
    target.deploy_candidate(local.Release(bentos.disagreeing, bentos.version))
    target.set_mirror(50)
    target.observe()
    statuses = traffic(target.url, rows, seconds=3)
    wait_mirror_drained(target)
    seen = target.observe()
    assert failures(statuses) == {} and seen.compared >= 30 and seen.agreed == 0, seen

    server = target.describe().details["candidate"]
    os.kill(server["pid"], signal.SIGKILL)  # the server dies; its worker lives on, orphaned
    deadline = time.monotonic() + 10
    while running(server["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    state = target.describe()
    assert state.candidate.bento == bentos.disagreeing and not state.details["candidate"]["alive"]
    target.rollback()
    assert target.describe().candidate is None
    assert server["workers"] and not [pid for pid, _ in server["workers"] if running(pid)], "orphans left"
    assert not listening(server["port"])


def test_a_slow_candidate_shows_in_its_p95(target, bentos, rows, local):
    target.deploy_candidate(local.Release(bentos.slow, bentos.version))
    target.set_traffic(50)
    target.observe()
    statuses = traffic(target.url, rows, seconds=3)
    seen = target.observe()
    if not seen.stable.requests:  # seen once in CI under full load, not reproduced: say so, measure again
        warnings.warn(f"stable saw no request in a 3 s window at 50 %: {seen} {target.describe()}", stacklevel=1)
        statuses += traffic(target.url, rows, seconds=3)
        seen = target.observe()
    target.rollback()
    assert failures(statuses) == {}
    assert seen.stable.requests and seen.candidate.requests, seen
    assert seen.candidate.p95_ms >= 300 and seen.candidate.p95_ms > seen.stable.p95_ms + 100, seen


def test_undeploy_leaves_no_process_and_no_listener(target, make_target):
    state = target.describe()
    pids = [state.details["haproxy"]["pid"], state.details["stable"]["pid"]]
    pids += [pid for pid, _ in state.details["stable"]["workers"]]
    make_target().undeploy()  # from another object, as `mlops undeploy` after a restart would
    assert not [pid for pid in pids if running(pid)], "processes outlived undeploy"
    assert not listening(int(state.url.rsplit(":", 1)[1]))
    assert not target.state_dir.exists()
    assert target.describe().stable is None


def test_a_killed_process_its_parent_has_not_reaped_counts_as_stopped(local):
    """A SIGKILLed server worker stays a zombie until its parent reaps it: `_stop`'s check (`_alive`)
    must not call it a survivor (CI saw "survived SIGKILL" for one under load)."""
    # bash starts `sleep 0`, then becomes `sleep 30`, which never reaps it: a zombie with a live parent.
    parent = subprocess.Popen(["bash", "-c", "sleep 0 & exec sleep 30"])
    try:
        deadline = time.monotonic() + 10
        while not (children := psutil.Process(parent.pid).children()) and time.monotonic() < deadline:
            time.sleep(0.05)
        (zombie,) = children
        while zombie.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert zombie.status() == psutil.STATUS_ZOMBIE
        assert not local._alive(zombie.pid, zombie.create_time()) and local._alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()
