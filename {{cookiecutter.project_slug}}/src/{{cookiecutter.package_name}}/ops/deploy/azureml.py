"""The Azure ML target: one managed online endpoint, one deployment per release (stable and candidate).

Platform calls (azure-ai-ml's MLClient; signed in by DefaultAzureCredential, which finds the token of
the workflow's azure/login OIDC step):
- `online_endpoints.get` / `online_deployments.list`: what runs (describe). Each deployment is named
  after its bento's version (`v-<version>`) and tagged with its bento tag and registry version; the
  endpoint's `mlops-stable` tag names the stable deployment, so the platform alone tells stable from
  candidate (at 50/50 traffic too).
- `environments.create_or_update` (an image-only environment: the bento image in ACR, with BentoML's
  routes as inference config) and `online_deployments.begin_create_or_update`: the candidate. No blob
  upload (no code, no model asset: the model is in the image).
- `online_endpoints.begin_create_or_update` with `traffic` (canary) or `mirror_traffic` (shadow) of
  the endpoint read just before: every step is one PUT of the whole endpoint, checked on the result.
- Azure Monitor metrics REST API (`Microsoft.Insights/metrics` on each deployment; azure-monitor-query
  is not a dependency), through an azure-core pipeline with the same credential and transport:
  RequestsPerMinute split by envoy_response_code, RequestLatency_P95.
- POST to the endpoint's scoring URI with `azureml-model-deployment: <deployment>` (predict).

Traps handled: every SDK poller is waited with a timeout and then checked (`result(timeout)` returns
quietly when time is up); the SDK drops zero weights and lower-cases names, so traffic is compared
that way; Azure mirrors at most 50 % of requests (a larger share is capped and describe() says so);
a deployment with live traffic cannot be deleted, so traffic moves first; metrics arrive minutes
late in one-minute grains, so observe() counts each minute once, only after metrics_delay_seconds.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ..config import AzureTarget as AzureSettings
from ..config import Config
from ..monitoring.headers import SYNTHETIC_HEADER
from .target import Observation, Release, State, TargetError, Window

log = logging.getLogger(__name__)

ARM = "https://management.azure.com"  # public cloud (the SDK's default cloud too)
ARM_SCOPE = f"{ARM}/.default"
ML_SCOPE = "https://ml.azure.com/.default"  # aad_token endpoints
METRICS_API = "2023-10-01"
STABLE_TAG = "mlops-stable"  # endpoint tag: the stable deployment's name
RETIRING_TAG = "mlops-retiring"  # endpoint tag: deployments being removed (comma-separated)
BENTO_TAG = "mlops-bento"  # deployment tags: what it serves
VERSION_TAG = "mlops-version"
MAX_MIRROR = 50  # Azure's cap on mirror_traffic
PORT = 3000  # `bentoml serve` in the containerized bento
ROUTES = dict(
    liveness_route=dict(port=PORT, path="/livez"),
    readiness_route=dict(port=PORT, path="/readyz"),
    scoring_route=dict(port=PORT, path="/predict"),  # the endpoint's /score lands here
)
MINUTE = 60


def deployment_name(release: Release) -> str:
    """`v-<bento version>`: Azure's 3-32 letters, digits and dashes, starting with a letter."""
    version = re.sub(r"[^a-z0-9-]+", "-", release.bento.partition(":")[2].lower()).strip("-") or "latest"
    name = f"v-{version}"
    if len(name) > 32:  # keep names of long custom versions apart
        name = f"{name[:23].rstrip('-')}-{hashlib.sha1(version.encode()).hexdigest()[:8]}"
    return name


def minute_floor(seconds: float) -> float:
    return seconds // MINUTE * MINUTE


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class _Platform:
    """One read of the endpoint and its deployments, sorted into stable, candidates and retiring."""

    def __init__(self, endpoint, deployments: list) -> None:
        self.endpoint = endpoint
        self.deployments = {each.name: each for each in deployments}

    @property
    def tags(self) -> dict:
        return self.endpoint.tags or {}

    @property
    def stable(self) -> str | None:
        name = self.tags.get(STABLE_TAG)
        return name if name in self.deployments else None

    @property
    def retiring(self) -> list[str]:
        names = self.tags.get(RETIRING_TAG, "").split(",")
        return [name for name in names if name in self.deployments and name != self.stable]

    @property
    def candidates(self) -> list[str]:
        """Deployments made by this target that are neither stable nor retiring (one, or none)."""
        ours = sorted(name for name, each in self.deployments.items() if BENTO_TAG in (each.tags or {}))
        return [name for name in ours if name != self.stable and name not in self.retiring]

    @property
    def candidate(self) -> str | None:
        return next(iter(self.candidates), None)

    def routes(self) -> dict[str, str]:
        routes = {"stable": self.stable, "candidate": self.candidate, "uri": self.endpoint.scoring_uri}
        return {key: value for key, value in routes.items() if value}

    def release(self, name: str | None) -> Release | None:
        if name is None:
            return None
        tags = self.deployments[name].tags or {}
        return Release(tags.get(BENTO_TAG, name), tags.get(VERSION_TAG) or None)

    def share(self, traffic: dict | None, name: str | None) -> int:
        return _nonzero(traffic).get(name, 0) if name else 0


