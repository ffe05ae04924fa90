"""The Vertex AI target: stable and candidate are two deployed models on one dedicated endpoint.

Platform calls (aiplatform_v1 REST clients; every long-running operation waited on with op.result()):
  EndpointService: GetEndpoint (describe), CreateEndpoint (first deploy, `dedicatedEndpointEnabled`),
    DeployModel (candidate at 0 %: `trafficSplit` {"0": 0, stable: 100}), UpdateEndpoint
    (PATCH ?updateMask=trafficSplit[,labels]: not an LRO; the answer is checked), UndeployModel
    (with the remaining split), DeleteEndpoint.
  ModelService: UploadModel (container image `image(release)` in Artifact Registry, labels with the
    bento and registry version), GetModel, ListModels (undeploy), DeleteModel.
  Cloud Monitoring timeSeries.list (REST through google.auth's AuthorizedSession: monitoring_v3 is
    not a dependency): prediction/online/prediction_count, error_count, prediction_latencies per
    metric.labels.deployed_model_id.
  Per-model requests: POST https://{dedicatedEndpointDns}/v1/{endpoint}/deployedModels/{id}/invoke/predict.

Traps handled:
- v1 :predict / :rawPredict cannot target one deployed model (RawPredictRequest has no
  deployed_model_id; X-Vertex-AI-Deployed-Model-Id is a response header): only a dedicated endpoint's
  `invoke` route can, and only for models uploaded with invokeRoutePrefix "/*" (which excludes
  predictRoute). PredictionServiceClient has no Invoke RPC yet, so it is a plain authorized POST.
  The service's own body ({"rows": [...]}) reaches its /predict unchanged; clients call
  {url} = https://{dns}/v1/{endpoint}/invoke/predict, which follows the traffic split.
- No mirroring: set_mirror(p > 0) is an error; agreement comes from the controller's replay.
- Roles live on the platform: the endpoint label `mlops_stable` names the stable deployed model;
  without it the deployed model with the largest share is stable (oldest first); any other one is a
  candidate (newest first), so describe() never needs this process' memory.
- A traffic split sums to 100 or is empty; a deployed model can only be undeployed once it has no
  share (except the last one); a deployed model's Model cannot be deleted: the order of calls below
  follows these rules.
- Cloud Monitoring samples every 60 s and shows a point up to 180 s later: each observe() re-reads
  `metrics_lag_seconds` back and counts every point once (by series and end time), so a late
  point lands in a later window instead of being lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from ..config import Config
from ..monitoring.headers import SYNTHETIC_HEADER
from .policy import histogram_quantile
from .target import Observation, Release, State, TargetError, Window

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
METRICS = "aiplatform.googleapis.com/prediction/online/"
REQUESTS, ERRORS, LATENCY = (METRICS + name for name in ("prediction_count", "error_count", "prediction_latencies"))
RESOURCE_TYPE = "aiplatform.googleapis.com/Endpoint"
STABLE_LABEL = "mlops_stable"  # endpoint label: the stable deployed model's id
ENDPOINT_LABEL = "mlops_endpoint"  # model label: the endpoint it was uploaded for (undeploy lists by it)
CONTAINER_PORT = 3000  # `bentoml containerize` images serve here
HEALTH_ROUTE = "/readyz"
PREDICT_PATH = "/predict"
REQUEST_TIMEOUT = 60  # seconds for one plain request (not a long-running operation)


# ---------------------------------------------------------------- naming (pure)


def slug(text: str, limit: int = 63, allowed: str = "a-z0-9-") -> str:
    """`text` as a Vertex ID: lower case, other characters -> "-", starting with a letter, at most `limit`."""
    cleaned = re.sub(f"[^{allowed}]+", "-", text.lower()).strip("-_") or "x"
    cleaned = cleaned if cleaned[0].isalpha() else f"m-{cleaned}"
    return cleaned[:limit].rstrip("-_")


def model_id(bento: str) -> str:
    """The Model ID of a bento tag: readable, and unique through a hash of the exact tag."""
    digest = hashlib.sha256(bento.encode()).hexdigest()[:8]
    return f"{slug(bento, 54, 'a-z0-9_-')}-{digest}"


def label(text: str) -> str:
    """A label value: lower case letters, digits, _ and -, at most 63."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower())[:63]


