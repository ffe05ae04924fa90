"""The Vertex AI target (ops/deploy/vertex.py) driven through the real aiplatform_v1 REST clients.

A stateful stand-in of the Vertex AI and Cloud Monitoring REST APIs runs on 127.0.0.1 (werkzeug, which
pytest-httpserver brings): it keeps endpoints, deployed models, models and long-running operations
(each answers done:false, then done:true on its first poll), enforces Vertex's documented rules (a
split sums to 100 or is empty, a model with traffic cannot be undeployed, a deployed Model cannot be
deleted, an endpoint with models cannot be deleted), serves the dedicated endpoint's per-model
`invoke` route and answers timeSeries.list from traffic it derives from the current split.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

PROJECT, REGION = "demo-project", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{REGION}"
ENDPOINT_ID = "cancer-classifier"  # slug of the configured endpoint_name "Cancer_Classifier"
ENDPOINT = f"{PARENT}/endpoints/{ENDPOINT_ID}"
RATE = 200  # requests per metric sample at 100 % of the traffic
TYPES = "type.googleapis.com/google.cloud.aiplatform.v1."
METRIC = "aiplatform.googleapis.com/prediction/online/"
V1, V2, BAD = "cancer_classifier:v1aaa", "cancer_classifier:v2bbb", "cancer_classifier:badccc"
ROWS = [{"radius": float(i)} for i in range(20)]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Refused(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class StandIn:
    """Vertex AI + Cloud Monitoring, as far as the target uses them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        self.endpoints: dict[str, dict] = {}
        self.models: dict[str, dict] = {}
        self.operations: dict[str, dict] = {}
        self.calls: Counter = Counter()
        self.log: list[tuple[str, str, dict]] = []  # (kind, path, body)
        self.samples: list[dict] = []  # one per deployed model and generated end time
        self.generated: set[str] = set()
        self.behaviour = {  # bento -> error share, latency (ms), answer per row
            V1: (0.0, 4.0, 0),
            V2: (0.0, 5.0, 0),
            BAD: (0.5, 5.0, 0),
        }
        self.fail: dict[str, tuple[int, str]] = {}  # operation kind -> the error it ends with, once
        self.traffic = True
        self.ids = iter(range(1001, 2000))

    # ------------------------------------------------------------ HTTP

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            with self.lock:
                body = self.route(request)
            response = Response(json.dumps(body), content_type="application/json")
        except Refused as exc:
            error = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
            response = Response(json.dumps(error), status=exc.code, content_type="application/json")
        return response(environ, start_response)

    def route(self, request: Request) -> dict:
        path, method = request.path, request.method
        body = request.get_json(silent=True) or {}
        routes = [
            ("GET", r"/(?:v1|ui)/(.+/operations/[^/]+)", self.poll),
            ("POST", r"/v1/(projects/[^/]+/locations/[^/]+)/endpoints", self.create_endpoint),
            ("GET", r"/v1/(.+/endpoints/[^/:]+)", self.get_endpoint),
            ("PATCH", r"/v1/(.+/endpoints/[^/:]+)", self.patch_endpoint),
            ("DELETE", r"/v1/(.+/endpoints/[^/:]+)", self.delete_endpoint),
            ("POST", r"/v1/(.+/endpoints/[^/:]+):deployModel", self.deploy),
            ("POST", r"/v1/(.+/endpoints/[^/:]+):undeployModel", self.undeploy),
            ("POST", r"/v1/(.+/endpoints/[^/:]+)/deployedModels/([^/]+)/invoke/predict", self.invoke),
            ("POST", r"/v1/(projects/[^/]+/locations/[^/]+)/models:upload", self.upload),
            ("GET", r"/v1/(projects/[^/]+/locations/[^/]+)/models", self.list_models),
            ("GET", r"/v1/(.+/models/[^/:]+)", self.get_model),
            ("DELETE", r"/v1/(.+/models/[^/:]+)", self.delete_model),
            ("GET", r"/v3/projects/([^/]+)/timeSeries", self.time_series),
        ]
        for verb, pattern, handler in routes:
            if method == verb and (match := re.fullmatch(pattern, path)):
                kind = handler.__name__
                self.calls[kind] += 1
                self.log.append((kind, request.full_path, body))
                return handler(request, body, *match.groups())
        raise Refused(404, "NOT_FOUND", f"stand-in: no route {method} {path}")

    # ------------------------------------------------------------ long-running operations

    def start(self, kind: str, resource: str, finish) -> dict:
        name = f"{resource}/operations/{len(self.operations) + 1}"
        self.operations[name] = {"name": name, "done": False, "kind": kind, "finish": finish}
        return {"name": name, "done": False}

    def poll(self, request, body, name) -> dict:
        operation = self.operations[name]
        if not operation["done"]:
            operation["done"] = True
            if failure := self.fail.pop(operation["kind"], None):
                operation["error"] = {"code": failure[0], "message": failure[1]}
            else:
                operation["response"] = operation["finish"]()
        return {key: value for key, value in operation.items() if key not in ("kind", "finish")}

    # ------------------------------------------------------------ endpoints

    def endpoint(self, name: str) -> dict:
        if name not in self.endpoints:
            raise Refused(404, "NOT_FOUND", f"Endpoint `{name}` not found.")
        return self.endpoints[name]

    def create_endpoint(self, request, body, parent) -> dict:
        name = f"{parent}/endpoints/{request.args['endpointId']}"

        def finish() -> dict:
            self.endpoints[name] = {
                **body,
                "name": name,
                "deployedModels": [],
                "trafficSplit": {},
                "dedicatedEndpointDns": f"{request.args['endpointId']}.{REGION}-123.prediction.vertexai.goog",
                "createTime": _now(),
            }
            return {"@type": TYPES + "Endpoint", **self.endpoints[name]}

        return self.start("create_endpoint", name, finish)

    def get_endpoint(self, request, body, name) -> dict:
        return self.endpoint(name)

    def check_split(self, endpoint: dict, split: dict, extra: tuple = ()) -> dict:
        ids = {model["id"] for model in endpoint["deployedModels"]} | set(extra)
        if set(split) - ids:
            raise Refused(400, "INVALID_ARGUMENT", f"traffic split names unknown models {sorted(set(split) - ids)}")
        if split and sum(split.values()) != 100:
            raise Refused(400, "INVALID_ARGUMENT", f"traffic split {split} does not add up to 100")
        return {key: value for key, value in split.items() if value}

    def patch_endpoint(self, request, body, name) -> dict:
        endpoint = self.endpoint(name)
        for field in request.args["updateMask"].split(","):
            if field == "trafficSplit":
                endpoint["trafficSplit"] = self.check_split(endpoint, body.get("trafficSplit", {}))
            else:
                endpoint[field] = body.get(field, {})
        return endpoint

    def delete_endpoint(self, request, body, name) -> dict:
        if self.endpoint(name)["deployedModels"]:
            raise Refused(400, "FAILED_PRECONDITION", "Endpoint has deployed models; undeploy them first")
        return self.start("delete_endpoint", name, lambda: self.endpoints.pop(name) and {"@type": _EMPTY})

    def deploy(self, request, body, name) -> dict:
        endpoint = self.endpoint(name)
        split = body.get("trafficSplit", {})
        if split:
            self.check_split(endpoint, split, extra=("0",))
        deployed = {**body["deployedModel"], "id": str(next(self.ids))}
        if deployed["model"] not in self.models:
            raise Refused(400, "INVALID_ARGUMENT", f"Model {deployed['model']} does not exist")

        def finish() -> dict:
            deployed["createTime"] = _now()
            endpoint["deployedModels"].append(deployed)
            if split:
                endpoint["trafficSplit"] = {
                    (deployed["id"] if key == "0" else key): value for key, value in split.items() if value
                }
            return {"@type": TYPES + "DeployModelResponse", "deployedModel": deployed}

        return self.start("deploy", name, finish)

    def undeploy(self, request, body, name) -> dict:
        endpoint = self.endpoint(name)
        gone = body["deployedModelId"]
        if gone not in {model["id"] for model in endpoint["deployedModels"]}:
            raise Refused(404, "NOT_FOUND", f"deployed model {gone} not found")
        last = len(endpoint["deployedModels"]) == 1
        split = body.get("trafficSplit") or endpoint["trafficSplit"]
        if not last:
            split = self.check_split(endpoint, split)
            if split.get(gone):
                raise Refused(400, "FAILED_PRECONDITION", f"deployed model {gone} still has {split[gone]} % of traffic")

        def finish() -> dict:
            endpoint["deployedModels"] = [model for model in endpoint["deployedModels"] if model["id"] != gone]
            endpoint["trafficSplit"] = {} if last else split
            return {"@type": TYPES + "UndeployModelResponse"}

        return self.start("undeploy", name, finish)

    def invoke(self, request, body, name, deployed_id) -> dict:
        endpoint = self.endpoint(name)
        deployed = next((m for m in endpoint["deployedModels"] if m["id"] == deployed_id), None)
        if deployed is None:
            raise Refused(404, "NOT_FOUND", f"deployed model {deployed_id} not found")
        assert request.headers.get("X-Mlops-Synthetic") == "replay"
        errors, _, answer = self.behaviour[deployed["displayName"]]
        if errors >= 1:
            raise Refused(500, "INTERNAL", "model server error")
        return {"predictions": [answer] * len(body["rows"]), "model": deployed["displayName"]}

    # ------------------------------------------------------------ models

    def upload(self, request, body, parent) -> dict:
        name = f"{parent}/models/{body['modelId']}"

        def finish() -> dict:
            self.models[name] = {**body["model"], "name": name}
            return {"@type": TYPES + "UploadModelResponse", "model": name}

        return self.start("upload", name, finish)

    def get_model(self, request, body, name) -> dict:
        if name not in self.models:
            raise Refused(404, "NOT_FOUND", f"Model {name} not found")
        return self.models[name]

    def list_models(self, request, body, parent) -> dict:
        key, value = re.fullmatch(r'labels\.(\w+)="([^"]*)"', request.args["filter"]).groups()
        return {"models": [model for model in self.models.values() if model.get("labels", {}).get(key) == value]}

    def delete_model(self, request, body, name) -> dict:
        self.get_model(request, body, name)
        if any(m["model"] == name for e in self.endpoints.values() for m in e["deployedModels"]):
            raise Refused(400, "FAILED_PRECONDITION", f"Model {name} is deployed; undeploy it first")
        return self.start("delete_model", name, lambda: self.models.pop(name) and {"@type": _EMPTY})

    # ------------------------------------------------------------ Cloud Monitoring

    def time_series(self, request, body, project) -> dict:
        query = request.args["filter"]
        metric = re.search(r'metric\.type = "([^"]+)"', query).group(1)
        endpoint_id = re.search(r'resource\.labels\.endpoint_id = "([^"]+)"', query).group(1)
        start, end = request.args["interval.startTime"], request.args["interval.endTime"]
        if self.traffic and end not in self.generated:  # one sample per check (the three queries share its end)
            self.generated.add(end)
            self.sample(endpoint_id, start, end)
        series = []
        for sample in self.samples:
            if sample["endpoint_id"] == endpoint_id and start < sample["end"] <= end:
                series += self.points(metric, sample)
        return {"timeSeries": series}

    def sample(self, endpoint_id: str, start: str, end: str) -> None:
        endpoint = self.endpoints.get(f"{PARENT}/endpoints/{endpoint_id}", {"deployedModels": []})
        for deployed in endpoint["deployedModels"]:
            requests = RATE * endpoint["trafficSplit"].get(deployed["id"], 0) // 100
            if requests:
                errors, latency, _ = self.behaviour[deployed["displayName"]]
                self.add_sample(endpoint_id, deployed["id"], end, requests, round(requests * errors), latency)

    def add_sample(self, endpoint_id, deployed_id, end, requests, errors, latency_ms) -> None:
        self.samples.append(
            {"endpoint_id": endpoint_id, "id": deployed_id, "end": end, "requests": requests, "errors": errors}
            | {"latency": latency_ms}
        )

    def points(self, metric: str, sample: dict) -> list[dict]:
        resource = {"type": "aiplatform.googleapis.com/Endpoint", "labels": {"endpoint_id": sample["endpoint_id"]}}
        interval = {"startTime": sample["end"], "endTime": sample["end"]}

        def series(labels: dict, value: dict) -> dict:
            labels = {"deployed_model_id": sample["id"], **labels}
            metric_part = {"type": metric, "labels": labels}
            return {"metric": metric_part, "resource": resource, "points": [{"interval": interval, "value": value}]}

        if metric == METRIC + "prediction_count":
            return [series({}, {"int64Value": str(sample["requests"])})]
        if metric == METRIC + "error_count":
            return [series({}, {"int64Value": str(sample["errors"])})] if sample["errors"] else []
        total = _distribution(sample["requests"], sample["latency"])
        model = _distribution(sample["requests"], 0.5)  # the model's own share: not what the gate reads
        return [series({"latency_type": "total"}, total), series({"latency_type": "model"}, model)]


