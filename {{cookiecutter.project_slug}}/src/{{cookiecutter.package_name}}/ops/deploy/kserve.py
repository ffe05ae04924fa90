"""The Kubernetes target: one KServe InferenceService (ISVC) that holds stable and candidate.

Platform calls (kubernetes.client with plain dict bodies; the kserve package is not used: its typed
models break with kubernetes 37 and inject `"name": ""` into predictor.model):
  CustomObjectsApi on serving.kserve.io/v1beta1 inferenceservices: get (describe, before each change),
    create (first deploy), patch (RFC 7386 merge patches: application/merge-patch+json), delete
    (undeploy, a failed first deploy; Foreground, so the revisions/Deployments go first), and each wait:
    list with watch=true, a field selector on the name and timeoutSeconds (its first event is the
    current state, then every change: one call, no polling loop).
  RawDeployment predict: the Kubernetes API's service proxy, POST
    /api/v1/namespaces/{ns}/services/{isvc}-{predictor name}-predictor:80/proxy/predict.
  Serverless predict: POST {revision URL}/predict (tags latest = candidate, prev = stable), or
    ingress_url with that URL's Host header.
  Prometheus HTTP API: one instant query per observe() (GET {prometheus_url}/api/v1/query) of
    BentoML's request counter and latency histogram, per pod of each side.

Two traffic forms, by the deployment mode (deploy.kubernetes.deployment_mode, else the manifest's
serving.kserve.io/deploymentMode annotation):
  Serverless (Knative): the candidate IS spec.predictor, with `canaryTrafficPercent`; KServe routes
    the rest to the last revision that had 100 % (status latestRolledoutRevision). Promote: drop the
    field. Rollback: 0, the stable's spec back (a new revision of the stable image), drop the field.
  RawDeployment (Standard): the candidate is `spec.canary[0]` (KServe 0.20+), its own Deployment
    {isvc}-{name}-predictor beside the stable's; `canaryTrafficPercent` is silently ignored there.
    Promote: spec.predictor becomes the canary (predictor.name = the canary's: its Deployment serves
    on, no restart) and spec.canary goes. Rollback: trafficPercent 0, then spec.canary dropped.

Traps handled:
- Roles live on the platform: each predictor carries annotations mlops/bento and mlops/version; a
  Serverless candidate also names the stable it runs beside (mlops/stable-*), because the stable's
  spec is only in an older revision. A first deploy (nothing stable yet) carries
  canaryTrafficPercent until promote, in both modes: the marker that it has not passed its smoke
  test. ISVC metadata annotations/labels are never touched: KServe copies them into every pod
  template, so a change would restart (Serverless: re-revision) the stable.
- A patched ISVC's status is stale until KServe reconciles, and status.observedGeneration is the
  Deployment's / Knative Service's, not the ISVC's: every wait checks what the change must show
  (revision names, the traffic per revision, canaryStatuses), never Ready alone. A Serverless
  template change names the revision it replaces (mlops/replaces) so a resumed wait knows it too.
- Serverless rollback from 100 %: the candidate is then the rolled-out revision, so reverting the
  spec at once would leave it all traffic until the stable's new revision is ready; setting 0 first
  lets KServe move latestRolledoutRevision back, and the spec is reverted only after that.
- spec.canary: KServe requires a STORAGE_URI on every predictor (a bento image has its model
  inside: storage_uri/<version>, downloaded by the storage initializer) and a different one to
  rename the predictor at promote; canaries must not autoscale, need minReplicas >= 1 (0 % would
  give 0 replicas: never ready) and <= the stable's; weights need KServe's Gateway API ingress.
  KServe older than 0.20 prunes the unknown field silently: the patch answer is checked.
- The mode cannot change on a live ISVC (KServe rejects it); the webhook rewrites RawDeployment to
  Standard and Serverless to Knative, so both spellings are read as one.
- Prometheus counters restart with their pod: each series is diffed against its previous value and
  a drop counts as a restart. BentoML's `endpoint` label is `exported_endpoint` behind a
  ServiceMonitor (its own `endpoint` label wins): deploy.kubernetes.endpoint_label.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ..config import Config
from ..config import KubernetesTarget as KubernetesSettings
from ..monitoring.headers import SYNTHETIC_HEADER
from .policy import histogram_quantile
from .target import Observation, Release, State, TargetError, Window

GROUP, VERSION, PLURAL, KIND = "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
KNATIVE, STANDARD = "Serverless", "RawDeployment"
MODES = {"Serverless": KNATIVE, "Knative": KNATIVE, "RawDeployment": STANDARD, "Standard": STANDARD}
BENTO, RELEASE_VERSION = "mlops/bento", "mlops/version"
STABLE_BENTO, STABLE_VERSION = "mlops/stable-bento", "mlops/stable-version"
REPLACES = "mlops/replaces"  # Serverless: the revision this template change replaces
CONTAINER = "kserve-container"  # KServe's name for the predictor's serving container
STORAGE_ENV = "STORAGE_URI"
SERVICE_PORT = 80  # KServe's RawDeployment Service port, in front of the container's
PREDICT_PATH = "/predict"
# Fields a canary must not set (KServe's validation: canaries run fixed replicas).
AUTOSCALING = ("maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType", "autoScaling")
REQUESTS_METRIC = "bentoml_service_request_total"
LATENCY_METRIC = "bentoml_service_request_duration_seconds_bucket"


# ---------------------------------------------------------------- manifests (pure, unit-tested)


def mode_of(value: str | None) -> str | None:
    """KNATIVE or STANDARD for any spelling KServe accepts; None when unset."""
    if value is None:
        return None
    if value not in MODES:
        raise TargetError(f"kubernetes: unknown deployment mode {value!r} (have: {', '.join(MODES)})")
    return MODES[value]


def version_tag(release: Release) -> str:
    """The bento's version: the image tag and the source of every per-release name."""
    tag = release.bento.partition(":")[2]
    if tag == "latest" or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise TargetError(f"kubernetes: bento {release.bento!r} has no version usable as an image tag")
    return tag


