"""MLflow tracking: every evaluated model becomes a run with its params, metrics, lineage and model.

One source of truth for the registry: `tracking_uri` decides where it is (MLFLOW_TRACKING_URI, a
team's server, wins over mlops.yaml), `connect` bounds MLflow's HTTP retries so an unreachable
server fails a command within seconds, and `reaching` turns MLflow's errors into one RegistryError
that names the store and the cause, never a credential.
"""

from __future__ import annotations

import functools
import os
import re
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import mlflow
import pandas as pd
import requests
import skops.io
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from urllib3.exceptions import ReadTimeoutError

from ..config import Config
from ..errors import MlopsError
from ..state import state_path

# Pinning requirements ourselves spares MLflow ~7 s of inferring them from an input example.
_SERVING_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "skops")

MODEL_URI_TAG = "model_uri"  # MLflow 3 keeps models apart from run artifacts: runs:/ URIs miss them
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
SQLITE = "sqlite:///"
# MLflow's defaults retry an unreachable server for ~4 minutes (7 retries, backoff 2, 120 s timeout).
# These give up after 3 attempts: ~3 s when the port is closed, under 20 s when the server hangs.
# setdefault: a user's own values win.
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
_SECRET_ENV = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
_USERINFO = re.compile(r"(://)[^/@\s]+@")


class RegistryError(MlopsError):
    """The registry cannot be reached, refuses us, or lacks what a command needs (a run, an alias)."""


def tracking_uri(config: Config) -> str:
    """Where the registry is: MLFLOW_TRACKING_URI when set (a team's server), else registry.tracking_uri;
    a relative sqlite path is under the state root (state.state_path)."""
    uri = os.environ.get(TRACKING_URI_ENV) or config.registry.tracking_uri
    store = sqlite_file(uri)
    return f"{SQLITE}{store}{_query(uri)}" if store else uri


def sqlite_file(uri: str) -> Path | None:
    """The file of an embedded sqlite store (None for a server or another database)."""
    if not uri.startswith(SQLITE):
        return None
    return state_path(uri.removeprefix(SQLITE).split("?", 1)[0])


def _query(uri: str) -> str:
    return uri[uri.index("?") :] if "?" in uri else ""


def shown(text: str) -> str:
    """`text` (a URI, an error) fit for a log line: no user:password@ of a URL, no secret of the environment."""
    for name in _SECRET_ENV:
        if secret := os.environ.get(name):
            text = text.replace(secret, "***")
    return _USERINFO.sub(r"\1", text)


def connect(config: Config) -> str:
    """Point MLflow at the registry and its experiment; the URI."""
    # No calls home from pipelines and CI runners (they are often offline); set it to false to opt in.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name, value in HTTP_BOUNDS.items():
        os.environ.setdefault(name, value)
    uri = tracking_uri(config)
    _point_at(uri)
    with reaching(uri):
        _use_experiment(config.registry.experiment, uri)
    return uri


def _use_experiment(name: str, uri: str) -> None:
    if sqlite_file(uri) and mlflow.get_experiment_by_name(name) is None:
        # The embedded store's artifacts under the state root too (MLflow's default: ./mlruns of the
        # working directory, which is act's throwaway copy of the project).
        mlflow.create_experiment(name, artifact_location=state_path("mlruns").as_uri())
    mlflow.set_experiment(name)


def _point_at(uri: str) -> None:
    before = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    # MLflow exports the URI to the environment, where `tracking_uri` would take it for the user's choice.
    if before is None:
        os.environ.pop(TRACKING_URI_ENV, None)
    else:
        os.environ[TRACKING_URI_ENV] = before


@contextmanager
def reaching(uri: str):
    """MLflow's failures (HTTP, connection, store) as one RegistryError naming the store and the cause."""
    try:
        yield
    except (MlflowException, requests.RequestException) as exc:
        raise RegistryError(f"MLflow registry {shown(uri)}: {_cause(exc)}") from None