_EMPTY = "type.googleapis.com/google.protobuf.Empty"


def _distribution(count: int, latency_ms: float) -> dict:
    """All `count` requests in the exponential bucket (scale 1 ms, growth 2) holding `latency_ms`."""
    bucket = max(0, math.floor(math.log2(latency_ms)) + 1)
    counts = ["0"] * bucket + [str(count)]
    options = {"exponentialBuckets": {"numFiniteBuckets": 20, "growthFactor": 2, "scale": 1}}
    return {"distributionValue": {"count": str(count), "bucketOptions": options, "bucketCounts": counts}}


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def standin():
    vertex = StandIn()
    server = make_server("127.0.0.1", 0, vertex, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    vertex.url = f"http://127.0.0.1:{server.server_port}"
    yield vertex
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def vertex(standin):
    standin.reset()
    return standin


@pytest.fixture(scope="module")
def ops(baked_ops):
    return baked_ops


@pytest.fixture(scope="module")
def mod(ops):
    return importlib.import_module("cloud_targets.ops.deploy.vertex")


@pytest.fixture(scope="module")
def config(ops):
    config = ops.config
    project = Path(ops.__file__).parents[3]
    loaded = config.load_config(project / "mlops.yaml")
    gcp = config.GcpTarget(
        project=PROJECT,
        region=REGION,
        workload_identity_provider="projects/1/locations/global/workloadIdentityPools/github/providers/github",
        service_account=f"deploy@{PROJECT}.iam.gserviceaccount.com",
        endpoint_name="Cancer_Classifier",
        bucket="demo-mlops",
        repository="models",
    )
    return loaded.model_copy(update={"deploy": loaded.deploy.model_copy(update={"target": "gcp", "gcp": gcp})})


@pytest.fixture
def make_target(mod, config, standin):
    from google.api_core.future.polling import DEFAULT_POLLING
    from google.auth.credentials import AnonymousCredentials

    fast = DEFAULT_POLLING.with_delay(initial=0.01, maximum=0.05, multiplier=1.5)

    def make():
        return mod.VertexTarget(
            config,
            credentials=AnonymousCredentials(),
            api_endpoint=standin.url,
            monitoring_endpoint=standin.url,
            predict_endpoint=standin.url,
            polling=fast,
        )

    return make


@pytest.fixture
def controller(ops):
    controller = importlib.import_module("cloud_targets.ops.deploy.controller")

    def make(target, **policy):
        canary = ops.config.Canary(
            **{"steps": [10, 50, 100], "step_seconds": 0, "interval_seconds": 0.01, "replay_rows": 5} | policy
        )
        return controller.Controller(target, canary, sample_rows=ROWS, sleep=lambda seconds: None)

    return make


def _release(ops, bento: str, version: str):
    return importlib.import_module("cloud_targets.ops.deploy.target").Release(bento, version)


def _bodies(vertex: StandIn, kind: str) -> list[dict]:
    return [body for logged, _, body in vertex.log if logged == kind]


def _deployed(vertex: StandIn) -> dict[str, str]:
    """deployed model id -> bento on the endpoint."""
    return {m["id"]: m["displayName"] for m in vertex.endpoints[ENDPOINT]["deployedModels"]}


def _first_deploy(vertex, make_target, controller, ops) -> str:
    result = controller(make_target()).run(_release(ops, V1, "1"))
    assert result.outcome == "first_deploy", result
    (stable_id,) = _deployed(vertex)
    return stable_id


# ---------------------------------------------------------------- pure parts


def test_names_and_image(mod, make_target, ops):
    assert mod.slug("Cancer_Classifier") == "cancer-classifier"
    assert mod.slug("9lives") == "m-9lives"
    ids = {mod.model_id("Model:V1"), mod.model_id("model:v1")}
    assert len(ids) == 2  # lower-casing alone would merge them: the hash keeps tags apart
    assert all(re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", each) for each in ids)
    assert len(mod.model_id("x" * 200 + ":v1")) <= 63
    target = make_target()
    assert target.image(_release(ops, V1, "1")) == f"{REGION}-docker.pkg.dev/{PROJECT}/models/cancer_classifier:v1aaa"
    with pytest.raises(ops.errors.MlopsError, match="no version"):
        target.image(_release(ops, "cancer_classifier", None))


def test_distribution_buckets(mod):
    exponential = {"bucketOptions": {"exponentialBuckets": {"numFiniteBuckets": 3, "growthFactor": 2, "scale": 1}}}
    assert mod.buckets(exponential | {"bucketCounts": ["1", "2", "3", "4", "5"]}) == [
        (1, 1),
        (2, 2),
        (4, 3),
        (8, 4),
        (math.inf, 5),
    ]
    linear = {"bucketOptions": {"linearBuckets": {"numFiniteBuckets": 2, "width": 10, "offset": 0}}}
    assert mod.buckets(linear | {"bucketCounts": ["0", "7"]}) == [(0, 0), (10, 7)]  # trailing zeros left out
    explicit = {"bucketOptions": {"explicitBuckets": {"bounds": [5, 50]}}, "bucketCounts": ["90", "9", "1"]}
    assert mod.buckets(explicit) == [(5, 90), (50, 9), (math.inf, 1)]
    window = mod.window(100, 1, dict(mod.buckets(explicit)))
    assert window.latency[-1] == (math.inf, 100.0)
    assert 5 < window.p95_ms < 50  # the 95th request is in the 5-50 ms bucket


# ---------------------------------------------------------------- describe, first deploy


def test_describe_without_endpoint_then_with_an_empty_one(vertex, make_target):
    target = make_target()
    state = target.describe()
    assert state.stable is None and state.candidate is None and state.details["exists"] is False
    vertex.endpoints[ENDPOINT] = {"name": ENDPOINT, "deployedModels": [], "trafficSplit": {}}
    state = target.describe()
    assert state.stable is None and state.candidate is None and state.candidate_percent == 0
    assert vertex.calls["get_endpoint"] == 2


def test_first_deploy_creates_the_endpoint_and_labels_the_stable(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)

    (create,) = [path for kind, path, _ in vertex.log if kind == "create_endpoint"]
    assert f"endpointId={ENDPOINT_ID}" in create
    assert _bodies(vertex, "create_endpoint") == [
        {"displayName": "Cancer_Classifier", "dedicatedEndpointEnabled": True}
    ]
    (upload,) = _bodies(vertex, "upload")
    spec = upload["model"]["containerSpec"]
    assert spec["imageUri"] == f"{REGION}-docker.pkg.dev/{PROJECT}/models/cancer_classifier:v1aaa"
    assert spec["invokeRoutePrefix"] == "/*" and spec["healthRoute"] == "/readyz" and "predictRoute" not in spec
    assert upload["model"]["labels"] == {
        "mlops_endpoint": ENDPOINT_ID,
        "mlops_bento": "cancer_classifier",
        "mlops_bento_version": "v1aaa",
        "mlops_model_version": "1",
    }
    (deploy,) = _bodies(vertex, "deploy")
    assert "trafficSplit" not in deploy  # no stable: the first model waits at 0 % (an empty split)
    assert deploy["deployedModel"]["displayName"] == V1
    assert deploy["deployedModel"]["dedicatedResources"]["machineSpec"] == {"machineType": "n1-standard-2"}
    smoke = [path for kind, path, _ in vertex.log if kind == "invoke"]
    assert smoke and all(f"/deployedModels/{stable_id}/invoke/predict" in path for path in smoke)
    patches = _bodies(vertex, "patch_endpoint")
    assert [p["trafficSplit"] for p in patches] == [{stable_id: 100}, {stable_id: 100}]
    assert patches[1]["labels"] == {"mlops_stable": stable_id}  # promote names the stable on the platform
    # Every operation answered done:false first: three LROs (create, upload, deploy), each polled once.
    assert vertex.calls["poll"] == 3 and all(op["done"] for op in vertex.operations.values())

    state = make_target().describe()  # a new process sees the same thing
    assert state.stable == _release(ops, V1, "1") and state.candidate is None
    assert state.url == f"{vertex.url}/v1/{ENDPOINT}/invoke/predict"


# ---------------------------------------------------------------- rollouts through the real controller


def test_canary_promotes_through_the_controller(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)
    before = Counter(vertex.calls)
    log_start = len(vertex.log)
    checks: list[float] = []
    target = make_target()
    run = controller(target)
    run.on_check = lambda rollout: checks.append(time.perf_counter())
    started = time.perf_counter()
    result = run.run(_release(ops, V2, "2"))
    elapsed = time.perf_counter() - started

    assert result.outcome == "promoted", result
    assert [row.percent for row in result.rows] == [10, 50, 100]
    assert all(row.verdict == "pass" and row.agreement == 1.0 for row in result.rows)
    assert [row.requests for row in result.rows] == [20, 100, 200]  # candidate share of RATE per check
    rollout = vertex.log[log_start:]
    (deploy,) = [body for kind, _, body in rollout if kind == "deploy"]
    assert deploy["trafficSplit"] == {"0": 0, stable_id: 100}
    (candidate_id,) = set(_deployed(vertex))
    patches = [body for kind, _, body in rollout if kind == "patch_endpoint"]
    assert [p["trafficSplit"] for p in patches] == [
        {stable_id: 90, candidate_id: 10},
        {stable_id: 50, candidate_id: 50},
        {candidate_id: 100},
        {candidate_id: 100},
    ]
    assert patches[-1]["labels"] == {"mlops_stable": candidate_id}
    assert [body for kind, _, body in rollout if kind == "undeploy"] == [
        {"deployedModelId": stable_id, "trafficSplit": {candidate_id: 100}}
    ]
    assert list(vertex.models) == [f"{PARENT}/models/{_model_id(ops, V2)}"]  # the old Model is deleted
    assert make_target().describe().stable == _release(ops, V2, "2")

    calls = vertex.calls - before
    assert calls["deploy"] == calls["upload"] == calls["undeploy"] == calls["delete_model"] == 1
    assert calls["patch_endpoint"] == 4 and calls["time_series"] == 3 * (1 + len(result.rows))
    steps = [b - a for a, b in zip([started, *checks], checks, strict=False)]
    print(
        f"\nVertex promote: {sum(calls.values())} API calls {dict(sorted(calls.items()))}; "
        f"{elapsed:.2f} s, {sum(steps) / len(steps) * 1000:.0f} ms of controller time per step (stand-in)"
    )


def test_canary_rolls_back_a_failing_candidate(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)
    before, log_start = Counter(vertex.calls), len(vertex.log)
    result = controller(make_target()).run(_release(ops, BAD, "3"))

    assert result.outcome == "rolled_back" and "error rate" in result.reason and "step 1 (10%)" in result.reason
    rollout = vertex.log[log_start:]
    candidate_id = str(int(stable_id) + 1)
    assert [body["trafficSplit"] for kind, _, body in rollout if kind == "patch_endpoint"] == [
        {stable_id: 90, candidate_id: 10},
        {stable_id: 100},  # rollback: all traffic to stable before the (slow) undeploy
    ]
    assert [body for kind, _, body in rollout if kind == "undeploy"] == [
        {"deployedModelId": candidate_id, "trafficSplit": {stable_id: 100}}
    ]
    assert _deployed(vertex) == {stable_id: V1}
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {stable_id: 100}
    assert list(vertex.models) == [f"{PARENT}/models/{_model_id(ops, V1)}"]  # no candidate Model left
    state = make_target().describe()
    assert state.stable == _release(ops, V1, "1") and state.candidate is None
    calls = vertex.calls - before
    assert calls["deploy"] == calls["undeploy"] == calls["delete_model"] == 1
    print(f"\nVertex rollback: {sum(calls.values())} API calls {dict(sorted(calls.items()))}")


def _model_id(ops, bento: str) -> str:
    return importlib.import_module("cloud_targets.ops.deploy.vertex").model_id(bento)


# ---------------------------------------------------------------- operations, errors, metrics


def test_a_failed_deploy_operation_is_an_error_and_leaves_nothing(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)
    vertex.fail["deploy"] = (8, "The following quota metrics exceed quota limits: custom_model_serving_cpus")
    target = make_target()
    with pytest.raises(ops.errors.MlopsError) as raised:
        target.deploy_candidate(_release(ops, V2, "2"))
    message = str(raised.value)
    assert message.startswith("gcp: deploy model cancer_classifier:v2bbb: ") and "quota" in message
    assert "\n" not in message
    assert _deployed(vertex) == {stable_id: V1}  # stable untouched
    assert list(vertex.models) == [f"{PARENT}/models/{_model_id(ops, V1)}"]  # the uploaded Model is deleted


def test_deploy_candidate_is_idempotent_and_refuses_mirroring(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)
    target = make_target()
    target.deploy_candidate(_release(ops, V2, "2"))
    target.deploy_candidate(_release(ops, V2, "2"))
    assert vertex.calls["deploy"] == 2  # the first deploy's and one more
    state = target.describe()
    assert state.candidate == _release(ops, V2, "2") and state.candidate_percent == 0
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {stable_id: 100}
    with pytest.raises(ops.errors.MlopsError, match="no traffic mirroring"):
        target.set_mirror(10)
    target.set_mirror(0)
    with pytest.raises(ops.errors.MlopsError, match="0-100"):
        target.set_traffic(101)


def test_predict_sends_the_service_body_to_one_deployed_model(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)
    target = make_target()
    target.deploy_candidate(_release(ops, BAD, "3"))
    candidate_id = next(i for i, bento in _deployed(vertex).items() if bento == BAD)
    vertex.behaviour[BAD] = (0.0, 5.0, 1)
    assert target.predict(ROWS[:3], "stable") == [0, 0, 0]
    assert target.predict(ROWS[:3], "candidate") == [1, 1, 1]
    invoked = [(path, body) for kind, path, body in vertex.log if kind == "invoke"][-2:]
    assert [path.split("?")[0] for path, _ in invoked] == [
        f"/v1/{ENDPOINT}/deployedModels/{stable_id}/invoke/predict",
        f"/v1/{ENDPOINT}/deployedModels/{candidate_id}/invoke/predict",
    ]
    assert invoked[0][1] == {"rows": ROWS[:3]}
    vertex.behaviour[BAD] = (1.0, 5.0, 1)
    with pytest.raises(ops.errors.MlopsError, match="candidate .* answered 500"):
        target.predict(ROWS[:3], "candidate")


def test_observe_counts_each_point_once_and_reads_total_latency(vertex, make_target, controller, ops):
    stable_id = _first_deploy(vertex, make_target, controller, ops)
    target = make_target()
    target.deploy_candidate(_release(ops, V2, "2"))
    candidate_id = next(i for i, bento in _deployed(vertex).items() if bento == V2)
    target.set_traffic(50)
    first = target.observe()  # since the candidate started: one sample
    assert (first.stable.requests, first.candidate.requests) == (100, 100)
    assert 4 <= first.candidate.p95_ms <= 8  # the 4-8 ms bucket of the "total" series, not "model" (< 1 ms)
    vertex.traffic = False
    late = _now()  # a point that will show up late (Cloud Monitoring: up to 180 s), ending now
    again = target.observe()
    assert again.stable.requests == again.candidate.requests == 0  # nothing new: nothing counted twice
    vertex.add_sample(ENDPOINT_ID, candidate_id, late, 7, 1, 300.0)
    seen = target.observe()
    assert (seen.candidate.requests, seen.candidate.errors, seen.stable.requests) == (7, 1, 0)
    assert seen.candidate.p95_ms > 200
    assert target.observe().candidate.requests == 0
    assert stable_id != candidate_id


def test_undeploy_removes_every_resource(vertex, make_target, controller, ops):
    _first_deploy(vertex, make_target, controller, ops)
    target = make_target()
    target.deploy_candidate(_release(ops, V2, "2"))
    # An interrupted deploy's Model: uploaded, never deployed.
    orphan = f"{PARENT}/models/orphan"
    vertex.models[orphan] = {"name": orphan, "labels": {"mlops_endpoint": ENDPOINT_ID}}
    target.undeploy()
    assert vertex.endpoints == {} and vertex.models == {}
    assert target.describe().stable is None
    target.undeploy()  # idempotent: nothing left to remove
    target.rollback()