def predictor_name(service: str, tag: str) -> str:
    """A RawDeployment predictor name: {service}-{name}-predictor (Deployment, Service) fits 63 characters."""
    budget = 63 - len(f"{service}--predictor")
    name = "v-" + (re.sub(r"[^a-z0-9]+", "-", tag.lower()).strip("-") or "x")
    if len(name) > budget:  # cut, and keep it unique with a hash of the whole tag
        name = f"{name[: budget - 7].rstrip('-')}-{hashlib.sha256(tag.encode()).hexdigest()[:6]}"
    return name


def release_of(annotations: dict | None, bento_key: str = BENTO, version_key: str = RELEASE_VERSION) -> Release | None:
    annotations = annotations or {}
    if not annotations.get(bento_key):
        return None
    return Release(annotations[bento_key], annotations.get(version_key) or None)


def release_annotations(release: Release, bento_key: str = BENTO, version_key: str = RELEASE_VERSION) -> dict:
    return {bento_key: release.bento, version_key: release.version or ""}


def merge_patch(live: dict, desired: dict) -> dict:
    """The RFC 7386 merge patch that turns `live` into `desired` (null deletes; lists are replaced)."""
    patch: dict = {key: None for key in live if key not in desired}
    for key, value in desired.items():
        old = live.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if sub := merge_patch(old, value):
                patch[key] = sub
        elif key not in live or value != old:
            patch[key] = value
    return patch


def canary_replicas(percent: int, stable_min: int) -> int:
    """The canary's replicas at `percent`: its share of the stable's, at least 1 (0 would never be ready)."""
    if stable_min < 1:
        raise TargetError("kubernetes: spec.canary needs spec.predictor.minReplicas >= 1 in the manifest")
    return min(stable_min, max(1, math.ceil(stable_min * percent / 100)))


def canary_entry(predictor: dict, percent: int, stable_min: int) -> dict:
    """One spec.canary item: the candidate's predictor without autoscaling, at `percent`."""
    body = {key: value for key, value in predictor.items() if key not in AUTOSCALING}
    body["minReplicas"] = canary_replicas(percent, stable_min)
    return {"trafficPercent": percent, "predictor": body}


def stable_min(predictor: dict) -> int:
    return int(predictor.get("minReplicas", 1))


