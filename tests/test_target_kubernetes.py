"""The Kubernetes target (ops/deploy/kserve.py) driven through the real kubernetes client.

No kube-apiserver runs here, so a stateful stand-in of one runs on 127.0.0.1 (pytest-httpserver): GET,
POST, merge PATCH (Content-Type checked) and DELETE of serving.kserve.io/v1beta1 InferenceServices,
and their watches (list?watch=true: the stored object with its stale status first, then one event per
reconcile pass). Its "KServe" follows the controller's code (kserve/kserve at aaac4e2): Knative
revisions, canaryTrafficPercent traffic and the latestRolledoutRevision bookkeeping of
PropagateStatus; RawDeployment spec.canary with canaryStatuses and Gateway API weights; and the
admission webhook's checks (mode normalisation, canary rules, STORAGE_URI, predictor renames). It
also serves what the target calls besides the API: Knative's per-revision hosts (Serverless
/predict), the API server's service proxy (RawDeployment /predict), and Prometheus' /api/v1/query,
answered from per-pod BentoML counters that "live clients" fill by the current weights.

Every InferenceService the target writes is validated against KServe's CRD schema with
check-jsonschema (tests/data/kserve, see its PROVENANCE.md) and its shares checked to be 0-100.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import ROOT
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

NS, NAME = "models", "iris"
IMAGE = "registry.example.com/team/iris"
V1, V2, BAD = "iris:v1aaa", "iris:v2bbb", "iris:bad333"  # BAD's pods answer 5xx to half the live requests
ROWS = [{"x": float(i)} for i in range(5)]
ISVCS = f"/apis/serving.kserve.io/v1beta1/namespaces/{NS}/inferenceservices"
DOMAIN = f"{NS}.example.com"
BUCKETS = ("0.005", "0.01", "0.1", "+Inf")
REQUESTS_METRIC = "bentoml_service_request_total"
LATENCY_METRIC = "bentoml_service_request_duration_seconds_bucket"
SCHEMA = Path(__file__).parent / "data" / "kserve" / "inferenceservice-v1beta1.json"  # see its PROVENANCE.md
CHECK_JSONSCHEMA = ROOT / ".venv" / "bin" / "check-jsonschema"
DENIED = 'admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request: '
AUTOSCALING = ("maxReplicas", "scaleTarget", "scaleMetric", "autoScaling")


class Refused(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def merge(target, patch):
    """RFC 7386, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def image_of(predictor: dict) -> str:
    return next(c for c in predictor["containers"] if c.get("name") == "kserve-container")["image"]


def storage_uri(predictor: dict) -> str | None:
    env = next(c for c in predictor["containers"] if c.get("name") == "kserve-container").get("env") or []
    return next((e["value"] for e in env if e["name"] == "STORAGE_URI"), None)


def bad(image: str) -> bool:
    return image.endswith(":" + BAD.split(":")[1])