def registry_call(function):
    """Run `function(config, ...)` with MLflow's failures translated (see `reaching`)."""

    @functools.wraps(function)
    def wrapper(config: Config, *args, **kwargs):
        with reaching(tracking_uri(config)):
            return function(config, *args, **kwargs)

    return wrapper


def _cause(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    if code == "UNAUTHENTICATED":
        return f"the server refused the credentials (HTTP 401): {_credentials()}"
    if code == "PERMISSION_DENIED":
        return f"permission denied (HTTP 403) for {_credentials()}: ask a registry admin for access"
    if failure := _connection_failure(exc) or _server_failure(exc):
        return failure
    message = getattr(exc, "message", None) or str(exc)
    return shown(message.strip().splitlines()[0] if message.strip() else type(exc).__name__)[:300]


def _connection_failure(exc: BaseException) -> str | None:
    """What went wrong on the wire, when the request never got an HTTP answer."""
    chain = list(_chain(exc))
    if not any(isinstance(inner, requests.ConnectionError | requests.Timeout) for inner in chain):
        return None
    attempts = _attempts()
    # Refused, unreachable, unknown host: the OS names it (socket timeouts have no strerror).
    reason = next((inner.strerror for inner in chain if isinstance(inner, OSError) and inner.strerror), None)
    if reason:
        return f"cannot connect ({reason.lower()}, {attempts} attempts): is the server up and the URI right?"
    if any(isinstance(inner, TimeoutError | requests.Timeout | ReadTimeoutError) for inner in chain):
        timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT")
        return f"no answer within MLFLOW_HTTP_REQUEST_TIMEOUT={timeout} s ({attempts} attempts)"
    return f"the connection failed ({attempts} attempts)"


def _server_failure(exc: BaseException) -> str | None:
    """Transient statuses (429, 5xx) MLflow retried until it gave up."""
    for inner in _chain(exc):
        if isinstance(inner, requests.exceptions.RetryError):
            status = re.search(r"too many (\d+) error responses", str(inner))
            return f"the server answered HTTP {status[1] if status else 'errors'} ({_attempts()} attempts)"
    return None


def _attempts() -> int:
    return int(os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")) + 1


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _credentials() -> str:
    """Which credentials were sent (names and the user, never a secret)."""
    if user := os.environ.get("MLFLOW_TRACKING_USERNAME"):
        return f"user {user!r} (MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)"
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return "the token in MLFLOW_TRACKING_TOKEN"
    return "no credentials (set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)"


def run_of_model(config: Config, client: MlflowClient, md5: str):
    """The newest finished run that logged the model with these bytes (None if there is none)."""
    experiment = client.get_experiment_by_name(config.registry.experiment)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.model_md5 = '{md5}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=10,
    )
    return next((run for run in runs if MODEL_URI_TAG in run.data.tags), None)


@registry_call
def log_run(config: Config, model, scores: dict[str, float], sample: pd.DataFrame, tags: dict[str, str]) -> str:
    """The run of this model: an earlier run of the same bytes with the same scores is reused (a
    `dvc repro -f` on a fresh clone logs no duplicate), else a new one."""
    connect(config)
    earlier = run_of_model(config, MlflowClient(), tags["model_md5"])
    if earlier is not None and earlier.data.metrics == scores:
        return earlier.info.run_id
    return _new_run(config, model, scores, sample, tags)


def _new_run(config: Config, model, scores: dict[str, float], sample: pd.DataFrame, tags: dict[str, str]) -> str:
    with mlflow.start_run(run_name=f"train-{tags['git_commit'][:8]}") as run:
        mlflow.log_params({**config.training.params, "metric": config.training.metric})
        mlflow.log_metrics(scores)
        mlflow.set_tags(tags)
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(sample, model.predict(sample)),
            pip_requirements=[f"{name}=={version(name)}" for name in _SERVING_PACKAGES],
            # Types this run itself produced (e.g. numpy.dtype) that skops does not trust by default.
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        )
        mlflow.set_tag(MODEL_URI_TAG, logged.model_uri)
    return run.info.run_id