# ---------------------------------------------------------------- endpoint state (pure)


def _created(deployed) -> float:
    return deployed.create_time.timestamp() if deployed.create_time else 0.0


def shares(split) -> dict[str, int]:
    """A traffic split without its zero entries (unlisted = 0 % on Vertex)."""
    return {key: int(value) for key, value in dict(split).items() if value}


def roles(endpoint) -> tuple[object | None, list]:
    """(stable deployed model or None, the others newest first: the candidate is others[0])."""
    deployed = list(endpoint.deployed_models)
    split = shares(endpoint.traffic_split)
    stable = next((each for each in deployed if each.id == endpoint.labels.get(STABLE_LABEL)), None)
    if stable is None and (serving := [each for each in deployed if each.id in split]):
        stable = max(serving, key=lambda each: (split[each.id], -_created(each)))
    others = sorted((each for each in deployed if each is not stable), key=_created, reverse=True)
    return stable, others


def traffic(stable_id: str | None, candidate_id: str, percent: int) -> dict[str, int]:
    """The split that gives the candidate `percent` (without a stable: all of it, or none)."""
    if stable_id is None:
        return {candidate_id: 100} if percent else {}
    return shares({stable_id: 100 - percent, candidate_id: percent})


# ---------------------------------------------------------------- Cloud Monitoring points (pure)


def buckets(distribution: dict) -> list[tuple[float, int]]:
    """(upper bound, count) of each bucket of a Cloud Monitoring Distribution (JSON); bucket 0 is the
    underflow, the last the overflow (+inf). Trailing empty buckets may be left out of bucketCounts."""
    counts = [int(count) for count in distribution.get("bucketCounts", [])]
    options = distribution.get("bucketOptions", {})
    if spec := options.get("exponentialBuckets"):
        scale, growth = float(spec.get("scale", 1)), float(spec["growthFactor"])
        bounds = [scale * growth**i for i in range(int(spec["numFiniteBuckets"]) + 1)]
    elif spec := options.get("linearBuckets"):
        offset, width = float(spec.get("offset", 0)), float(spec["width"])
        bounds = [offset + width * i for i in range(int(spec["numFiniteBuckets"]) + 1)]
    elif spec := options.get("explicitBuckets"):
        bounds = [float(bound) for bound in spec.get("bounds", [])]
    else:
        bounds = []
    return [(bounds[i] if i < len(bounds) else math.inf, count) for i, count in enumerate(counts)]


def histogram(counts: dict[float, int]) -> tuple[tuple[float, float], ...]:
    """Bucket counts by upper bound in ms -> Window.latency: (upper bound in s, cumulative), +Inf last."""
    if not counts:
        return ()
    total, rising = 0, []
    for upper in sorted(counts):
        total += counts[upper]
        rising.append((upper / 1000, float(total)))
    if rising[-1][0] != math.inf:
        rising.append((math.inf, float(total)))
    return tuple(rising)


def window(requests: int, errors: int, latency: dict[float, int]) -> Window:
    rising = histogram(latency)
    p95 = histogram_quantile(0.95, rising)
    return Window(requests, errors, None if p95 is None else p95 * 1000, rising)


def _value(point: dict) -> int:
    value = point.get("value", {})
    return int(value.get("int64Value", value.get("doubleValue", 0)))


def _latency_series(series: list[dict]) -> list[dict]:
    """The end-to-end latency series: Vertex splits latencies by latency_type (model, overhead, total)."""
    typed = [each for each in series if "latency_type" in each.get("metric", {}).get("labels", {})]
    return [each for each in typed if each["metric"]["labels"]["latency_type"] == "total"] if typed else series


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- errors


def _reason(exc: Exception) -> str:
    message = (str(getattr(exc, "message", "") or exc).splitlines() or [""])[0]
    message = re.sub(r"^(GET|POST|PATCH|PUT|DELETE) \S+: ", "", message)  # the REST transport prefixes the URL
    return f"{type(exc).__name__}: {message}"