class Cluster:
    """The Kubernetes API with KServe, Knative/Gateway routing and Prometheus, as far as the target uses them."""

    def __init__(self, prune_canary: bool = False) -> None:
        self.lock = threading.RLock()
        self.prune_canary = prune_canary  # KServe < 0.20: the CRD has no spec.canary, the API server prunes it
        self.isvc: dict | None = None
        self.status: dict = {}
        self.pending = False
        self.rv = 0
        self.deleted: dict | None = None
        self.template: dict | None = None  # Knative: the template of the latest revision
        self.revisions: dict[str, str] = {}  # Knative revision -> image
        self.deployments: dict[str, str] = {}  # RawDeployment Deployment -> image
        self.counters: dict[str, dict[str, Counter]] = {}  # pod -> {"codes": ..., "buckets": ...}
        self.pod_image: dict[str, str] = {}
        self.log: list[dict] = []  # every request: kind, method, path, content type, body
        self.stored: list[dict] = []  # the InferenceService after each write (what the target sent, merged)
        self.passes: list[tuple[str, dict]] = []  # Serverless, per reconcile pass: (latest revision, traffic)

    # ------------------------------------------------------------ HTTP

    def __call__(self, request: Request) -> Response:
        with self.lock:
            try:
                code, body = self.route(request)
            except Refused as exc:
                code = exc.code
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": exc.message}
                body.update(reason=exc.reason, code=exc.code)
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, code, content_type="application/json")

    def route(self, request: Request):
        path, method = request.path, request.method
        body = json.loads(request.get_data() or b"null")
        entry = {"method": method, "path": path, "type": request.content_type, "body": body}
        if path == "/api/v1/query":
            self.log.append({**entry, "kind": "prometheus"})
            return 200, self.prometheus(request.args["query"])
        if path == "/predict" or path.endswith("/proxy/predict"):
            self.log.append({**entry, "kind": "predict", "headers": dict(request.headers)})
            return self.predict(request, body)
        self.log.append({**entry, "kind": "watch" if request.args.get("watch") else "kubernetes"})
        if path == ISVCS and method == "GET" and request.args.get("watch"):
            return 200, self.watch(request.args)
        if path == ISVCS and method == "POST":
            return self.create(body)
        if path == f"{ISVCS}/{NAME}":
            if self.isvc is None:
                raise Refused(404, "NotFound", f'inferenceservices.serving.kserve.io "{NAME}" not found')
            if method == "GET":
                return 200, self.obj()
            if method == "PATCH":
                if request.content_type != "application/merge-patch+json":
                    raise Refused(415, "UnsupportedMediaType", f"unsupported patch type {request.content_type}")
                return self.patch(body)
            if method == "DELETE":
                return self.delete(request.args)
        raise Refused(404, "NotFound", f"{method} {path}")

    # ------------------------------------------------------------ the API server

    def obj(self) -> dict:
        return {**copy.deepcopy(self.isvc), "status": copy.deepcopy(self.status)}

    def create(self, body: dict):
        if self.isvc is not None:
            raise Refused(409, "AlreadyExists", f'inferenceservices.serving.kserve.io "{NAME}" already exists')
        body = self.admit(body, None)
        body["metadata"].update(generation=1, uid="uid-1")
        self.status, self.template, self.revisions, self.deployments = {}, None, {}, {}
        self.store(body)
        return 201, self.obj()

    def patch(self, patch: dict):
        old = self.isvc
        new = merge({k: v for k, v in old.items() if k != "status"}, patch)
        new = self.admit(new, old)
        if new["spec"] != old["spec"]:
            new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        self.store(new)
        return 200, self.obj()

    def delete(self, args):
        assert args.get("propagationPolicy") == "Foreground"  # children first: nothing billable left
        self.deleted = {**self.obj(), "metadata": {**self.isvc["metadata"], "deletionTimestamp": "now"}}
        self.isvc, self.status, self.pending = None, {}, False
        self.rv += 1
        return 200, self.deleted

    def store(self, body: dict) -> None:
        if self.prune_canary:
            body["spec"].pop("canary", None)
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        self.isvc, self.pending = body, True
        self.stored.append(copy.deepcopy(body))

    def watch(self, args) -> str:
        assert args.get("fieldSelector") == f"metadata.name={NAME}" and args.get("timeoutSeconds")
        events = []
        if self.isvc is None:
            since = args.get("resourceVersion")
            if self.deleted is not None and since and int(since) <= int(self.deleted["metadata"]["resourceVersion"]):
                events.append(("DELETED", self.deleted))
        else:
            events.append(("ADDED", self.obj()))  # as stored: its status may still describe the last generation
            while self.pending:
                if self.reconcile():
                    events.append(("MODIFIED", self.obj()))
        return "".join(json.dumps({"type": kind, "object": obj}) + "\n" for kind, obj in events)

    # ------------------------------------------------------------ KServe's webhook

    def admit(self, body: dict, old: dict | None) -> dict:
        body = copy.deepcopy(body)
        assert body["apiVersion"] == "serving.kserve.io/v1beta1" and body["kind"] == "InferenceService"
        annotations = body["metadata"].setdefault("annotations", {})
        mode = annotations.get("serving.kserve.io/deploymentMode")
        annotations["serving.kserve.io/deploymentMode"] = {"RawDeployment": "Standard", "Serverless": "Knative"}.get(
            mode, mode
        )
        mode = annotations["serving.kserve.io/deploymentMode"]
        predictor, canaries = body["spec"]["predictor"], body["spec"].get("canary") or []
        if old is not None and self.status.get("deploymentMode") not in (None, mode):
            raise Refused(400, "BadRequest", DENIED + "update rejected: deploymentMode cannot be changed")
        percent = predictor.get("canaryTrafficPercent")
        if percent is not None and not 0 <= percent <= 100:
            raise Refused(400, "BadRequest", DENIED + f"canaryTrafficPercent {percent} out of 0-100")
        if not predictor.get("containers"):
            raise Refused(400, "BadRequest", DENIED + "exactly one predictor implementation is required")
        if canaries:
            self.admit_canaries(mode, predictor, canaries)
        renamed = old is not None and old["spec"]["predictor"].get("name") != predictor.get("name")
        if renamed and storage_uri(old["spec"]["predictor"]) == storage_uri(predictor):
            raise Refused(400, "BadRequest", DENIED + "predictor.name change requires a model change")
        return body

    def admit_canaries(self, mode: str, predictor: dict, canaries: list) -> None:
        if mode != "Standard":
            raise Refused(400, "BadRequest", DENIED + "canary is only supported in Standard deployment mode")
        if storage_uri(predictor) is None:
            raise Refused(400, "BadRequest", DENIED + "canary requires a stable predictor with a model")
        names, total = set(), 0
        for canary in canaries:
            name = canary["predictor"].get("name")
            if not name or name in names or name == predictor.get("name"):
                raise Refused(400, "BadRequest", DENIED + f"canary predictor.name {name!r} missing or duplicated")
            names.add(name)
            if not 0 <= canary["trafficPercent"] <= 100:
                raise Refused(400, "BadRequest", DENIED + "canary trafficPercent must be between 0 and 100")
            total += canary["trafficPercent"]
            if any(canary["predictor"].get(key) for key in AUTOSCALING):
                raise Refused(400, "BadRequest", DENIED + f"canary {name!r} must not autoscale")
            if canary["predictor"].get("minReplicas", 0) > predictor.get("minReplicas", 1):
                raise Refused(400, "BadRequest", DENIED + f"canary {name!r} minReplicas exceeds the stable's")
        if total > 100:
            raise Refused(400, "BadRequest", DENIED + "the canaries' trafficPercent sum exceeds 100")

    # ------------------------------------------------------------ KServe's controller

    def reconcile(self) -> bool:
        """One reconcile pass; False (and done) when it changed nothing."""
        before = json.dumps(self.status, sort_keys=True)
        if self.isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative":
            self.reconcile_knative()
            self.passes.append((self.status["components"]["predictor"]["latestCreatedRevision"], self.shares()))
        else:
            self.reconcile_standard()
        changed = json.dumps(self.status, sort_keys=True) != before
        self.pending = changed
        return changed

    def reconcile_knative(self) -> None:
        predictor = self.isvc["spec"]["predictor"]
        template = {key: value for key, value in predictor.items() if key != "canaryTrafficPercent"}
        comp = self.status.setdefault("components", {}).setdefault("predictor", {})
        if template != self.template:  # any template change is a new revision
            self.template = copy.deepcopy(template)
            name = f"{NAME}-predictor-{len(self.revisions) + 1:05d}"
            self.revisions[name] = image_of(predictor)
            self.pod_image[f"{name}-deployment-5f6d7c8b9-abcde"] = image_of(predictor)
            comp["latestCreatedRevision"] = name
        created = comp["latestCreatedRevision"]
        healthy = "broken" not in self.revisions[created]
        if healthy:
            comp["latestReadyRevision"] = created
        latest, rolled = comp.get("latestReadyRevision"), comp.get("latestRolledoutRevision", "")
        percent = predictor.get("canaryTrafficPercent")
        tagged = self.isvc["metadata"]["annotations"].get("serving.kserve.io/enable-tag-routing") == "true"
        latest_tag = {"tag": "latest", "url": f"http://latest-{NAME}-predictor.{DOMAIN}"} if tagged else {}
        traffic = []
        if latest and percent is not None and rolled:  # ksvc_reconciler: split with the last rolled-out revision
            traffic.append({"latestRevision": True, "percent": percent, "revisionName": latest, **latest_tag})
            if percent < 100:
                prev = {"tag": "prev", "url": f"http://prev-{NAME}-predictor.{DOMAIN}"}
                traffic.append({"latestRevision": False, "percent": 100 - percent, "revisionName": rolled, **prev})
        elif latest:
            traffic.append({"latestRevision": True, "percent": 100, "revisionName": latest, **latest_tag})
        per_revision = Counter()
        for target in traffic:
            per_revision[target["revisionName"]] += target["percent"]
        for target in traffic:  # PropagateStatus
            if target["revisionName"] != latest or not target["latestRevision"]:
                continue
            if comp.get("latestRolledoutRevision", "") != latest:
                if target["percent"] == 100:
                    comp["previousRolledoutRevision"] = comp.get("latestRolledoutRevision", "")
                    comp["latestRolledoutRevision"] = latest
            elif latest == created and target["percent"] < 100 and per_revision[latest] == 100:
                comp["latestRolledoutRevision"] = comp.get("previousRolledoutRevision") or latest
        comp.update(traffic=traffic, url=f"http://{NAME}-predictor.{DOMAIN}")
        deployed = "True" if healthy else "False"
        self.status.update(
            url=f"http://{NAME}.{DOMAIN}", deploymentMode="Knative", observedGeneration=len(self.revisions)
        )
        self.status["conditions"] = [
            {"type": "LatestDeploymentReady", "status": deployed, **({} if healthy else {"reason": "RevisionFailed"})},
            {"type": "PredictorReady", "status": "True" if latest else "Unknown"},
            {"type": "Ready", "status": "True" if latest and healthy else "False"},
        ]

    def reconcile_standard(self) -> None:
        spec = self.isvc["spec"]
        predictor = spec["predictor"]
        stable = f"{NAME}-{predictor['name']}-predictor" if predictor.get("name") else f"{NAME}-predictor"
        self.deployments = {stable: image_of(predictor)}  # orphans (an old stable, a removed canary) are deleted
        statuses = []
        for canary in spec.get("canary") or []:
            deployment = f"{NAME}-{canary['predictor']['name']}-predictor"
            self.deployments[deployment] = image_of(merge(predictor, canary["predictor"]))
            statuses.append(
                {
                    "name": canary["predictor"]["name"],
                    "ready": "broken" not in self.deployments[deployment],
                    "trafficPercent": canary["trafficPercent"],
                }
            )
        for deployment, image in self.deployments.items():
            self.pod_image[f"{deployment}-6b7f9d8c4-q2w3e"] = image
        self.status["canaryStatuses"] = statuses
        if not statuses:
            del self.status["canaryStatuses"]
        conditions = [{"type": "PredictorReady", "status": "True"}, {"type": "IngressReady", "status": "True"}]
        if statuses:
            conditions.append({"type": "CanaryPredictorReady", "status": str(all(s["ready"] for s in statuses))})
        conditions.append({"type": "Ready", "status": "True"})
        self.status.update(url=f"http://{NAME}.{DOMAIN}", deploymentMode="Standard", conditions=conditions)
        self.status["observedGeneration"] = 1  # the Deployment's: never the InferenceService's generation
        self.status["components"] = {"predictor": {"url": f"http://{NAME}-predictor.{DOMAIN}"}}

    def shares(self) -> dict[str, int]:
        """Live traffic per revision (Serverless) or Deployment (RawDeployment, by the HTTPRoute's weights)."""
        if self.isvc is None:
            return {}
        if self.isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Knative":
            total = Counter()
            for target in (self.status.get("components") or {}).get("predictor", {}).get("traffic") or []:
                total[target["revisionName"]] += target["percent"]
            return {rev: share for rev, share in total.items() if share}
        canaries = {s["name"]: s["trafficPercent"] for s in self.status.get("canaryStatuses") or [] if s["ready"]}
        stable = next(iter(self.deployments))
        weights = {f"{NAME}-{name}-predictor": share for name, share in canaries.items()}
        return {stable: 100 - sum(weights.values()), **weights}

    # ------------------------------------------------------------ traffic, predictions, metrics

    def pod(self, unit: str) -> str:
        return next(pod for pod in self.pod_image if pod.startswith(unit + "-"))

    def serve(self, requests: int) -> None:
        """Live clients: `requests` spread by the current weights (BAD's pods fail half of theirs)."""
        with self.lock:
            for unit, share in self.shares().items():
                count = round(requests * share / 100)
                pod = self.pod(unit)
                failed = count // 2 if bad(self.pod_image[pod]) else 0
                self.count(pod, "500", failed, 0.002)
                self.count(pod, "200", count - failed, 0.004)

    def count(self, pod: str, code: str, requests: int, seconds: float) -> None:
        counters = self.counters.setdefault(pod, {"codes": Counter(), "buckets": Counter()})
        counters["codes"][code] += requests
        for upper in BUCKETS:
            if float(upper) >= seconds:
                counters["buckets"][upper] += requests

    def predict(self, request: Request, body: dict):
        assert set(body) == {"rows"} and isinstance(body["rows"], list)
        assert request.headers.get("X-Mlops-Synthetic") == "replay"  # never captured as production traffic
        if request.path == "/predict":  # Serverless: Knative routes by Host
            host = request.headers["Host"]
            comp = self.status.get("components", {}).get("predictor", {})
            by_tag = {t.get("tag"): t["revisionName"] for t in comp.get("traffic") or []}
            if host == f"latest-{NAME}-predictor.{DOMAIN}":
                unit = comp["latestReadyRevision"]
            elif host == f"prev-{NAME}-predictor.{DOMAIN}" and "prev" in by_tag:
                unit = by_tag["prev"]
            elif host == f"{NAME}-predictor.{DOMAIN}" and self.shares():
                unit = max(self.shares(), key=self.shares().get)
            else:
                return 404, {"error": f"no route for host {host}"}
        else:  # RawDeployment: /api/v1/namespaces/{ns}/services/{name}:{port}/proxy/predict
            service, _, port = request.path.split("/")[6].partition(":")
            if service not in self.deployments or port != "80":
                return 503, {"error": f'no endpoints available for service "{service}"'}
            unit = service
        pod = self.pod(unit)
        self.count(pod, "200", 1, 0.004)
        answer = 1 if bad(self.pod_image[pod]) else 0  # BAD disagrees with the others
        return 200, {"predictions": [answer] * len(body["rows"]), "model": self.pod_image[pod], "request_id": "r"}

    def prometheus(self, query: str) -> dict:
        selector = re.fullmatch(r"\{(.*)\}", query)
        assert selector, query
        matchers = re.findall(r'(\w+)(=~|=)"([^"]*)"', selector.group(1))
        assert {label for label, _, _ in matchers} >= {"__name__", "namespace", "pod", "endpoint"}, query
        result = []
        for pod, counters in self.counters.items():
            base = {"namespace": NS, "pod": pod, "endpoint": "/predict", "service_name": NAME, "container": "main"}
            for code, value in counters["codes"].items():
                result.append(({"__name__": REQUESTS_METRIC, **base, "http_response_code": code}, value))
            for upper, value in counters["buckets"].items():
                result.append(({"__name__": LATENCY_METRIC, **base, "le": upper}, value))

        def matches(metric: dict) -> bool:
            return all(
                re.fullmatch(value, metric.get(label, "")) if op == "=~" else metric.get(label, "") == value
                for label, op, value in matchers
            )

        now = time.time()
        vector = [{"metric": m, "value": [now, str(v)]} for m, v in result if matches(m)]
        return {"status": "success", "data": {"resultType": "vector", "result": vector}}

    # ------------------------------------------------------------ for the assertions

    def calls(self, since: int = 0) -> Counter:
        return Counter(
            entry["kind"] if entry["kind"] != "kubernetes" else f"{entry['method']} isvc" for entry in self.log[since:]
        )

    def patches(self, since: int = 0) -> list[dict]:
        return [e["body"] for e in self.log[since:] if e["method"] == "PATCH"]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ops(baked_ops):
    """The bake's ops package, with the modules used here imported."""
    for module in ("config", "deploy.controller", "deploy.policy", "deploy.kserve"):
        importlib.import_module(f"cloud_targets.ops.{module}")
    return baked_ops