def condition(isvc: dict, kind: str) -> dict:
    return next((c for c in (isvc.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def ready(isvc: dict) -> bool:
    return condition(isvc, "Ready").get("status") == "True"


def component(isvc: dict) -> dict:
    return ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}


def shares(isvc: dict) -> dict[str, int]:
    """Serverless: live traffic per revision (both of KServe's targets can name one revision)."""
    total: dict[str, int] = {}
    for target in component(isvc).get("traffic") or []:
        if target.get("percent") and target.get("revisionName"):
            total[target["revisionName"]] = total.get(target["revisionName"], 0) + int(target["percent"])
    return total


def knative_settled(isvc: dict) -> bool:
    """Serverless: the latest revision is ready, is not the one replaced, and traffic follows the spec."""
    status, predictor = component(isvc), isvc["spec"]["predictor"]
    created, latest = status.get("latestCreatedRevision"), status.get("latestReadyRevision")
    if not created or created != latest or created == (predictor.get("annotations") or {}).get(REPLACES):
        return False
    percent, rolled = predictor.get("canaryTrafficPercent"), status.get("latestRolledoutRevision")
    if percent is None or not rolled or rolled == latest:
        expected = {latest: 100}
    else:
        expected = {rev: share for rev, share in ((latest, percent), (rolled, 100 - percent)) if share}
    return shares(isvc) == expected and ready(isvc)


def knative_drained(isvc: dict) -> bool:
    """Serverless rollback, step 1: the candidate's revision (latest created) serves nothing."""
    live = shares(isvc)
    return sum(live.values()) == 100 and not live.get(component(isvc).get("latestCreatedRevision"))


def knative_failure(isvc: dict) -> str | None:
    """Knative reports Unknown while a revision starts and False when it failed."""
    failed = condition(isvc, "LatestDeploymentReady")
    replaced = (isvc["spec"]["predictor"].get("annotations") or {}).get(REPLACES)
    if failed.get("status") == "False" and component(isvc).get("latestCreatedRevision") != replaced:
        return f"{failed.get('reason', '')}: {failed.get('message', '')}".strip(": ")
    return None


def standard_settled(isvc: dict, need_ready: bool = True) -> bool:
    """RawDeployment: canaryStatuses show exactly the spec's canaries (and they serve)."""
    wanted = [(c["predictor"].get("name"), c["trafficPercent"]) for c in isvc["spec"].get("canary") or []]
    statuses = (isvc.get("status") or {}).get("canaryStatuses") or []
    if [(s.get("name"), s.get("trafficPercent")) for s in statuses] != wanted:
        return False
    return not need_ready or (all(s.get("ready") for s in statuses) and ready(isvc))


def window(requests: float, errors: float, buckets: dict[float, float]) -> Window:
    latency = tuple(sorted(buckets.items()))
    p95 = histogram_quantile(0.95, latency) if requests else None
    return Window(round(requests), round(errors), None if p95 is None else p95 * 1000, latency)


@dataclass(frozen=True)
class View:
    """Who is who on one ISVC, read from its spec."""

    mode: str
    stable: Release | None = None
    candidate: Release | None = None
    percent: int = 0  # the candidate's share
    reverting: bool = False  # Serverless: a rollback's stable revision not yet given the traffic back
    managed: bool = True  # False: an ISVC this target did not deploy


def view_of(isvc: dict, mode: str) -> View:
    spec = isvc["spec"]
    predictor = spec["predictor"]
    own, percent = release_of(predictor.get("annotations")), predictor.get("canaryTrafficPercent")
    if own is None:
        return View(mode, managed=False)
    if mode == STANDARD:
        if canaries := spec.get("canary"):
            candidate = release_of(canaries[0]["predictor"].get("annotations"))
            return View(mode, own, candidate, int(canaries[0]["trafficPercent"]))
        return View(mode, None, own, int(percent)) if percent is not None else View(mode, own)
    if percent is None:
        return View(mode, own)
    stable = release_of(predictor.get("annotations"), STABLE_BENTO, STABLE_VERSION)
    if stable is not None and stable.bento == own.bento:
        return View(mode, own, reverting=True)
    return View(mode, stable, own, int(percent))


# ---------------------------------------------------------------- the target


class KServeTarget:
    """A KServe InferenceService named deploy.kubernetes.service_name, patched through the Kubernetes API."""

    name = "kubernetes"

    def __init__(self, config: Config, api_client=None) -> None:
        settings = config.deploy.kubernetes
        if settings is None:
            raise TargetError("kubernetes: mlops.yaml has no deploy.kubernetes block")
        self.settings: KubernetesSettings = settings
        self.service, self.namespace = settings.service_name, settings.namespace
        self._api_client = api_client  # None: kubeconfig / in-cluster, loaded on first use
        self._custom = None
        self._base: dict | None = None  # the manifest file, parsed once
        self._seen: dict | None = None  # the ISVC as our last change left it (routes for predict/observe)
        self._counters: dict[tuple, float] = {}  # Prometheus series -> value at the previous observe()
        self._httpx = None  # one client for Prometheus and the predictors (see _http)

    # -------------------------------------------------------- the Target protocol

    def describe(self) -> State:
        isvc = self._get()
        if isvc is None:
            return State(details=self._where())
        view = self._view(isvc)
        return State(
            stable=view.stable,
            candidate=view.candidate,
            candidate_percent=view.percent if view.candidate else 0,
            url=(isvc.get("status") or {}).get("url"),
            details=self._details(isvc, view),
        )

    def deploy_candidate(self, release: Release) -> None:
        isvc, view = self._read()
        if view and not view.managed:
            raise TargetError(
                f"kubernetes: InferenceService {self._where()['isvc']} exists but was not deployed by mlops "
                "(no mlops/bento annotation on its predictor): delete it or choose another service_name"
            )
        if view and view.reverting:
            self._finish_revert()
            isvc = self._get()
        elif view and view.candidate and view.candidate.bento != release.bento:
            self.rollback()  # another candidate: out first
            isvc = self._get()
        elif view and view.candidate:
            self._wait("deploy_candidate", self._settled_check(view), fail_fast=True)  # already there (a rerun)
            return
        try:
            if isvc is None:
                self._create(release)
            elif self._mode() == KNATIVE:
                self._deploy_knative(isvc, release, self._view(isvc).stable)
            else:
                self._deploy_standard(isvc, release)
        except TargetError:
            self.rollback()  # a failed candidate leaves nothing behind
            raise

    def set_traffic(self, percent: int) -> None:
        percent = _percent(percent)
        isvc, view = self._read()
        if view is None or view.candidate is None:
            raise TargetError("kubernetes: set_traffic needs a candidate (deploy_candidate first)")
        if view.mode == KNATIVE or view.stable is None:  # Serverless, or a first deploy (the marker)
            if isvc["spec"]["predictor"].get("canaryTrafficPercent") != percent:
                self._patch("set_traffic", dict(spec=dict(predictor=dict(canaryTrafficPercent=percent))))
        else:
            entry = copy.deepcopy(isvc["spec"]["canary"][0])
            entry["trafficPercent"] = percent
            entry["predictor"]["minReplicas"] = canary_replicas(percent, stable_min(isvc["spec"]["predictor"]))
            if entry != isvc["spec"]["canary"][0]:
                self._patch("set_traffic", dict(spec=dict(canary=[entry])))
        self._wait("set_traffic", self._settled_check(view))

    def set_mirror(self, percent: int) -> None:
        if _percent(percent):
            raise TargetError("kubernetes: KServe has no traffic mirroring; use mode canary (replayed rows compare)")

    def observe(self) -> Observation:
        isvc = self._seen or self._get()
        if isvc is None:
            return Observation()
        pods = self._pod_prefixes(isvc)
        if not pods:
            return Observation()
        totals = {side: [0.0, 0.0, {}] for side in ("stable", "candidate")}
        for metric, value in self._query(pods):
            side = next((s for s, prefix in pods.items() if metric.get("pod", "").startswith(prefix)), None)
            if side is None:
                continue
            key = tuple(sorted(metric.items()))
            previous = self._counters.get(key)
            self._counters[key] = value
            delta = value if previous is None or value < previous else value - previous  # a drop: pod restarted
            if metric.get("__name__") == REQUESTS_METRIC:
                totals[side][0] += delta
                totals[side][1] += delta if str(metric.get("http_response_code", "")).startswith("5") else 0
            else:
                upper = float(metric.get("le", "inf"))
                totals[side][2][upper] = totals[side][2].get(upper, 0.0) + delta
        return Observation(window(*totals["stable"]), window(*totals["candidate"]))

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        if side not in ("stable", "candidate"):
            raise TargetError(f"kubernetes: side must be 'stable' or 'candidate', got {side!r}")
        isvc = self._seen or self._get()
        view = self._view(isvc) if isvc else None
        if view is None or getattr(view, side) is None:
            raise TargetError(f"kubernetes: no {side} is deployed")
        if view.mode == KNATIVE:
            return self._predict_url(rows, side, self._revision_url(isvc, view, side))
        return self._predict_proxy(rows, side, self._service_of(isvc, view, side))

    def promote(self) -> None:
        isvc, view = self._read()
        if view is None or not view.managed:
            return
        if view.reverting:
            self._finish_revert()
            return
        if view.candidate is None:
            return  # already promoted
        if view.mode == STANDARD and view.stable is not None:
            self._promote_standard(isvc, view)
            return
        # Serverless, or a first deploy: without canaryTrafficPercent the latest revision takes it all.
        self._patch("promote", dict(spec=dict(predictor=dict(canaryTrafficPercent=None))))
        self._wait("promote", knative_settled if view.mode == KNATIVE else standard_settled)

    def rollback(self) -> None:
        isvc, view = self._read()
        if view is None or not view.managed:
            return
        if view.reverting:
            self._finish_revert()
        elif view.candidate is None:
            return
        elif view.stable is None:  # a first deploy: nothing to fall back to, nothing left behind
            self._delete("rollback")
        elif view.mode == KNATIVE:
            self._rollback_knative(isvc, view)
        else:
            self._rollback_standard(isvc, view)

    def undeploy(self) -> None:
        isvc = self._get()
        if isvc is not None and not self._view(isvc).managed:
            raise TargetError(f"kubernetes: InferenceService {self._where()['isvc']} was not deployed by mlops")
        if isvc is not None:
            self._delete("undeploy")
        self._counters.clear()

    def image(self, release: Release) -> str:
        """<registry>/<repository>:<bento version>, where CD pushes `bentoml containerize`'s image."""
        return f"{self.settings.image}:{version_tag(release)}"

    # -------------------------------------------------------- changes, per mode

    def _create(self, release: Release) -> None:
        body = self._manifest()
        body["spec"]["predictor"] = {**self._predictor(release), "canaryTrafficPercent": 0}
        self._call("create", self._api().create_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL, body)
        self._seen = None
        self._wait("deploy_candidate", knative_settled if self._mode() == KNATIVE else standard_settled, fail_fast=True)

    def _deploy_knative(self, isvc: dict, release: Release, stable: Release | None) -> None:
        live = isvc["spec"]["predictor"]
        desired = self._predictor(release, stable, replaces=component(isvc).get("latestCreatedRevision"))
        desired["canaryTrafficPercent"] = 0
        self._patch("deploy_candidate", dict(spec=dict(predictor=merge_patch(live, desired))))
        self._wait("deploy_candidate", knative_settled, fail_fast=True)

    def _deploy_standard(self, isvc: dict, release: Release) -> None:
        entry = canary_entry(self._predictor(release), 0, stable_min(isvc["spec"]["predictor"]))
        answer = self._patch("deploy_candidate", dict(spec=dict(canary=[entry])))
        if not answer["spec"].get("canary"):
            raise TargetError("kubernetes: deploy_candidate: the API server dropped spec.canary (KServe < 0.20?)")
        self._wait("deploy_candidate", standard_settled)

    def _promote_standard(self, isvc: dict, view: View) -> None:
        if view.percent != 100:  # the old stable's Deployment goes before the route moves: at 0 % it is idle
            self.set_traffic(100)
            isvc = self._get()
        live, canary = isvc["spec"]["predictor"], isvc["spec"]["canary"][0]["predictor"]
        desired = {key: value for key, value in canary.items() if key != "minReplicas"}
        desired.update({key: live[key] for key in ("minReplicas", *AUTOSCALING) if key in live})
        self._patch("promote", dict(spec=dict(predictor=merge_patch(live, desired), canary=None)))
        self._wait("promote", standard_settled)

    def _rollback_knative(self, isvc: dict, view: View) -> None:
        # 1. The candidate's share to 0: KServe gives the last fully rolled-out stable revision all traffic.
        if view.percent != 0:
            self._patch("rollback", dict(spec=dict(predictor=dict(canaryTrafficPercent=0))))
        isvc = self._wait("rollback", knative_drained)
        # 2. The stable's spec back (a new revision of the stable image, still at 0 %): the candidate's pods go.
        desired = self._predictor(view.stable, view.stable, replaces=component(isvc).get("latestCreatedRevision"))
        desired["canaryTrafficPercent"] = 0
        self._patch("rollback", dict(spec=dict(predictor=merge_patch(isvc["spec"]["predictor"], desired))))
        self._finish_revert()

    def _finish_revert(self) -> None:
        """3. Once the stable's new revision is ready, it takes the traffic (canaryTrafficPercent dropped)."""
        self._wait("rollback", knative_settled)
        self._patch("rollback", dict(spec=dict(predictor=dict(canaryTrafficPercent=None))))
        self._wait("rollback", knative_settled)

    def _rollback_standard(self, isvc: dict, view: View) -> None:
        if view.percent != 0:  # the route first, then the Deployment (deleting it first would answer 503)
            entry = copy.deepcopy(isvc["spec"]["canary"][0])
            entry["trafficPercent"] = 0
            self._patch("rollback", dict(spec=dict(canary=[entry])))
            self._wait("rollback", lambda obj: standard_settled(obj, need_ready=False))
        self._patch("rollback", dict(spec=dict(canary=None)))
        self._wait("rollback", standard_settled)

    def _settled_check(self, view: View):
        return knative_settled if view.mode == KNATIVE else standard_settled

    # -------------------------------------------------------- manifests

    def _manifest(self) -> dict:
        """The repository's base InferenceService with name, namespace and mode filled in (a fresh copy)."""
        path = Path(self.settings.manifest)
        if self._base is None:
            try:
                self._base = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise TargetError(f"kubernetes: cannot read the manifest {path}: {exc}") from None
        body = copy.deepcopy(self._base)
        if not isinstance(body, dict) or body.get("kind") != KIND or body.get("apiVersion") != f"{GROUP}/{VERSION}":
            raise TargetError(f"kubernetes: {path} is not a {GROUP}/{VERSION} {KIND}")
        if not isinstance((body.get("spec") or {}).get("predictor"), dict):
            raise TargetError(f"kubernetes: {path} has no spec.predictor")
        meta = body.setdefault("metadata", {})
        meta.update(name=self.service, namespace=self.namespace)
        annotations = meta.setdefault("annotations", {})
        if self.settings.deployment_mode:
            annotations[MODE_ANNOTATION] = self.settings.deployment_mode
        if mode_of(annotations.get(MODE_ANNOTATION)) is None:
            raise TargetError(f"kubernetes: set {MODE_ANNOTATION} in {path} or deploy.kubernetes.deployment_mode")
        body["spec"].pop("canary", None)
        return body

    def _mode(self) -> str:
        return mode_of(self._manifest()["metadata"]["annotations"][MODE_ANNOTATION])

    def _predictor(self, release: Release, stable: Release | None = None, replaces: str | None = None) -> dict:
        """The manifest's predictor serving `release`, with its roles in annotations."""
        predictor = copy.deepcopy(self._manifest()["spec"]["predictor"])
        predictor.pop("canaryTrafficPercent", None)
        containers = predictor.setdefault("containers", [{}])
        main = next((c for c in containers if c.get("name", CONTAINER) == CONTAINER), containers[0])
        main.setdefault("name", CONTAINER)
        main["image"] = self.image(release)
        annotations = predictor.setdefault("annotations", {})
        annotations.update(release_annotations(release))
        if self._mode() == KNATIVE:
            for key in (STABLE_BENTO, STABLE_VERSION, REPLACES):
                annotations.pop(key, None)
            if stable is not None:
                annotations.update(release_annotations(stable, STABLE_BENTO, STABLE_VERSION))
            if replaces:
                annotations[REPLACES] = replaces
            return predictor
        if not self.settings.storage_uri:
            raise TargetError(
                "kubernetes: RawDeployment needs deploy.kubernetes.storage_uri: KServe's spec.canary requires a "
                "STORAGE_URI on every predictor"
            )
        predictor["name"] = predictor_name(self.service, version_tag(release))
        env = [e for e in main.get("env") or [] if e.get("name") != STORAGE_ENV]
        main["env"] = [
            *env,
            dict(name=STORAGE_ENV, value=f"{self.settings.storage_uri.rstrip('/')}/{version_tag(release)}"),
        ]
        return predictor

    def _read(self) -> tuple[dict | None, View | None]:
        """The InferenceService as the cluster has it now, and the view of it (None, None: none yet)."""
        isvc = self._get()
        return isvc, self._view(isvc) if isvc else None

    def _view(self, isvc: dict) -> View:
        mode = self._mode()
        live = (isvc.get("metadata") or {}).get("annotations", {}).get(MODE_ANNOTATION)
        live_mode = mode_of(live or (isvc.get("status") or {}).get("deploymentMode") or None)
        if live_mode and live_mode != mode:
            raise TargetError(
                f"kubernetes: InferenceService {self._where()['isvc']} runs in {live_mode} mode, the manifest says "
                f"{mode}: KServe cannot switch a live one (`mlops undeploy`, then deploy)"
            )
        return view_of(isvc, mode)

    # -------------------------------------------------------- routes and metrics

    def _revision_url(self, isvc: dict, view: View, side: str) -> str:
        status = component(isvc)
        if view.stable is None or view.candidate is None:  # one model: the component's URL
            url = status.get("url") or (isvc.get("status") or {}).get("url")
        else:
            tag = "latest" if side == "candidate" else "prev"
            url = next((t.get("url") for t in status.get("traffic") or [] if t.get("tag") == tag), None)
        if url:
            return url
        if side == "stable" and view.percent == 100:
            raise TargetError("kubernetes: the stable revision has no route while the candidate has 100 %")
        raise TargetError(
            f"kubernetes: no URL for the {side} revision yet; Serverless needs the annotation "
            "serving.kserve.io/enable-tag-routing: 'true' in the manifest"
        )

    def _service_of(self, isvc: dict, view: View, side: str) -> str:
        if side == "candidate" and view.stable is not None:
            name = isvc["spec"]["canary"][0]["predictor"].get("name")
        else:
            name = isvc["spec"]["predictor"].get("name")
        return f"{self.service}-{name}-predictor" if name else f"{self.service}-predictor"

    def _pod_prefixes(self, isvc: dict) -> dict[str, str]:
        """Pod name prefix per side: Knative's {revision}-deployment-..., RawDeployment's {deployment}-..."""
        view = self._view(isvc)
        if not view.managed:
            return {}
        if view.mode == STANDARD:
            sides = [s for s in ("stable", "candidate") if getattr(view, s)]
            return {side: self._service_of(isvc, view, side) + "-" for side in sides}
        status = component(isvc)
        created, rolled = status.get("latestCreatedRevision"), status.get("latestRolledoutRevision")
        if view.candidate is None:
            revisions = {"stable": rolled or status.get("latestReadyRevision")}
        elif view.stable is None:
            revisions = {"candidate": created}
        else:  # at 100 % the candidate is the rolled-out revision and the stable the previous one
            stable = rolled if rolled != created else status.get("previousRolledoutRevision")
            revisions = {"stable": stable, "candidate": created}
        return {side: f"{rev}-deployment-" for side, rev in revisions.items() if rev}

    def _http(self):
        """Kept for the rollout: a client per call would build a TLS context (and pool) every check."""
        if self._httpx is None:
            import httpx

            self._httpx = httpx.Client(timeout=self.settings.request_timeout_seconds)
        return self._httpx

    def _query(self, pods: dict[str, str]) -> list[tuple[dict, float]]:
        """One instant query: every pod's cumulative /predict counters and latency buckets."""
        import httpx

        names = f"{REQUESTS_METRIC}|{LATENCY_METRIC}"
        regex = "|".join(f"{prefix}.*" for prefix in pods.values())  # DNS names: nothing to escape
        selector = (
            f'__name__=~"{names}",namespace="{self.namespace}",pod=~"{regex}",'
            f'{self.settings.endpoint_label}="{PREDICT_PATH}"'
        )
        url = f"{self.settings.prometheus_url.rstrip('/')}/api/v1/query"
        try:
            answer = self._http().get(url, params={"query": "{" + selector + "}"})
            answer.raise_for_status()
            data = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TargetError(f"kubernetes: Prometheus query at {url} failed: {exc}") from None
        if data.get("status") != "success":
            raise TargetError(f"kubernetes: Prometheus answered {data.get('errorType')}: {data.get('error')}")
        return [(item["metric"], float(item["value"][1])) for item in data["data"]["result"]]

    def _predict_url(self, rows: list[dict], side: str, url: str) -> list:
        import httpx

        headers = {SYNTHETIC_HEADER: "replay"}
        if self.settings.ingress_url:  # the gateway routes by Host
            headers["Host"] = urlsplit(url).netloc
            url = self.settings.ingress_url
        try:
            answer = self._http().post(url.rstrip("/") + PREDICT_PATH, json={"rows": rows}, headers=headers)
        except httpx.HTTPError as exc:
            raise TargetError(f"kubernetes: the {side} at {url} did not answer: {exc}") from None
        return _predictions(side, answer.status_code, answer.text)

    def _predict_proxy(self, rows: list[dict], side: str, service: str) -> list:
        """Through the API server's service proxy: no cluster network needed, the same credentials."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        api = self._client()
        method, url, headers, body, _ = api.param_serialize(
            method="POST",
            resource_path="/api/v1/namespaces/{namespace}/services/{name}/proxy" + PREDICT_PATH,
            path_params={"namespace": self.namespace, "name": f"{service}:{SERVICE_PORT}"},
            header_params={
                "Content-Type": "application/json",
                "Accept": "application/json",
                SYNTHETIC_HEADER: "replay",
            },
            body={"rows": rows},
            auth_settings=["BearerToken"],
        )
        try:
            answer = api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.settings.request_timeout_seconds
            )
            text = answer.read().decode(errors="replace")
        except (ApiException, HTTPError) as exc:
            raise TargetError(f"kubernetes: the {side} service {service} did not answer: {exc}") from None
        return _predictions(side, answer.status, text)

    # -------------------------------------------------------- the Kubernetes API

    def _client(self):
        if self._api_client is None:
            from kubernetes import client
            from kubernetes import config as kube

            cfg = client.Configuration()
            try:
                kube.load_incluster_config(client_configuration=cfg)
            except kube.ConfigException:
                try:
                    kube.load_kube_config(context=self.settings.context, client_configuration=cfg)
                except (kube.ConfigException, OSError) as exc:
                    raise TargetError(f"kubernetes: no cluster credentials (in-cluster or kubeconfig): {exc}") from None
            self._api_client = client.ApiClient(cfg)
        return self._api_client

    def _api(self):
        if self._custom is None:
            from kubernetes import client

            self._custom = client.CustomObjectsApi(self._client())
        return self._custom

    def _call(self, call: str, method, *args, **kwargs):
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args, **kwargs)
        except ApiException as exc:
            raise TargetError(f"kubernetes: {call} {self._where()['isvc']}: {_reason(exc)}") from None
        except HTTPError as exc:
            raise TargetError(f"kubernetes: {call} {self._where()['isvc']}: {exc}") from None

    def _get(self) -> dict | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._api().get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.service)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise TargetError(f"kubernetes: describe {self._where()['isvc']}: {_reason(exc)}") from None

    def _patch(self, call: str, body: dict) -> dict:
        self._seen = None
        api = self._api()
        return self._call(
            call, api.patch_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL, self.service, body
        )

    def _delete(self, call: str) -> None:
        self._seen = None
        api = self._api()
        gone = self._call(
            call,
            api.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            self.service,
            propagation_policy="Foreground",
        )
        version = ((gone or {}).get("metadata") or {}).get("resourceVersion")
        # From the delete's resourceVersion on, so a deletion already done still shows as DELETED.
        self._wait(call, None, resource_version=version)

    def _wait(self, call: str, done, resource_version: str | None = None, fail_fast: bool = False) -> dict | None:
        """Watch the ISVC until `done(isvc)` (None: until it is deleted), at most timeout_seconds;
        `fail_fast`: stop at a new Serverless revision that failed (a candidate's, not a rollback's)."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        timeout = self.settings.timeout_seconds
        options = dict(field_selector=f"metadata.name={self.service}", timeout_seconds=max(1, int(timeout)))
        if resource_version:
            options["resource_version"] = resource_version
        fail_fast = fail_fast and self._mode() == KNATIVE
        watcher, last = watch.Watch(), None
        api = self._api()
        try:
            events = watcher.stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                _request_timeout=timeout + 30,
                **options,
            )
            for event in events:
                if event["type"] == "DELETED" and done is None:
                    return None
                last = event["raw_object"]
                if done is None or event["type"] not in ("ADDED", "MODIFIED"):
                    continue
                if fail_fast and (failure := knative_failure(last)):
                    raise TargetError(f"kubernetes: {call}: the new revision failed: {failure}")
                if done(last):
                    self._seen = last
                    return last
        except ApiException as exc:
            raise TargetError(f"kubernetes: {call} {self._where()['isvc']}: watch: {_reason(exc)}") from None
        except HTTPError as exc:
            raise TargetError(f"kubernetes: {call} {self._where()['isvc']}: watch: {exc}") from None
        finally:
            watcher.stop()
        what = "still exists" if done is None else f"not done: {_summary(last)}"
        raise TargetError(f"kubernetes: {call} {self._where()['isvc']}: after {timeout:.0f} s {what}")

    def _where(self) -> dict:
        return {"isvc": f"{self.namespace}/{self.service}"}

    def _details(self, isvc: dict, view: View) -> dict:
        status = isvc.get("status") or {}
        details = {**self._where(), "mode": view.mode, "managed": view.managed}
        details["conditions"] = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if view.mode == KNATIVE:
            predictor = component(isvc)
            details["revisions"] = {
                key: predictor.get(key) for key in ("latestReadyRevision", "latestRolledoutRevision")
            }
            details["traffic"] = shares(isvc)
        else:
            details["canaries"] = status.get("canaryStatuses") or []
        if view.reverting:
            details["reverting"] = True
        return details


def _percent(percent: int) -> int:
    if not 0 <= int(percent) <= 100:
        raise TargetError(f"kubernetes: a traffic share is 0-100 %, got {percent}")
    return int(percent)


def _predictions(side: str, status: int, text: str) -> list:
    if status != 200:
        raise TargetError(f"kubernetes: the {side} answered {status}: {text[:200]}")
    try:
        return json.loads(text)["predictions"]
    except (ValueError, TypeError, KeyError) as exc:
        raise TargetError(f"kubernetes: the {side} answered without predictions: {exc}") from None


def _reason(exc) -> str:
    """The API server's one-line reason (its Status message), else the HTTP status."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"{exc.status} {exc.reason}: {message}" if message else f"{exc.status} {exc.reason}"


def _summary(isvc: dict | None) -> str:
    if isvc is None:
        return "no InferenceService seen"
    conditions = ", ".join(
        f"{c.get('type')}={c.get('status')}" + (f" ({c['reason']})" if c.get("reason") else "")
        for c in (isvc.get("status") or {}).get("conditions") or []
    )
    return conditions or "no status yet"