@contextlib.contextmanager
def _platform(call: str) -> Iterator[None]:
    """SDK, auth and HTTP failures -> one-line TargetError naming the call."""
    import requests
    from google.api_core import exceptions
    from google.auth import exceptions as auth_exceptions

    try:
        yield
    except TargetError:
        raise
    except TimeoutError:  # op.result(timeout=...) ran out
        raise TargetError(f"gcp: {call}: not done within its timeout") from None
    except (exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError, requests.RequestException) as exc:
        raise TargetError(f"gcp: {call}: {_reason(exc)}") from None


def _not_found(exc: Exception) -> bool:
    from google.api_core import exceptions

    return isinstance(exc, exceptions.NotFound)


# ---------------------------------------------------------------- the target


class VertexTarget:
    """Stable and candidate deployed models on the dedicated endpoint deploy.gcp.endpoint_name."""

    name = "gcp"

    def __init__(
        self,
        config: Config,
        *,
        credentials=None,
        api_endpoint: str | None = None,
        monitoring_endpoint: str = "https://monitoring.googleapis.com",
        predict_endpoint: str | None = None,
        endpoint_client=None,
        model_client=None,
        session=None,
        polling=None,
    ) -> None:
        """Production: google.auth.default() (workload identity in CI) and Google's hosts. Tests inject
        credentials, the hosts (`http://127.0.0.1:PORT`), clients, an AuthorizedSession and `polling`
        (a google.api_core Retry for op.result(), e.g. DEFAULT_POLLING.with_delay(initial=0.01))."""
        if config.deploy.gcp is None:
            raise TargetError("gcp: mlops.yaml has no deploy.gcp block")
        self.settings = settings = config.deploy.gcp
        self.parent = f"projects/{settings.project}/locations/{settings.region}"
        self.endpoint_id = slug(settings.endpoint_name)
        self.endpoint_name = f"{self.parent}/endpoints/{self.endpoint_id}"
        self._credentials = credentials
        self._api_endpoint = api_endpoint or f"{settings.region}-aiplatform.googleapis.com"
        self._monitoring = monitoring_endpoint.rstrip("/")
        self._predict_endpoint = predict_endpoint  # instead of https://{dedicated DNS} (tests)
        self._endpoint_client, self._model_client, self._session = endpoint_client, model_client, session
        self._polling = polling
        self._lock = threading.Lock()
        self._routes: dict[str, tuple[str, str]] = {}  # side -> (invoke URL, bento); dropped on every change
        self._floor: tuple[str | None, datetime] | None = None  # (candidate id, start of its first window)
        self._counted: dict[tuple, datetime] = {}  # points already in a window -> their end time

    # -------------------------------------------------------- the Target protocol

    def describe(self) -> State:
        endpoint = self._read()
        if endpoint is None:
            return State(details={"endpoint": self.endpoint_name, "exists": False})
        stable, others = roles(endpoint)
        candidate = others[0] if others else None
        split = shares(endpoint.traffic_split)
        return State(
            stable=self._release(stable),
            candidate=self._release(candidate),
            candidate_percent=split.get(candidate.id, 0) if candidate else 0,
            url=self._url(endpoint, PREDICT_PATH),
            details=self._details(endpoint, split),
        )

    def deploy_candidate(self, release: Release) -> None:
        endpoint = self._read() or self._create_endpoint()
        stable, others = roles(endpoint)
        if stable is not None and stable.display_name == release.bento:
            raise TargetError(f"gcp: {release.bento} is already the stable model of {self.endpoint_id}")
        if [each.display_name for each in others] == [release.bento]:
            return  # already deployed: a deployModel operation is done only once the model serves
        if others:  # another candidate (an interrupted rollout): out first
            self.rollback()
        model = self._model_for(release)
        split = {"0": 0, stable.id: 100} if stable else {}  # "0": the model being deployed
        try:
            self._deploy(model, release, split)
        except TargetError:  # leave nothing billable behind; the deploy's error is the one to report
            with contextlib.suppress(TargetError):
                self.rollback()
            with contextlib.suppress(TargetError):
                self._delete_model(model)
            raise
        finally:
            self._routes.clear()

    def set_traffic(self, percent: int) -> None:
        percent = _percent(percent)
        endpoint = self._require()
        stable, others = roles(endpoint)
        if not others:
            raise TargetError("gcp: set_traffic needs a candidate (deploy_candidate first)")
        self._set_split(endpoint, traffic(stable.id if stable else None, others[0].id, percent))

    def set_mirror(self, percent: int) -> None:
        if _percent(percent):
            raise TargetError(
                "gcp: set_mirror: Vertex AI has no traffic mirroring; use deploy.canary.mode canary "
                "(prediction agreement comes from the replayed reference rows)"
            )

    def observe(self) -> Observation:
        endpoint = self._require()
        stable, others = roles(endpoint)
        candidate = others[0] if others else None
        now = datetime.now(UTC)
        floor, first = self._window_floor(candidate, now)
        start = floor if first else max(floor, now - timedelta(seconds=self.settings.metrics_lag_seconds))
        sides = {each.id: side for side, each in (("stable", stable), ("candidate", candidate)) if each}
        totals = {side: [0, 0, {}] for side in ("stable", "candidate")}  # requests, errors, latency buckets
        for metric in (REQUESTS, ERRORS, LATENCY):
            series = self._series(metric, start, now)
            for each in _latency_series(series) if metric == LATENCY else series:
                side = sides.get(each.get("metric", {}).get("labels", {}).get("deployed_model_id"))
                for point in self._new_points(metric, each, floor) if side else ():
                    self._add(totals[side], metric, point)
        self._forget(now)
        return Observation(*(window(*totals[side]) for side in ("stable", "candidate")))

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        if side not in ("stable", "candidate"):
            raise TargetError(f"gcp: side must be 'stable' or 'candidate', got {side!r}")
        url, bento = self._route(side)
        with _platform(f"predict on {side} ({bento})"):
            response = self._http().post(
                url, json={"rows": rows}, headers={SYNTHETIC_HEADER: "replay"}, timeout=REQUEST_TIMEOUT
            )
        if response.status_code != 200:
            self._routes.pop(side, None)  # it may have moved: read the endpoint again next time
            text = " ".join(response.text.split())[:300]
            raise TargetError(f"gcp: {side} ({bento}) answered {response.status_code}: {text}")
        return response.json()["predictions"]

    def promote(self) -> None:
        endpoint = self._require()
        stable, others = roles(endpoint)
        self._routes.clear()
        if not others:  # already promoted, or a first deploy: only the label may be missing
            if stable is not None:
                self._set_split(endpoint, {stable.id: 100}, self._labels(endpoint, stable.id))
            return
        candidate = others[0]
        keep = {candidate.id: 100}
        self._set_split(endpoint, keep, self._labels(endpoint, candidate.id))
        for old in [each for each in (stable, *others[1:]) if each is not None]:
            self._undeploy(old, keep)
            self._delete_model(old.model)

    def rollback(self) -> None:
        endpoint = self._read()
        self._routes.clear()
        if endpoint is None:
            return
        stable, others = roles(endpoint)
        keep = {stable.id: 100} if stable else {}
        self._set_split(endpoint, keep)  # all traffic to stable at once; the undeploys take minutes
        for candidate in others:
            self._undeploy(candidate, keep)
            self._delete_model(candidate.model)

    def undeploy(self) -> None:
        endpoint = self._read()
        self._routes.clear()
        if endpoint is not None:
            stable, others = roles(endpoint)
            keep = {stable.id: 100} if stable else {}
            for each in others:
                self._undeploy(each, keep)
            if stable is not None:
                self._undeploy(stable, {})  # the last one may keep its share: the split empties itself
        for model in self._own_models():
            self._delete_model(model)
        if endpoint is not None:
            self._operation("delete endpoint", self._endpoints().delete_endpoint, name=self.endpoint_name)

    # -------------------------------------------------------- beyond the protocol

    def image(self, release: Release) -> str:
        """Where CD pushes the bento's image: <region>-docker.pkg.dev/<project>/<repository>/<name>:<version>."""
        name, _, version = release.bento.partition(":")
        if not version:
            raise TargetError(f"gcp: bento tag {release.bento!r} has no version (name:version)")
        settings = self.settings
        return f"{settings.region}-docker.pkg.dev/{settings.project}/{settings.repository}/{name}:{version}"

    # -------------------------------------------------------- clients

    def _creds(self):
        if self._credentials is None:
            import google.auth

            with _platform("google.auth.default()"):
                self._credentials, _ = google.auth.default(scopes=SCOPES)
        return self._credentials

    def _options(self) -> dict:
        from google.api_core.client_options import ClientOptions

        options = ClientOptions(api_endpoint=self._api_endpoint)
        return dict(credentials=self._creds(), transport="rest", client_options=options)

    def _endpoints(self):
        if self._endpoint_client is None:
            from google.cloud.aiplatform_v1 import EndpointServiceClient

            self._endpoint_client = EndpointServiceClient(**self._options())
        return self._endpoint_client

    def _models(self):
        if self._model_client is None:
            from google.cloud.aiplatform_v1 import ModelServiceClient

            self._model_client = ModelServiceClient(**self._options())
        return self._model_client

    def _http(self):
        if self._session is None:
            from google.auth.transport.requests import AuthorizedSession

            self._session = AuthorizedSession(self._creds())
        return self._session

    def _operation(self, call: str, method: Callable, wait: float | None = None, **request):
        """Start a long-running operation and wait for it (the SDK polls): its result."""
        with _platform(call):
            operation = method(**request, timeout=REQUEST_TIMEOUT)
            return operation.result(timeout=wait or self.settings.operation_timeout_seconds, polling=self._polling)

    # -------------------------------------------------------- endpoint

    def _read(self):
        """The endpoint, or None when it does not exist (yet)."""
        with _platform(f"get endpoint {self.endpoint_name}"):
            try:
                return self._endpoints().get_endpoint(name=self.endpoint_name, timeout=REQUEST_TIMEOUT)
            except Exception as exc:
                if _not_found(exc):
                    return None
                raise

    def _require(self):
        if (endpoint := self._read()) is None:
            raise TargetError(f"gcp: nothing is deployed (no endpoint {self.endpoint_name})")
        return endpoint

    def _create_endpoint(self):
        from google.cloud.aiplatform_v1 import Endpoint

        # Dedicated: the only kind whose `invoke` route reaches one deployed model (predict()).
        body = Endpoint(display_name=self.settings.endpoint_name, dedicated_endpoint_enabled=True)
        create = self._endpoints().create_endpoint
        call = f"create endpoint {self.endpoint_id}"
        return self._operation(call, create, parent=self.parent, endpoint=body, endpoint_id=self.endpoint_id)

    def _set_split(self, endpoint, split: dict[str, int], labels: dict[str, str] | None = None) -> None:
        """PATCH the split (and labels) unless it is already so; verify the answer."""
        if shares(endpoint.traffic_split) == split and (labels is None or dict(endpoint.labels) == labels):
            return
        from google.cloud.aiplatform_v1 import Endpoint
        from google.protobuf.field_mask_pb2 import FieldMask

        paths = ["traffic_split"] if labels is None else ["traffic_split", "labels"]
        body = Endpoint(name=self.endpoint_name, traffic_split=split, labels=labels or {})
        with _platform(f"update traffic split to {split}"):
            updated = self._endpoints().update_endpoint(
                endpoint=body, update_mask=FieldMask(paths=paths), timeout=REQUEST_TIMEOUT
            )
        if (got := shares(updated.traffic_split)) != split:
            raise TargetError(f"gcp: traffic split of {self.endpoint_id} is {got} after setting {split}")

    def _labels(self, endpoint, stable_id: str) -> dict[str, str]:
        labels = dict(endpoint.labels)
        labels[STABLE_LABEL] = stable_id
        return labels

    def _deploy(self, model: str, release: Release, split: dict[str, int]) -> None:
        from google.cloud.aiplatform_v1 import DedicatedResources, DeployedModel, MachineSpec

        settings = self.settings
        resources = DedicatedResources(
            machine_spec=MachineSpec(machine_type=settings.machine_type),
            min_replica_count=settings.min_replicas,
            max_replica_count=settings.max_replicas,
        )
        deployed = DeployedModel(model=model, display_name=release.bento, dedicated_resources=resources)
        self._operation(
            f"deploy model {release.bento}",
            self._endpoints().deploy_model,
            settings.deploy_timeout_seconds,
            endpoint=self.endpoint_name,
            deployed_model=deployed,
            traffic_split=split,
        )

    def _undeploy(self, deployed, split: dict[str, int]) -> None:
        self._operation(
            f"undeploy model {deployed.display_name} ({deployed.id})",
            self._endpoints().undeploy_model,
            endpoint=self.endpoint_name,
            deployed_model_id=deployed.id,
            traffic_split=split,
        )

    # -------------------------------------------------------- models

    def _model_for(self, release: Release) -> str:
        """The Model of `release`: the one an interrupted deploy uploaded, else a new upload."""
        name = f"{self.parent}/models/{model_id(release.bento)}"
        with _platform(f"get model {name}"):
            try:
                return self._models().get_model(name=name, timeout=REQUEST_TIMEOUT).name
            except Exception as exc:
                if not _not_found(exc):
                    raise
        return self._upload(release, name)

    def _upload(self, release: Release, name: str) -> str:
        from google.cloud.aiplatform_v1 import Model, ModelContainerSpec, Port, UploadModelRequest

        bento, _, version = release.bento.partition(":")
        labels = {ENDPOINT_LABEL: self.endpoint_id, "mlops_bento": label(bento)}
        if version:
            labels["mlops_bento_version"] = label(version)
        if release.version:
            labels["mlops_model_version"] = label(release.version)
        container = ModelContainerSpec(
            image_uri=self.image(release),
            ports=[Port(container_port=CONTAINER_PORT)],
            health_route=HEALTH_ROUTE,
            invoke_route_prefix="/*",  # every route via `invoke`: the service's own /predict body
        )
        model = Model(display_name=release.bento, labels=labels, container_spec=container)
        request = UploadModelRequest(parent=self.parent, model_id=name.rsplit("/", 1)[1], model=model)
        return self._operation(f"upload model {release.bento}", self._models().upload_model, request=request).model

    def _delete_model(self, model: str) -> None:
        name = model.split("@", 1)[0]  # a deployed model may name a version: models/{id}@{version}
        try:
            self._operation(f"delete model {name}", self._models().delete_model, name=name)
        except TargetError as exc:
            if "NotFound" not in str(exc):  # deleted already: done
                raise

    def _own_models(self) -> list[str]:
        """Every Model uploaded for this endpoint (an interrupted deploy may leave one undeployed)."""
        from google.cloud.aiplatform_v1 import ListModelsRequest

        request = ListModelsRequest(parent=self.parent, filter=f'labels.{ENDPOINT_LABEL}="{self.endpoint_id}"')
        with _platform("list models"):
            return [model.name for model in self._models().list_models(request=request, timeout=REQUEST_TIMEOUT)]

    def _release(self, deployed) -> Release | None:
        """The deployed model's bento (its display name) and registry version (its Model's label)."""
        if deployed is None:
            return None
        with _platform(f"get model {deployed.model}"):
            try:
                labels = self._models().get_model(name=deployed.model, timeout=REQUEST_TIMEOUT).labels
            except Exception as exc:
                if not _not_found(exc):
                    raise
                labels = {}
        return Release(deployed.display_name or deployed.model, labels.get("mlops_model_version") or None)

    # -------------------------------------------------------- requests to one side

    def _url(self, endpoint, path: str, deployed_id: str | None = None) -> str | None:
        if self._predict_endpoint is None and not endpoint.dedicated_endpoint_dns:
            return None
        base = self._predict_endpoint or f"https://{endpoint.dedicated_endpoint_dns}"
        one = f"/deployedModels/{deployed_id}" if deployed_id else ""
        return f"{base.rstrip('/')}/v1/{self.endpoint_name}{one}/invoke{path}"

    def _route(self, side: str) -> tuple[str, str]:
        """(invoke URL of the side's deployed model, its bento), read once per change of roles."""
        with self._lock:  # the controller's warm-up predicts from several threads
            if side not in self._routes:
                endpoint = self._require()
                stable, others = roles(endpoint)
                deployed = stable if side == "stable" else (others[0] if others else None)
                if deployed is None:
                    raise TargetError(f"gcp: no {side} model is deployed on {self.endpoint_id}")
                url = self._url(endpoint, PREDICT_PATH, deployed.id)
                if url is None:
                    raise TargetError(
                        f"gcp: endpoint {self.endpoint_id} is not a dedicated endpoint: requests to one "
                        "model need one (`mlops undeploy` and deploy again creates it)"
                    )
                self._routes[side] = (url, deployed.display_name)
            return self._routes[side]

    # -------------------------------------------------------- metrics

    def _window_floor(self, candidate, now: datetime) -> tuple[datetime, bool]:
        """Start of the candidate's first window (its deployment time): (floor, is this the first call)."""
        key = candidate.id if candidate else None
        if self._floor is not None and self._floor[0] == key:
            return self._floor[1], False
        started = candidate.create_time if candidate is not None and candidate.create_time else now
        self._floor, self._counted = (key, started), {}
        return started, True

    def _series(self, metric: str, start: datetime, end: datetime) -> list[dict]:
        """timeSeries.list of `metric` on this endpoint (one metric type per call: the API's rule)."""
        url = f"{self._monitoring}/v3/projects/{self.settings.project}/timeSeries"
        query = " AND ".join(
            [
                f'metric.type = "{metric}"',
                f'resource.type = "{RESOURCE_TYPE}"',
                f'resource.labels.endpoint_id = "{self.endpoint_id}"',
            ]
        )
        params = {"filter": query, "interval.startTime": _rfc3339(start), "interval.endTime": _rfc3339(end)}
        params["view"] = "FULL"
        series: list[dict] = []
        while True:
            with _platform(f"timeSeries.list {metric.rsplit('/', 1)[1]}"):
                response = self._http().get(url, params=params, timeout=REQUEST_TIMEOUT)
            if response.status_code != 200:
                text = " ".join(response.text.split())[:300]
                raise TargetError(f"gcp: timeSeries.list {metric}: {response.status_code} {text}")
            body = response.json()
            series += body.get("timeSeries", [])
            if not body.get("nextPageToken"):
                return series
            params["pageToken"] = body["nextPageToken"]

    def _new_points(self, metric: str, series: dict, floor: datetime) -> Iterator[dict]:
        """The points of `series` after `floor` not yet counted in an earlier window."""
        from google.api_core.datetime_helpers import from_rfc3339

        labels = tuple(sorted(series.get("metric", {}).get("labels", {}).items()))
        resource = tuple(sorted(series.get("resource", {}).get("labels", {}).items()))
        for point in series.get("points", []):
            end = from_rfc3339(point["interval"]["endTime"])
            key = (metric, labels, resource, end)
            if end > floor and key not in self._counted:
                self._counted[key] = end
                yield point

    def _forget(self, now: datetime) -> None:
        """Drop counted points older than any query reaches again."""
        horizon = now - timedelta(seconds=2 * self.settings.metrics_lag_seconds + 60)
        self._counted = {key: end for key, end in self._counted.items() if end >= horizon}

    @staticmethod
    def _add(total: list, metric: str, point: dict) -> None:
        if metric == REQUESTS:
            total[0] += _value(point)
        elif metric == ERRORS:
            total[1] += _value(point)
        else:
            for upper, count in buckets(point.get("value", {}).get("distributionValue", {})):
                total[2][upper] = total[2].get(upper, 0) + count

    def _details(self, endpoint, split: dict[str, int]) -> dict:
        settings = self.settings
        console = (
            f"https://console.cloud.google.com/vertex-ai/online-prediction/locations/{settings.region}"
            f"/endpoints/{self.endpoint_id}?project={settings.project}"
        )
        deployed = [
            dict(id=each.id, bento=each.display_name, model=each.model, created=str(each.create_time or ""))
            for each in endpoint.deployed_models
        ]
        return dict(
            endpoint=self.endpoint_name,
            console=console,
            traffic_split=split,
            deployed_models=deployed,
            dedicated_endpoint_dns=endpoint.dedicated_endpoint_dns or None,
            stable_label=endpoint.labels.get(STABLE_LABEL),
        )


def _percent(percent: int) -> int:
    if not 0 <= int(percent) <= 100:
        raise TargetError(f"gcp: a traffic share is 0-100 %, got {percent}")
    return int(percent)