@pytest.fixture(scope="module")
def kserve(ops):
    return importlib.import_module("cloud_targets.ops.deploy.kserve")


@pytest.fixture(scope="module")
def project(ops) -> Path:
    return Path(ops.__file__).parents[3]  # src/cloud_targets/ops/__init__.py


@pytest.fixture(scope="module")
def server():
    http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    http.start()
    yield http
    http.clear()
    http.stop()


@pytest.fixture
def cluster(server):
    fake = Cluster()
    server.expect_request(re.compile(".*")).respond_with_handler(fake)
    fake.url = server.url_for("").rstrip("/")
    yield fake
    errors = list(server.handler_errors)
    server.clear()
    assert not errors, errors  # an assertion in the stand-in is a failure of the test


@pytest.fixture
def make(ops, kserve, project, cluster):
    """New KServeTarget objects (as a restarted `mlops deploy` makes them) for one stand-in."""
    from kubernetes import client

    def made(mode: str | None = None, **settings):
        cfg = ops.config.load_config(project / "mlops.yaml")
        block = ops.config.KubernetesTarget(
            **{
                "namespace": NS,
                "service_name": NAME,
                "image": IMAGE,
                "bucket": "s3://iris-mlops/dvc",
                "manifest": str(project / "deploy" / "kubernetes" / "inferenceservice.yaml"),
                "deployment_mode": mode,
                "storage_uri": "s3://iris-models/bentos",
                "prometheus_url": cluster.url,
                "ingress_url": cluster.url,
                "timeout_seconds": 10,
                **settings,
            }
        )
        config = cfg.model_copy(
            update={"deploy": cfg.deploy.model_copy(update={"target": "kubernetes", "kubernetes": block})}
        )
        return kserve.KServeTarget(config, api_client=client.ApiClient(client.Configuration(host=cluster.url)))

    return made