class AzureMLTarget:
    """Stable and candidate deployments of one managed online endpoint (deploy.azure)."""

    name = "azure"

    def __init__(
        self,
        config: Config,
        *,
        credential=None,
        transport=None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if config.deploy.azure is None:
            raise TargetError("azure: mlops.yaml has no deploy.azure block")
        self.settings: AzureSettings = config.deploy.azure
        self.endpoint_name = self.settings.endpoint_name
        self.clock = clock
        self._credential, self._transport = credential, transport
        self._ml = self._arm = None
        self._scoring: dict[str, object] = {}  # scoring URI -> its pipeline client
        self._key: str | None = None  # endpoint key (auth_mode key), read once per process
        self._registry_name: str | None = None
        self._routes: dict[str, str] | None = None  # side -> deployment, as the last platform read had them
        self._since: float | None = None  # start of the first minute observe() has not counted yet

    # -------------------------------------------------------- clients (the SDK is imported only here)

    def _connect(self) -> None:
        """The credential and the transport every client here shares (tests inject both)."""
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        if self._transport is None:
            from azure.core.pipeline.transport import RequestsTransport

            self._transport = RequestsTransport()

    @property
    def ml(self):
        if self._ml is None:
            from azure.ai.ml import MLClient

            self._connect()
            s = self.settings
            self._ml = MLClient(
                self._credential,
                s.subscription_id,
                s.resource_group,
                s.workspace,
                transport=self._transport,
                enable_telemetry=False,
            )
        return self._ml

    def _pipeline(self, base_url: str, scope: str | None, retry: bool):
        """A plain azure-core client (Azure Monitor, scoring) on the same credential and transport."""
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, RetryPolicy

        self._connect()
        policies = [HeadersPolicy(), RetryPolicy() if retry else RetryPolicy.no_retries()]
        if scope:
            policies.append(BearerTokenCredentialPolicy(self._credential, scope))
        return PipelineClient(base_url=base_url, policies=policies, transport=self._transport)

    def _call(self, what: str, fn, *args, **kwargs):
        """An SDK call; its errors become one-line TargetErrors naming the call."""
        from azure.core.exceptions import AzureError

        try:
            return fn(*args, **kwargs)
        except AzureError as exc:
            raise TargetError(f"azure: {what} failed: {_reason(exc)}") from None

    def _wait(self, what: str, begin, *args, **kwargs):
        """Start a long-running operation and wait for its poller (at most timeout_seconds)."""
        poller = self._call(what, begin, *args, **kwargs)
        result = self._call(what, poller.result, timeout=self.settings.timeout_seconds)
        if not poller.done():
            raise TargetError(f"azure: {what} still running after {self.settings.timeout_seconds:.0f} s")
        return result

    # -------------------------------------------------------- reading the platform

    def _read(self) -> _Platform | None:
        """The endpoint and its deployments now; None when the endpoint does not exist."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        ml = self.ml
        try:
            endpoint = ml.online_endpoints.get(self.endpoint_name)  # GET endpoint + list deployments
            deployments = list(ml.online_deployments.list(self.endpoint_name))
        except ResourceNotFoundError:
            self._routes = None
            return None
        except AzureError as exc:
            raise TargetError(f"azure: reading endpoint {self.endpoint_name} failed: {_reason(exc)}") from None
        platform = _Platform(endpoint, deployments)
        self._routes = platform.routes()
        return platform

    def _require(self) -> _Platform:
        platform = self._read()
        if platform is None:
            raise TargetError(f"azure: endpoint {self.endpoint_name} does not exist (nothing is deployed)")
        return platform

    def describe(self) -> State:
        platform = self._read()
        if platform is None:
            return State(details={"endpoint": f"{self.endpoint_name} (not created yet)"})
        endpoint = platform.endpoint
        candidate = platform.candidate
        details = {
            "endpoint": endpoint.name,
            "provisioning_state": _text(endpoint.provisioning_state),
            "traffic": {key: int(value) for key, value in (endpoint.traffic or {}).items()},
            "mirror_traffic": {key: int(value) for key, value in (endpoint.mirror_traffic or {}).items()},
            "deployments": {
                name: {
                    "bento": (each.tags or {}).get(BENTO_TAG),
                    "provisioning_state": _text(each.provisioning_state),
                    "instance_type": each.instance_type,
                    "instance_count": each.instance_count,
                }
                for name, each in platform.deployments.items()
            },
            "retiring": platform.retiring,
        }
        return State(
            stable=platform.release(platform.stable),
            candidate=platform.release(candidate),
            candidate_percent=platform.share(endpoint.traffic, candidate),
            mirror_percent=platform.share(endpoint.mirror_traffic, candidate),
            url=endpoint.scoring_uri,
            details=details,
        )

    # -------------------------------------------------------- the image

    def image(self, release: Release) -> str:
        """`<registry>.azurecr.io/<repository>:<bento version>`, where CD pushes the bento's image."""
        name, _, version = release.bento.partition(":")
        if not version:
            raise TargetError(f"azure: bento {release.bento!r} has no version to tag its image with")
        return f"{self._registry()}.azurecr.io/{self.settings.repository or name}:{version}"

    def _registry(self) -> str:
        if self._registry_name is None:
            self._registry_name = self.settings.registry or self._workspace_registry()
        return self._registry_name

    def _workspace_registry(self) -> str:
        workspace = self._call("get workspace", self.ml.workspaces.get, self.settings.workspace)
        registry = (workspace.container_registry or "").rstrip("/").rpartition("/")[2]  # an ARM id
        if not registry:
            raise TargetError(
                f"azure: workspace {self.settings.workspace} has no container registry: set deploy.azure.registry"
            )
        return registry

    # -------------------------------------------------------- changes

    def deploy_candidate(self, release: Release) -> None:
        from azure.ai.ml.entities import (
            Environment,
            ManagedOnlineDeployment,
            ManagedOnlineEndpoint,
            OnlineRequestSettings,
        )

        platform = self._read()
        if platform is None:
            endpoint = ManagedOnlineEndpoint(name=self.endpoint_name, auth_mode=self.settings.auth_mode)
            created = self._wait("create endpoint", self.ml.online_endpoints.begin_create_or_update, endpoint)
            platform = _Platform(created, [])
        self._retire(platform)  # what an interrupted promote or rollback left
        name = deployment_name(release)
        if [other for other in platform.candidates if other != name]:  # another release's candidate: replaced
            self.rollback()
            platform = self._require()
        if name in platform.tags.get(RETIRING_TAG, "").split(","):  # a release coming back
            self._update(platform, "clear the retiring tag", tags={RETIRING_TAG: None})
        if name == platform.stable:
            raise TargetError(f"azure: {release.bento} is already the stable deployment {name}")
        bento, _, version = release.bento.partition(":")
        environment = Environment(name=bento, version=version, image=self.image(release), inference_config=ROUTES)
        tags = {BENTO_TAG: release.bento, **({VERSION_TAG: release.version} if release.version else {})}
        deployment = ManagedOnlineDeployment(
            name=name,
            endpoint_name=self.endpoint_name,
            environment=environment,
            instance_type=self.settings.instance_type,
            instance_count=self.settings.instance_count,
            request_settings=OnlineRequestSettings(
                max_concurrent_requests_per_instance=self.settings.max_concurrent_requests
            ),
            tags=tags,
        )
        self._since = None
        try:
            result = self._wait(
                f"create deployment {name}", self.ml.online_deployments.begin_create_or_update, deployment
            )
            if (result.provisioning_state or "").lower() != "succeeded":
                raise TargetError(f"azure: deployment {name} is {result.provisioning_state}, not Succeeded")
        except TargetError:
            self.rollback()  # a failed deployment may still hold instances
            raise
        self._routes = {**platform.routes(), "candidate": name}

    def set_traffic(self, percent: int) -> None:
        percent = _percent(percent)
        platform = self._require()
        if platform.candidate is None:
            raise TargetError("azure: set_traffic needs a candidate (deploy_candidate first)")
        traffic = {platform.candidate: percent}
        if platform.stable:
            traffic[platform.stable] = 100 - percent
        self._update(platform, f"set traffic {traffic}", traffic=traffic)

    def set_mirror(self, percent: int) -> None:
        percent = _percent(percent)
        if percent > MAX_MIRROR:
            log.warning("azure: Azure ML mirrors at most %s %% of requests; mirroring %s %%", MAX_MIRROR, MAX_MIRROR)
            percent = MAX_MIRROR
        platform = self._read()
        if platform is None and not percent:
            return
        if platform is None or (percent and platform.candidate is None):
            raise TargetError("azure: set_mirror needs a candidate (deploy_candidate first)")
        mirror = {platform.candidate: percent} if percent else {}
        self._update(platform, f"set mirror traffic {mirror}", mirror=mirror)

    def promote(self) -> None:
        platform = self._require()
        new = platform.candidate
        if new is not None:
            # Traffic and the stable tag move in one PUT; what it replaces is marked retiring in it, so a
            # promote interrupted before the deletes finish is completed (not reversed) by a second one.
            old = [name for name in (platform.stable, *platform.candidates[1:], *platform.retiring) if name]
            tags = {STABLE_TAG: new, RETIRING_TAG: ",".join(old) or None}
            self._update(platform, f"promote {new}", traffic={new: 100}, mirror={}, tags=tags)
        self._retire(platform)
        self._since = None

    def rollback(self) -> None:
        platform = self._read()
        if platform is None:
            return
        if platform.candidate is not None:
            traffic = {platform.stable: 100} if platform.stable else {}
            tags = {RETIRING_TAG: ",".join([*platform.candidates, *platform.retiring])}
            self._update(platform, "roll back", traffic=traffic, mirror={}, tags=tags)
        self._retire(platform)
        self._since = None

    def undeploy(self) -> None:
        if self._read() is None:
            return
        self._wait(
            f"delete endpoint {self.endpoint_name}", self.ml.online_endpoints.begin_delete, name=self.endpoint_name
        )
        self._routes, self._key, self._since = None, None, None

    def _retire(self, platform: _Platform) -> None:
        """Delete the deployments the retiring tag names (no traffic reaches them). The tag stays: names
        of deleted deployments in it mean nothing, until one is deployed again (deploy_candidate)."""
        for name in platform.retiring:
            self._delete(name)
            del platform.deployments[name]
        self._routes = platform.routes()

    def _update(self, platform: _Platform, what: str, *, traffic=None, mirror=None, tags=None) -> None:
        """PUT the endpoint as last read with new traffic / mirror / tags (a None tag is removed); verify
        the result and keep it as the platform's endpoint. Nothing to change: no call."""
        endpoint = platform.endpoint
        before = (_nonzero(endpoint.traffic), _nonzero(endpoint.mirror_traffic), dict(endpoint.tags or {}))
        if traffic is not None:
            endpoint.traffic = dict(traffic)
        if mirror is not None:
            endpoint.mirror_traffic = dict(mirror)
        merged = {**(endpoint.tags or {}), **(tags or {})}
        endpoint.tags = {key: value for key, value in merged.items() if value is not None}
        want = (_nonzero(endpoint.traffic), _nonzero(endpoint.mirror_traffic), endpoint.tags)
        if want == before:
            return
        result = self._wait(what, self.ml.online_endpoints.begin_create_or_update, endpoint)
        got = (_nonzero(result.traffic), _nonzero(result.mirror_traffic))
        if got != want[:2]:
            raise TargetError(f"azure: {what}: the endpoint reports traffic {got[0]}, mirror {got[1]}")
        platform.endpoint = result

    def _delete(self, name: str) -> None:
        self._wait(
            f"delete deployment {name}",
            self.ml.online_deployments.begin_delete,
            name=name,
            endpoint_name=self.endpoint_name,
        )

    # -------------------------------------------------------- traffic

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        if side not in ("stable", "candidate"):
            raise TargetError(f"azure: side must be 'stable' or 'candidate', got {side!r}")
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        if side not in (self._routes or {}):
            self._read()  # routes change only with the platform: read it again only when one is missing
        routes = self._routes or {}
        if side not in routes:
            raise TargetError(f"azure: no {side} deployment on endpoint {self.endpoint_name}")

        headers = {"azureml-model-deployment": routes[side], SYNTHETIC_HEADER: "replay"}
        if self.settings.auth_mode == "key":
            headers["Authorization"] = f"Bearer {self._endpoint_key()}"
        request = HttpRequest("POST", routes["uri"], json={"rows": rows}, headers=headers)
        try:
            response = self._scoring_client(routes["uri"]).send_request(request)
        except AzureError as exc:
            raise TargetError(f"azure: {side} ({routes[side]}) did not answer: {_reason(exc)}") from None
        if response.status_code != 200:
            raise TargetError(
                f"azure: {side} ({routes[side]}) answered {response.status_code}: {response.text()[:300]}"
            )
        return response.json()["predictions"]

    def _endpoint_key(self) -> str:
        if self._key is None:
            keys = self._call("list endpoint keys", self.ml.online_endpoints.get_keys, self.endpoint_name)
            self._key = keys.primary_key
        return self._key

    def _scoring_client(self, uri: str):
        if uri not in self._scoring:
            scope = ML_SCOPE if self.settings.auth_mode == "aad_token" else None
            self._scoring[uri] = self._pipeline(uri, scope, retry=False)
        return self._scoring[uri]

    def observe(self) -> Observation:
        """Each deployment's requests, 5xx and p95 over the whole minutes since the last call that Azure
        Monitor has settled (metrics_delay_seconds after they end). The first call only starts the
        window (at the next whole minute), like the other targets' baselines."""
        now = self.clock()
        settled = minute_floor(now - self.settings.metrics_delay_seconds)
        if self._since is None:
            self._since = minute_floor(now) + MINUTE
            return Observation()
        if settled <= self._since:
            return Observation()  # no new whole minute yet: no call
        if self._routes is None:  # routes are re-read after every change made here
            self._require()
        routes = self._routes or {}
        start, self._since = self._since, settled
        windows = {}
        for side in ("stable", "candidate"):
            windows[side] = (
                self._window(self._deployment_id(routes[side]), start, settled) if side in routes else Window()
            )
        return Observation(windows["stable"], windows["candidate"])

    def _deployment_id(self, name: str) -> str:
        s = self.settings
        return (
            f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/providers"
            f"/Microsoft.MachineLearningServices/workspaces/{s.workspace}/onlineEndpoints/{self.endpoint_name}"
            f"/deployments/{name}"
        )

    def _window(self, resource: str, start: float, end: float) -> Window:
        counts = self._metric(resource, "RequestsPerMinute", start, end, split="envoy_response_code")
        requests = errors = 0
        for code, value in counts:
            requests += value
            errors += value if _server_error(code) else 0
        p95s = [value for _, value in self._metric(resource, "RequestLatency_P95", start, end) if value]
        # Per-minute p95s do not give the window's; the worst minute is the conservative answer.
        return Window(
            requests=int(round(requests)), errors=int(round(errors)), p95_ms=max(p95s) if p95s and requests else None
        )

    def _metric(self, resource: str, metric: str, start: float, end: float, split: str | None = None):
        """(dimension value, per-minute Average) of `metric` for each minute in [start, end)."""
        from azure.core.exceptions import AzureError
        from azure.core.rest import HttpRequest

        if self._arm is None:
            self._arm = self._pipeline(ARM, ARM_SCOPE, retry=True)
        params = {
            "api-version": METRICS_API,
            "metricnames": metric,
            "aggregation": "Average",
            "interval": "PT1M",
            "timespan": f"{_iso(start)}/{_iso(end)}",
        }
        if split:
            params["$filter"] = f"{split} eq '*'"
        request = HttpRequest("GET", f"{ARM}{resource}/providers/Microsoft.Insights/metrics", params=params)
        try:
            response = self._arm.send_request(request)
        except AzureError as exc:
            raise TargetError(f"azure: Azure Monitor {metric} failed: {_reason(exc)}") from None
        if response.status_code != 200:
            raise TargetError(f"azure: Azure Monitor {metric} answered {response.status_code}: {response.text()[:300]}")
        points = []
        for series in (each for value in response.json().get("value", []) for each in value.get("timeseries", [])):
            label = next((meta.get("value") for meta in series.get("metadatavalues", [])), None)
            for point in series.get("data", []):
                if start <= _seconds(point["timeStamp"]) < end and point.get("average") is not None:
                    points.append((label, float(point["average"])))
        return points


def _server_error(code: str | None) -> bool:
    """5xx, and 424: Azure's answer when the model's container itself failed."""
    return bool(code) and (code.startswith("5") or code == "424")


def _nonzero(shares: dict | None) -> dict[str, int]:
    return {key.lower(): int(value) for key, value in (shares or {}).items() if int(value)}


def _percent(percent: int) -> int:
    if not 0 <= int(percent) <= 100:
        raise TargetError(f"azure: a traffic share is 0-100 %, got {percent}")
    return int(percent)


def _text(value) -> str | None:
    return None if value is None else str(getattr(value, "value", value))  # the SDK's str enums


def _reason(exc: Exception) -> str:
    """One line: ARM's error code and message when it sent one (azure-core repeats both otherwise)."""
    error = getattr(exc, "error", None)
    if getattr(error, "message", None):
        text = f"{error.code}: {error.message}" if error.code else error.message
    else:
        text = getattr(exc, "message", None) or exc
    return " ".join(str(text).split())