def controller(ops, target, cluster, **policy):
    """The real Controller with a fake clock; each sleep is one interval of live traffic."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        cluster.serve(100)

    canary = ops.config.Canary(steps=[10, 50, 100], step_seconds=0, interval_seconds=1, min_requests=20, replay_rows=5)
    canary = canary.model_copy(update=policy)
    return ops.deploy.controller.Controller(target, canary, sample_rows=ROWS, clock=lambda: clock[0], sleep=sleep)


def validate(stored: list[dict], tmp_path: Path) -> None:
    """KServe's CRD schema (strict) on every InferenceService written, and the shares' range."""
    files = []
    for index, isvc in enumerate(stored):
        predictor = isvc["spec"]["predictor"]
        assert 0 <= predictor.get("canaryTrafficPercent", 0) <= 100
        assert all(0 <= canary["trafficPercent"] <= 100 for canary in isvc["spec"].get("canary") or [])
        files.append(tmp_path / f"isvc-{index:02d}.json")
        files[-1].write_text(json.dumps(isvc))
    check = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMA), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


# ---------------------------------------------------------------- pure parts


def test_the_shipped_manifest_is_plain_yaml_of_a_valid_inferenceservice(kserve, project, tmp_path):
    source = ROOT / "{{cookiecutter.project_slug}}" / "deploy" / "kubernetes" / "inferenceservice.yaml"
    assert not re.search(r"\{\{|\{%|\{#", source.read_text())  # nothing for Jinja to render
    assert (project / "deploy" / "kubernetes" / "inferenceservice.yaml").read_text() == source.read_text()
    module = ROOT / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}" / "ops" / "deploy"
    assert not re.search(r"\{\{|\{%|\{#", (module / "kserve.py").read_text())
    import yaml

    manifest = yaml.safe_load(source.read_text())
    manifest["metadata"].update(name=NAME, namespace=NS)
    validate([manifest], tmp_path)


def test_names_patches_and_windows(ops, kserve):
    release = kserve.Release(V2, "7")
    assert kserve.version_tag(release) == "v2bbb"
    with pytest.raises(kserve.TargetError, match="image tag"):
        kserve.version_tag(kserve.Release("iris:latest"))
    # {service}-{name}-predictor stays a 63-character DNS label, and distinct versions stay distinct
    long = "x" * 40
    names = {kserve.predictor_name(long, f"20261122{n:08d}abcdef") for n in range(50)}
    assert len(names) == 50 and all(len(f"{long}-{n}-predictor") <= 63 for n in names)
    assert all(re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", n) for n in names)
    assert kserve.predictor_name(NAME, "v2bbb") == "v-v2bbb"
    assert kserve.mode_of("Standard") == kserve.mode_of("RawDeployment") == kserve.STANDARD
    assert kserve.mode_of("Knative") == kserve.mode_of("Serverless") == kserve.KNATIVE
    live = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2], "gone": True}
    desired = {"a": 1, "b": {"c": 5, "d": 3}, "l": [1], "new": None}
    assert kserve.merge_patch(live, desired) == {"b": {"c": 5}, "l": [1], "gone": None, "new": None}
    assert merge(live, kserve.merge_patch(live, desired)) == {"a": 1, "b": {"c": 5, "d": 3}, "l": [1]}
    assert [kserve.canary_replicas(p, 4) for p in (0, 10, 50, 100)] == [1, 1, 2, 4]
    with pytest.raises(kserve.TargetError, match="minReplicas"):
        kserve.canary_replicas(10, 0)
    # Two windows' histograms add up to the one of their union: the merged p95 is exact.
    a = kserve.window(10, 1, {0.005: 8.0, 0.01: 10.0, math.inf: 10.0})
    b = kserve.window(30, 0, {0.005: 3.0, 0.01: 27.0, math.inf: 30.0})
    union = kserve.window(40, 1, {0.005: 11.0, 0.01: 37.0, math.inf: 40.0})
    merged = (
        importlib.import_module("cloud_targets.ops.deploy.policy")
        .merge(kserve.Observation(candidate=a), kserve.Observation(candidate=b))
        .candidate
    )
    assert (merged.requests, merged.errors, merged.latency, merged.p95_ms) == (
        union.requests,
        union.errors,
        union.latency,
        union.p95_ms,
    )


# ---------------------------------------------------------------- Serverless (Knative)


def test_serverless_first_deploy_promote_and_rollback_through_the_controller(ops, kserve, make, cluster, tmp_path):
    target = make()  # the manifest's mode: Serverless
    assert target.describe() == kserve.State(details={"isvc": f"{NS}/{NAME}"})  # no ISVC: nothing stable
    assert target.image(kserve.Release(V1)) == f"{IMAGE}:v1aaa"

    first = controller(ops, target, cluster).run(kserve.Release(V1, "1"))
    assert first.outcome == "first_deploy"
    assert next(e["method"] for e in cluster.log if e["kind"] == "kubernetes" and e["method"] != "GET") == "POST"
    created = cluster.stored[0]["spec"]["predictor"]
    assert created["canaryTrafficPercent"] == 0 and image_of(created) == f"{IMAGE}:v1aaa"
    assert created["annotations"]["mlops/bento"] == V1 and "mlops/stable-bento" not in created["annotations"]
    assert cluster.patches()[-1] == {"spec": {"predictor": {"canaryTrafficPercent": None}}}  # promoted
    state = target.describe()
    assert (state.stable, state.candidate, state.url) == (kserve.Release(V1, "1"), None, f"http://{NAME}.{DOMAIN}")

    start = len(cluster.log)
    began = time.perf_counter()
    result = controller(ops, make(), cluster).run(kserve.Release(V2, "2"))  # a new target: nothing cached
    seconds = time.perf_counter() - began
    assert (result.outcome, result.stable) == ("promoted", kserve.Release(V1, "1")), result.reason
    rollout = cluster.patches(start)
    candidate = rollout[0]["spec"]["predictor"]
    assert candidate["canaryTrafficPercent"] == 0 and image_of(candidate) == f"{IMAGE}:v2bbb"
    assert candidate["annotations"]["mlops/stable-bento"] == V1
    assert candidate["annotations"]["mlops/replaces"] == f"{NAME}-predictor-00001"
    assert rollout[1:] == [
        {"spec": {"predictor": {"canaryTrafficPercent": 10}}},
        {"spec": {"predictor": {"canaryTrafficPercent": 50}}},
        {"spec": {"predictor": {"canaryTrafficPercent": 100}}},
        {"spec": {"predictor": {"canaryTrafficPercent": None}}},
    ]
    assert all(e["type"] == "application/merge-patch+json" for e in cluster.log if e["method"] == "PATCH")
    assert result.rows[-1].verdict == "pass"
    replayed = [e for e in cluster.log[start:] if e["kind"] == "predict"]
    hosts = Counter(e["headers"]["Host"] for e in replayed)
    assert hosts[f"latest-{NAME}-predictor.{DOMAIN}"] and hosts[f"prev-{NAME}-predictor.{DOMAIN}"]
    calls = cluster.calls(start)
    print(f"\nServerless promote: {dict(calls)}; {len(result.rows)} checks, {seconds:.2f} s")
    print(f"controller time per step: {seconds / 3 * 1000:.0f} ms")
    # Per rollout: one read per step and before each change, one merge patch and one watch per change.
    assert (calls["GET isvc"], calls["PATCH isvc"], calls["watch"], calls["POST isvc"]) == (7, 5, 5, 0)
    state = target.describe()
    assert (state.stable, state.candidate) == (kserve.Release(V2, "2"), None)
    assert cluster.shares() == {f"{NAME}-predictor-00002": 100}

    start = len(cluster.log)
    failed = controller(ops, make(), cluster).run(kserve.Release(BAD, "3"))
    assert failed.outcome == "rolled_back" and "error rate" in failed.reason and "step 1 (10%)" in failed.reason
    assert cluster.patches(start)[-2:] == [  # the stable's spec back at 0 %, then the field dropped
        {
            "spec": {
                "predictor": {
                    "annotations": {
                        "mlops/bento": V2,
                        "mlops/version": "2",  # mlops/stable-* already name V2: unchanged, not sent
                        "mlops/replaces": f"{NAME}-predictor-00003",
                    },
                    "containers": cluster.stored[-2]["spec"]["predictor"]["containers"],
                }
            }
        },
        {"spec": {"predictor": {"canaryTrafficPercent": None}}},
    ]
    assert image_of(cluster.isvc["spec"]["predictor"]) == f"{IMAGE}:v2bbb"
    print(f"Serverless rollback: {dict(cluster.calls(start))}")
    state = target.describe()
    assert (state.stable, state.candidate, state.candidate_percent) == (kserve.Release(V2, "2"), None, 0)
    assert cluster.shares() == {f"{NAME}-predictor-00004": 100}  # a new revision of the stable image
    assert cluster.revisions[f"{NAME}-predictor-00004"] == f"{IMAGE}:v2bbb"
    validate(cluster.stored, tmp_path)


def test_serverless_rollback_from_100_percent_never_hands_the_candidate_traffic_back(kserve, make, cluster):
    target = make()
    target.deploy_candidate(kserve.Release(V1))
    target.set_traffic(100)
    target.promote()
    target.deploy_candidate(kserve.Release(BAD))
    for percent in (10, 50, 100):
        target.set_traffic(percent)
    assert cluster.shares() == {f"{NAME}-predictor-00002": 100}  # the candidate is the rolled-out revision now
    start, passes = len(cluster.log), len(cluster.passes)
    target.rollback()
    # Step 1 (canaryTrafficPercent 0 alone) lets KServe move latestRolledoutRevision back to the stable;
    # only then is the spec reverted. Reverting at once would keep the candidate at 100 %.
    # While the stable's new revision starts (minutes on a cluster), the candidate must already serve nothing.
    reverted = [shares for created, shares in cluster.passes[passes:] if created == f"{NAME}-predictor-00003"]
    assert reverted and all(f"{NAME}-predictor-00002" not in shares for shares in reverted), reverted
    assert cluster.patches(start)[0] == {"spec": {"predictor": {"canaryTrafficPercent": 0}}}
    assert cluster.shares() == {f"{NAME}-predictor-00003": 100}
    assert cluster.revisions[f"{NAME}-predictor-00003"] == f"{IMAGE}:v1aaa"
    assert target.describe().candidate is None and target.describe().stable == kserve.Release(V1)


def test_an_interrupted_first_deploy_is_removed_and_redone(ops, kserve, make, cluster):
    make().deploy_candidate(kserve.Release(V1))  # the job died before the smoke test passed
    state = make().describe()
    assert (state.stable, state.candidate) == (None, kserve.Release(V1))
    result = controller(ops, make(), cluster).run(kserve.Release(V1))
    assert result.outcome == "first_deploy" and result.reconciled
    assert [e["method"] for e in cluster.log if e["kind"] == "kubernetes"].count("DELETE") == 1  # nothing left
    assert [e["method"] for e in cluster.log if e["kind"] == "kubernetes"].count("POST") == 2
    assert make().describe().stable == kserve.Release(V1)


def test_mirroring_foreign_services_failures_and_undeploy(kserve, make, cluster):
    target = make()
    target.set_mirror(0)  # nothing to stop
    with pytest.raises(kserve.TargetError, match="no traffic mirroring"):
        target.set_mirror(10)
    with pytest.raises(kserve.TargetError, match="needs a candidate"):
        target.set_traffic(10)
    # An InferenceService mlops did not deploy (no mlops/bento): nothing stable, and left alone.
    foreign = json.loads(json.dumps(cluster.admit(_foreign(), None)))
    cluster.store(foreign)
    assert target.describe().stable is None and target.describe().details["managed"] is False
    with pytest.raises(kserve.TargetError, match="not deployed by mlops"):
        target.deploy_candidate(kserve.Release(V1))
    cluster.isvc = None
    # A candidate whose revision fails: the error names Knative's reason, and nothing is left behind.
    with pytest.raises(kserve.TargetError, match="RevisionFailed"):
        make(image="registry.example.com/team/broken").deploy_candidate(kserve.Release(V1))
    assert cluster.isvc is None
    target.deploy_candidate(kserve.Release(V1))
    target.set_traffic(100)
    target.promote()
    with pytest.raises(kserve.TargetError, match="RevisionFailed"):  # beside a stable: rolled back to it
        target.deploy_candidate(kserve.Release("iris:broken4"))
    state = target.describe()
    assert (state.stable, state.candidate) == (kserve.Release(V1), None)
    assert cluster.shares() == {f"{NAME}-predictor-00003": 100}  # 00002 (failed) -> a new stable revision
    assert cluster.revisions[f"{NAME}-predictor-00003"] == f"{IMAGE}:v1aaa"
    target.undeploy()
    assert cluster.isvc is None and target.describe().stable is None
    target.undeploy()  # idempotent
    # A mode the live object does not have is refused before any change (KServe cannot switch).
    target.deploy_candidate(kserve.Release(V1))
    with pytest.raises(kserve.TargetError, match="cannot switch"):
        make("RawDeployment").describe()


def _foreign() -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": NAME, "namespace": NS, "annotations": {"serving.kserve.io/deploymentMode": "Serverless"}},
        "spec": {"predictor": {"containers": [{"name": "kserve-container", "image": "someone/else:1"}]}},
    }


# ---------------------------------------------------------------- RawDeployment (Standard): spec.canary


def test_rawdeployment_first_deploy_promote_and_rollback_through_the_controller(ops, kserve, make, cluster, tmp_path):
    first = controller(ops, make("RawDeployment"), cluster).run(kserve.Release(V1, "1"))
    assert first.outcome == "first_deploy"
    created = cluster.stored[0]
    assert created["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"  # webhook's name
    assert created["spec"]["predictor"]["name"] == "v-v1aaa"
    assert storage_uri(created["spec"]["predictor"]) == "s3://iris-models/bentos/v1aaa"
    assert list(cluster.deployments) == [f"{NAME}-v-v1aaa-predictor"]

    target = make("RawDeployment")
    start = len(cluster.log)
    began = time.perf_counter()
    result = controller(ops, target, cluster).run(kserve.Release(V2, "2"))
    seconds = time.perf_counter() - began
    assert result.outcome == "promoted", result.reason
    patches = cluster.patches(start)
    canary = patches[0]["spec"]["canary"][0]
    assert set(patches[0]) == {"spec"} and set(patches[0]["spec"]) == {"canary"}  # the stable is not touched
    assert canary["trafficPercent"] == 0 and canary["predictor"]["name"] == "v-v2bbb"
    assert canary["predictor"]["minReplicas"] == 1 and "maxReplicas" not in canary["predictor"]
    assert image_of(canary["predictor"]) == f"{IMAGE}:v2bbb"
    assert [p["spec"]["canary"][0]["trafficPercent"] for p in patches[1:4]] == [10, 50, 100]
    promote = patches[4]["spec"]
    assert promote["canary"] is None and promote["predictor"]["name"] == "v-v2bbb"
    assert image_of(promote["predictor"]) == f"{IMAGE}:v2bbb"
    proxied = Counter(e["path"] for e in cluster.log[start:] if e["kind"] == "predict")
    assert proxied[f"/api/v1/namespaces/{NS}/services/{NAME}-v-v2bbb-predictor:80/proxy/predict"]  # candidate
    assert proxied[f"/api/v1/namespaces/{NS}/services/{NAME}-v-v1aaa-predictor:80/proxy/predict"]  # stable
    calls = cluster.calls(start)
    print(f"\nRawDeployment promote: {dict(calls)}; {len(result.rows)} checks, {seconds:.2f} s")
    print(f"controller time per step: {seconds / 3 * 1000:.0f} ms")
    assert (calls["GET isvc"], calls["PATCH isvc"], calls["watch"], calls["POST isvc"]) == (7, 5, 5, 0)
    assert list(cluster.deployments) == [f"{NAME}-v-v2bbb-predictor"]  # the old stable's Deployment is gone
    state = target.describe()
    assert (state.stable, state.candidate) == (kserve.Release(V2, "2"), None)

    start = len(cluster.log)
    failed = controller(ops, make("RawDeployment"), cluster).run(kserve.Release(BAD, "3"))
    assert failed.outcome == "rolled_back" and "step 1 (10%)" in failed.reason
    *_, to_zero, dropped = cluster.patches(start)  # the route first, then the canary's Deployment
    assert to_zero["spec"]["canary"][0]["trafficPercent"] == 0 and dropped == {"spec": {"canary": None}}
    print(f"RawDeployment rollback: {dict(cluster.calls(start))}")
    state = make("RawDeployment").describe()
    assert (state.stable, state.candidate) == (kserve.Release(V2, "2"), None)
    assert list(cluster.deployments) == [f"{NAME}-v-v2bbb-predictor"] and "canaryStatuses" not in cluster.status
    validate(cluster.stored, tmp_path)


def test_rawdeployment_needs_a_storage_uri_and_kserve_with_spec_canary(kserve, make, cluster):
    with pytest.raises(kserve.TargetError, match="storage_uri"):
        make("RawDeployment", storage_uri=None).deploy_candidate(kserve.Release(V1))
    assert cluster.isvc is None  # refused before any call
    target = make("RawDeployment")
    target.deploy_candidate(kserve.Release(V1))
    target.set_traffic(100)
    target.promote()
    cluster.prune_canary = True  # KServe < 0.20: the API server drops the unknown field silently
    with pytest.raises(kserve.TargetError, match="dropped spec.canary"):
        target.deploy_candidate(kserve.Release(V2))
    assert target.describe().candidate is None and target.describe().stable == kserve.Release(V1)


def test_observe_diffs_each_pods_counters_and_survives_restarts(kserve, make, cluster):
    target = make()
    target.deploy_candidate(kserve.Release(V1))
    target.set_traffic(100)
    target.promote()
    target.deploy_candidate(kserve.Release(V2))
    target.set_traffic(50)
    target.observe()  # the baseline
    cluster.serve(100)
    seen = target.observe()
    assert (seen.stable.requests, seen.candidate.requests) == (50, 50)
    assert seen.candidate.errors == 0 and seen.candidate.p95_ms == pytest.approx(4.75)
    assert dict(seen.candidate.latency) == {0.005: 50.0, 0.01: 50.0, 0.1: 50.0, math.inf: 50.0}
    stable_pod = cluster.pod(f"{NAME}-predictor-00001")
    cluster.counters[stable_pod] = {"codes": Counter(), "buckets": Counter()}  # the stable's container restarted
    cluster.serve(60)
    seen = target.observe()  # its counters dropped (50 -> 30): all 30 are new, not -20
    assert (seen.stable.requests, seen.candidate.requests) == (30, 30)
    assert dict(seen.stable.latency)[math.inf] == 30
    query = next(e for e in reversed(cluster.log) if e["kind"] == "prometheus")
    assert query["method"] == "GET"
