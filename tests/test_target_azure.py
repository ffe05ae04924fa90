"""The Azure ML target (ops/deploy/azureml.py) driving the real MLClient against a stateful fake of Azure.

No Azure account: a `requests` transport adapter mounted on https:// answers what azure-ai-ml, the
Azure Monitor metrics REST API and the endpoint's scoring URI would (ARM endpoints, deployments,
environments, operation status, deletes with Location, listKeys, metrics per deployment, /score).
It keeps the resources it was sent, so every assertion reads what the real SDK actually sent and the
state that results: deployments created and deleted, the traffic and mirror_traffic of every endpoint
PUT, the metrics queries, the controller's outcome. Operations answer `retry-after-ms: 1`, so the SDK's
pollers do not sleep their 30 s; the clock of the target and the controller is a fake one.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import pytest
import requests
import urllib3
from requests.adapters import BaseAdapter, HTTPAdapter

pytestmark = pytest.mark.filterwarnings("ignore")  # marshmallow's deprecation warnings from azure-ai-ml

SUB, RG, WS = "sub-1", "rg-1", "ws-1"
REGION = "westeurope"
ENDPOINT = "cancer-ep"
ARM = "management.azure.com"
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
EP_PATH = f"{WS_PATH}/onlineEndpoints/{ENDPOINT}"
T0 = 1_790_000_040.0  # a whole minute (epoch seconds)
V1, V2 = "cancer_classifier:aaa111", "cancer_classifier:bbb222"
ROWS = [{"mean_radius": 10.0 + i} for i in range(8)]


class Credential:
    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("token-for-" + ",".join(scopes), int(time.time()) + 3600)


class Clock:
    """The controller's and the target's time: sleeping moves it on at once."""

    def __init__(self) -> None:
        self.now = T0 + 5

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeAzure(BaseAdapter):
    """ARM, Azure Monitor and the scoring URI, with state. `calls`: (method, host, path, query, body,
    headers) of every request. Traffic model for the metrics: `rpm` live requests a minute split by the
    endpoint's current traffic (mirrored ones reach the mirror's deployment too); a deployment's share of
    5xx and its p95 come from `errors` and `p95`."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []
        self.endpoints: dict[str, dict] = {}
        self.deployments: dict[str, dict] = {}  # of ENDPOINT, by name
        self.environments: dict[tuple[str, str], dict] = {}
        self.operations: dict[str, dict] = {}
        self.rpm = 200
        self.errors: dict[str, float] = {}  # deployment -> share of 500 answers
        self.p95: dict[str, float] = {}
        self.fail: dict[tuple[str, str], dict] = {}  # (method, deployment) -> error body, once
        self.failed_deployment: str | None = None  # its PUT's operation ends Failed

    def close(self) -> None:
        pass

    # ---------------------------------------------------------------- plumbing

    def send(self, request, **kwargs):
        url = urllib.parse.urlsplit(request.url)
        body = json.loads(request.body) if request.body else None
        query = {key: values[0] for key, values in urllib.parse.parse_qs(url.query).items()}
        self.calls.append((request.method, url.hostname, url.path, query, body, dict(request.headers)))
        try:
            return self._route(request, url, query, body)
        except KeyError as missing:
            return self._answer(
                request, 404, {"error": {"code": "ResourceNotFound", "message": f"{missing} not found"}}
            )

    def _answer(self, request, status: int, body=None, headers=None):
        content = b"" if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json", "retry-after-ms": "1", **(headers or {})}
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(content), headers=headers, status=status, preload_content=False, decode_content=False
        )
        return HTTPAdapter().build_response(request, raw)

    def _operation(self, request, status: int, body, outcome: dict, header: str = "Azure-AsyncOperation"):
        name = f"op-{len(self.calls)}"
        self.operations[name] = outcome
        return self._answer(request, status, body, {header: f"https://{ARM}/operations/{name}"})

    def _route(self, request, url, query, body):
        path = url.path
        if url.hostname.endswith(".inference.ml.azure.com"):
            return self._score(request, body)
        if path.startswith("/operations/"):
            return self._answer(request, 200, self.operations[path.rpartition("/")[2]])
        if path.endswith("/providers/Microsoft.Insights/metrics"):
            return self._answer(request, 200, self._metrics(path, query))
        if path == WS_PATH:
            registry = (
                f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries/wsacr1"
            )
            return self._answer(
                request,
                200,
                {"id": WS_PATH, "name": WS, "location": REGION, "properties": {"containerRegistry": registry}},
            )
        if match := re.fullmatch(WS_PATH + r"/environments/([^/]+)/versions/([^/]+)", path):
            self.environments[match.groups()] = body
            return self._answer(request, 200, {**body, "id": path, "name": match.group(2)})
        if path == EP_PATH or path.startswith(EP_PATH + "/"):
            return self._endpoint(request, path[len(EP_PATH) :], body)
        raise KeyError(path)

    # ---------------------------------------------------------------- resources

    def _endpoint(self, request, rest: str, body):
        method = request.method
        if rest == "" and method == "GET":
            return self._answer(request, 200, self.endpoints[ENDPOINT])
        if rest == "" and method == "PUT":
            properties = {
                **body["properties"],
                "provisioningState": "Succeeded",
                "scoringUri": f"https://{ENDPOINT}.{REGION}.inference.ml.azure.com/score",
            }
            self.endpoints[ENDPOINT] = {**body, "id": EP_PATH, "name": ENDPOINT, "properties": properties}
            return self._operation(request, 201, self.endpoints[ENDPOINT], {"status": "Succeeded"})
        if rest == "" and method == "DELETE":
            self.endpoints.pop(ENDPOINT)
            self.deployments.clear()
            return self._operation(request, 202, None, {"status": "Succeeded"}, header="Location")
        _ = self.endpoints[ENDPOINT]  # no endpoint: 404 for everything below it
        if rest == "/listKeys" and method == "POST":
            return self._answer(request, 200, {"primaryKey": "key-1", "secondaryKey": "key-2"})
        if rest == "/deployments" and method == "GET":
            return self._answer(request, 200, {"value": list(self.deployments.values())})
        if not (match := re.fullmatch(r"/deployments/([^/]+)", rest)):
            raise KeyError(rest)
        name = match.group(1)
        if error := self.fail.pop((method, name), None):
            return self._answer(request, error["status"], {"error": error})
        if method == "GET":
            return self._answer(request, 200, self.deployments[name])
        if method == "PUT":
            failed = name == self.failed_deployment
            properties = {
                **body["properties"],
                "scaleSettings": {"scaleType": "Default"},
                "provisioningState": "Failed" if failed else "Succeeded",
            }
            self.deployments[name] = {
                **body,
                "id": f"{EP_PATH}/deployments/{name}",
                "name": name,
                "properties": properties,
            }
            error = {"code": "ImagePullFailure", "message": f"{name}: the image could not be pulled"}
            outcome = {"status": "Failed", "error": error} if failed else {"status": "Succeeded"}
            return self._operation(request, 201, self.deployments[name], outcome)
        if method == "DELETE":
            _ = self.deployments[name]
            if self._shares().get(name):
                message = f"deployment {name} has traffic"
                return self._answer(request, 400, {"error": {"code": "BadRequest", "message": message}})
            del self.deployments[name]
            return self._operation(request, 202, None, {"status": "Succeeded"}, header="Location")
        raise KeyError(rest)

    def _shares(self) -> dict[str, int]:
        properties = self.endpoints.get(ENDPOINT, {}).get("properties", {})
        return {**(properties.get("traffic") or {}), **(properties.get("mirrorTraffic") or {})}

    # ---------------------------------------------------------------- data plane

    def _score(self, request, body):
        name = request.headers.get("azureml-model-deployment")
        if name not in self.deployments:
            return self._answer(request, 404, {"message": f"no deployment {name}"})
        if self.errors.get(name, 0) >= 1:
            return self._answer(request, 500, {"message": "model failed"})
        return self._answer(request, 200, {"predictions": [0] * len(body["rows"]), "model": name})

    def _metrics(self, path: str, query: dict) -> dict:
        name = re.search(r"/deployments/([^/]+)/providers/", path).group(1)
        start, end = (_epoch(each) for each in query["timespan"].split("/"))
        properties = self.endpoints[ENDPOINT]["properties"]
        requests_per_minute = (
            self.rpm
            * ((properties.get("traffic") or {}).get(name, 0) + (properties.get("mirrorTraffic") or {}).get(name, 0))
            / 100
        )
        minutes = [_stamp(minute) for minute in range(int(start), int(end), 60)]
        if query["metricnames"] == "RequestsPerMinute":
            failed = round(requests_per_minute * self.errors.get(name, 0))
            codes = {"200": requests_per_minute - failed, "500": failed}
            series = [
                {
                    "metadatavalues": [{"name": {"value": "envoy_response_code"}, "value": code}],
                    "data": [{"timeStamp": minute, "average": count} for minute in minutes],
                }
                for code, count in codes.items()
                if count
            ]
        else:
            latency = self.p95.get(name, 20.0) if requests_per_minute else None
            series = [{"metadatavalues": [], "data": [{"timeStamp": minute, "average": latency} for minute in minutes]}]
        return {"value": [{"name": {"value": query["metricnames"]}, "unit": "Count", "timeseries": series}]}

    # ---------------------------------------------------------------- what the tests read

    def endpoint_puts(self) -> list[tuple[dict, dict, dict]]:
        """(traffic, mirrorTraffic, tags) of every endpoint PUT, in order."""
        return [
            (body["properties"].get("traffic"), body["properties"].get("mirrorTraffic"), body.get("tags"))
            for method, host, path, _, body, _ in self.calls
            if method == "PUT" and path == EP_PATH
        ]

    def deleted(self) -> list[str]:
        return [path.rpartition("/")[2] for method, _, path, *_ in self.calls if method == "DELETE"]

    def counts(self) -> Counter:
        """Requests by kind: ARM reads and writes, operation polls, metrics queries, scoring calls."""
        kinds = Counter()
        for method, host, path, *_ in self.calls:
            if host.endswith(".inference.ml.azure.com"):
                kinds["scoring"] += 1
            elif path.endswith("/Microsoft.Insights/metrics"):
                kinds["metrics"] += 1
            elif path.startswith("/operations/"):
                kinds["arm poll"] += 1
            else:
                kinds["arm read" if method == "GET" else "arm write"] += 1
        return kinds


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def _stamp(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ops(baked_ops):
    import importlib

    importlib.import_module("cloud_targets.ops.deploy.azureml")
    importlib.import_module("cloud_targets.ops.deploy.controller")
    return baked_ops


@pytest.fixture(scope="module")
def base_config(ops):
    project = Path(ops.__file__).parents[3]  # src/cloud_targets/ops/__init__.py
    config = ops.config.load_config(project / "mlops.yaml")
    settings = ops.config.AzureTarget(
        subscription_id=SUB,
        resource_group=RG,
        workspace=WS,
        client_id="00000000-0000-0000-0000-000000000001",
        tenant_id="00000000-0000-0000-0000-000000000002",
        endpoint_name=ENDPOINT,
        storage_account="cancerclassifiermlops",
        container="dvc",
        metrics_delay_seconds=60,
    )
    return config.model_copy(update={"deploy": config.deploy.model_copy(update={"target": "azure", "azure": settings})})


@pytest.fixture
def fake() -> FakeAzure:
    return FakeAzure()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_target(ops, base_config, fake, clock):
    from azure.core.pipeline.transport import RequestsTransport

    def make(**settings):
        config = base_config
        if settings:
            azure = config.deploy.azure.model_copy(update=settings)
            config = config.model_copy(update={"deploy": config.deploy.model_copy(update={"azure": azure})})
        session = requests.Session()
        session.mount("https://", fake)
        transport = RequestsTransport(session=session)
        return ops.deploy.azureml.AzureMLTarget(config, credential=Credential(), transport=transport, clock=clock)

    return make


@pytest.fixture
def target(make_target):
    return make_target()


def release(ops, bento: str, version: str):
    return ops.deploy.target.Release(bento, version)


def controller(ops, target, clock, **policy):
    canary = {"steps": [10, 50, 100], "step_seconds": 60, "interval_seconds": 60, "min_requests": 20, "replay_rows": 4}
    return ops.deploy.controller.Controller(
        target, ops.config.Canary(**{**canary, **policy}), sample_rows=ROWS, clock=clock, sleep=clock.sleep
    )


@pytest.fixture
def stable(ops, target, fake, clock):
    """V1 deployed as stable by a first deploy; the calls it made are forgotten."""
    result = controller(ops, target, clock).run(release(ops, V1, "1"))
    assert result.outcome == "first_deploy"
    fake.calls.clear()
    return target


# -------------------------------------------------------------------- tests


def test_nothing_deployed_is_no_stable(ops, target, fake):
    assert target.describe().stable is None  # no endpoint yet
    fake.endpoints[ENDPOINT] = {
        "id": EP_PATH,
        "name": ENDPOINT,
        "location": REGION,
        "properties": {"authMode": "Key", "provisioningState": "Succeeded", "traffic": {}},
    }
    state = target.describe()  # an endpoint declared before any model
    assert (state.stable, state.candidate, state.details["deployments"]) == (None, None, {})
    target.rollback()  # nothing to roll back: no change
    assert not [call for call in fake.calls if call[0] != "GET"]


def test_first_deploy_creates_the_endpoint_and_an_image_deployment(ops, target, fake, clock):
    result = controller(ops, target, clock).run(release(ops, V1, "1"))

    assert result.outcome == "first_deploy"
    created = next(body for method, _, path, _, body, _ in fake.calls if method == "PUT" and path == EP_PATH)
    assert created["properties"]["authMode"] == "Key"
    # The image-only environment (no blob upload anywhere): the bento's image in the workspace's ACR.
    environment = fake.environments[("cancer_classifier", "aaa111")]["properties"]
    assert environment["image"] == "wsacr1.azurecr.io/cancer_classifier:aaa111"
    assert environment["inferenceConfig"]["scoringRoute"] == {"port": 3000, "path": "/predict"}
    assert environment["inferenceConfig"]["readinessRoute"] == {"port": 3000, "path": "/readyz"}
    assert not [call for call in fake.calls if "blob" in call[1] or "/datastores" in call[2]]
    deployment = fake.deployments["v-aaa111"]
    assert deployment["tags"] == {"mlops-bento": V1, "mlops-version": "1"}
    assert deployment["properties"]["environmentId"].endswith("/environments/cancer_classifier/versions/aaa111")
    assert deployment["properties"]["instanceType"] == "Standard_DS3_v2"
    assert deployment["properties"]["requestSettings"]["maxConcurrentRequestsPerInstance"] == 8
    # Smoke test on the candidate, straight to its deployment, with the endpoint's key.
    scoring = [call for call in fake.calls if call[1].endswith(".inference.ml.azure.com")]
    assert scoring and all(call[5]["azureml-model-deployment"] == "v-aaa111" for call in scoring)
    assert scoring[0][5]["Authorization"] == "Bearer key-1" and scoring[0][4] == {"rows": ROWS[:5]}
    # Traffic 100, then the stable tag: what describe() reads back.
    assert fake.endpoint_puts()[1:] == [
        ({"v-aaa111": 100}, {}, {}),
        ({"v-aaa111": 100}, {}, {"mlops-stable": "v-aaa111"}),
    ]
    state = target.describe()
    assert state.stable == release(ops, V1, "1") and state.candidate is None
    assert state.url == f"https://{ENDPOINT}.{REGION}.inference.ml.azure.com/score"
    print(f"\nfirst deploy: {dict(fake.counts())}")


def test_controller_promotes_a_healthy_candidate(ops, stable, fake, clock):
    started = time.perf_counter()
    result = controller(ops, stable, clock).run(release(ops, V2, "2"))
    elapsed = time.perf_counter() - started

    assert result.outcome == "promoted", result.reason
    assert [put[0] for put in fake.endpoint_puts()] == [
        {"v-bbb222": 10, "v-aaa111": 90},
        {"v-bbb222": 50, "v-aaa111": 50},
        {"v-bbb222": 100},  # the SDK drops the 0 of the old stable
        {"v-bbb222": 100},  # promote: the stable tag moves, the old stable is marked retiring
    ]
    assert fake.endpoint_puts()[-1][2] == {"mlops-stable": "v-bbb222", "mlops-retiring": "v-aaa111"}
    assert fake.deleted() == ["v-aaa111"] and set(fake.deployments) == {"v-bbb222"}
    state = stable.describe()
    assert (state.stable, state.candidate) == (release(ops, V2, "2"), None)
    # The gates judged Azure Monitor's per-deployment figures: 10 % of 200 requests a minute, p95 20 ms.
    judged = [row for row in result.rows if row.verdict == "pass"]
    assert judged[0].percent == 10 and judged[0].requests == 20 and judged[0].p95_ms == 20.0
    counts = fake.counts()
    print(f"\npromote rollout: {dict(counts)}, {len(result.rows)} checks, {elapsed / len(result.rows):.3f} s a check")
    assert counts["arm write"] == 7  # environment, deployment, 4 endpoint PUTs, 1 delete
    assert counts["metrics"] == 4 * sum(1 for row in result.rows if row.requests)  # 2 metrics x 2 deployments


def test_controller_rolls_back_a_failing_candidate(ops, stable, fake, clock):
    fake.errors["v-bbb222"] = 0.3  # 30 % of its answers are 500s (in Azure Monitor)

    result = controller(ops, stable, clock).run(release(ops, V2, "2"))

    assert result.outcome == "rolled_back"
    assert "error rate" in result.reason and "step 1 (10%)" in result.reason
    assert [put[:2] for put in fake.endpoint_puts()] == [
        ({"v-bbb222": 10, "v-aaa111": 90}, {}),
        ({"v-aaa111": 100}, {}),  # all traffic to stable, mirror off, in one PUT ...
    ]
    assert fake.deleted() == ["v-bbb222"]  # ... then the candidate deleted: nothing billable left
    assert set(fake.deployments) == {"v-aaa111"}
    state = stable.describe()
    assert (state.stable, state.candidate, state.candidate_percent) == (release(ops, V1, "1"), None, 0)
    print(f"\nrollback rollout: {dict(fake.counts())}, {len(result.rows)} checks")


def test_shadow_mirrors_at_most_half_then_canaries(ops, stable, fake, clock):
    result = controller(ops, stable, clock, mode="shadow-then-canary", shadow_seconds=60, shadow_percent=100).run(
        release(ops, V2, "2")
    )

    assert result.outcome == "promoted", result.reason
    puts = fake.endpoint_puts()
    assert puts[0][:2] == ({"v-aaa111": 100}, {"v-bbb222": 50})  # Azure's cap, not the 100 asked
    assert puts[1][:2] == ({"v-aaa111": 100}, {})  # mirror off before live traffic
    assert puts[2][:2] == ({"v-bbb222": 10, "v-aaa111": 90}, {})
    shadow = [row for row in result.rows if row.phase == "shadow" and row.requests]
    assert shadow and shadow[0].requests == 100  # the mirrored half of 200 a minute


def test_observe_counts_each_settled_minute_once(ops, stable, fake, clock):
    stable.deploy_candidate(release(ops, V2, "2"))
    stable.set_traffic(50)
    assert stable.observe() == ops.deploy.target.Observation()  # the window starts at the next minute
    fake.calls.clear()
    clock.sleep(90)  # that minute has ended, but Azure Monitor has not settled it yet
    assert stable.observe().candidate.requests == 0 and fake.counts()["metrics"] == 0
    fake.errors["v-bbb222"] = 0.1
    fake.p95["v-bbb222"] = 80.0
    clock.sleep(180)  # now two whole minutes are 60 s old: settled

    seen = stable.observe()

    assert (seen.candidate.requests, seen.candidate.errors, seen.candidate.p95_ms) == (200, 20, 80.0)
    assert (seen.stable.requests, seen.stable.errors, seen.stable.p95_ms) == (200, 0, 20.0)
    queries = [call[3] for call in fake.calls if call[2].endswith("/metrics")]
    assert len(queries) == 4
    start = _stamp(ops.deploy.azureml.minute_floor(T0 + 5) + 60)
    assert {query["timespan"] for query in queries} == {f"{start}/{_stamp(T0 + 180)}"}
    assert {(query["metricnames"], query.get("$filter")) for query in queries} == {
        ("RequestsPerMinute", "envoy_response_code eq '*'"),
        ("RequestLatency_P95", None),
    }
    assert all(query["interval"] == "PT1M" and query["aggregation"] == "Average" for query in queries)
    metrics_call = next(call for call in fake.calls if call[2].endswith("/metrics"))
    assert metrics_call[5]["Authorization"] == "Bearer token-for-https://management.azure.com/.default"
    assert stable.observe().candidate.requests == 0  # nothing counted twice


def test_a_failed_deployment_is_removed_and_named(ops, stable, fake):
    fake.failed_deployment = "v-bbb222"

    with pytest.raises(ops.deploy.target.TargetError, match=r"azure: create deployment v-bbb222 failed: .*pulled"):
        stable.deploy_candidate(release(ops, V2, "2"))

    assert fake.deleted() == ["v-bbb222"] and set(fake.deployments) == {"v-aaa111"}
    assert stable.describe().candidate is None


def test_an_interrupted_promote_is_finished_not_reversed(ops, stable, fake):
    stable.deploy_candidate(release(ops, V2, "2"))
    stable.set_traffic(100)
    fake.fail[("DELETE", "v-aaa111")] = {"status": 409, "code": "Conflict", "message": "operation in progress"}

    with pytest.raises(
        ops.deploy.target.TargetError, match="delete deployment v-aaa111 failed: Conflict: operation in progress$"
    ):
        stable.promote()
    state = stable.describe()  # the new stable is stable; the old one is on its way out, not a candidate
    assert (state.stable, state.candidate, state.details["retiring"]) == (release(ops, V2, "2"), None, ["v-aaa111"])

    stable.promote()  # idempotent: finishes the deletes

    assert set(fake.deployments) == {"v-bbb222"} and stable.describe().details["retiring"] == []
    stable.deploy_candidate(release(ops, V1, "1"))  # the retired release comes back as a candidate
    assert stable.describe().candidate == release(ops, V1, "1")


def test_a_new_candidate_replaces_another_one(ops, stable, fake):
    stable.deploy_candidate(release(ops, V2, "2"))
    stable.set_traffic(10)
    stable.deploy_candidate(release(ops, "cancer_classifier:ccc333", "3"))

    assert fake.deleted() == ["v-bbb222"] and set(fake.deployments) == {"v-aaa111", "v-ccc333"}
    state = stable.describe()
    assert (state.candidate.bento, state.candidate_percent) == ("cancer_classifier:ccc333", 0)
    assert fake.endpoints[ENDPOINT]["properties"]["traffic"] == {"v-aaa111": 100}


def test_predict_reaches_one_side_and_names_failures(ops, stable, fake):
    stable.deploy_candidate(release(ops, V2, "2"))
    assert stable.predict(ROWS[:2], "stable") == [0, 0]
    assert fake.calls[-1][5]["azureml-model-deployment"] == "v-aaa111"
    assert fake.calls[-1][5]["X-Mlops-Synthetic"] == "replay"  # never captured as client traffic
    fake.errors["v-bbb222"] = 1.0
    with pytest.raises(ops.deploy.target.TargetError, match=r"candidate \(v-bbb222\) answered 500"):
        stable.predict(ROWS[:2], "candidate")
    stable.rollback()
    with pytest.raises(ops.deploy.target.TargetError, match="no candidate deployment"):
        stable.predict(ROWS[:2], "candidate")


def test_aad_token_endpoints_are_called_with_an_ml_token(ops, make_target, fake, clock):
    target = make_target(auth_mode="aad_token")
    controller(ops, target, clock).run(release(ops, V1, "1"))
    assert fake.endpoints[ENDPOINT]["properties"]["authMode"] == "AADToken"
    scoring = [call for call in fake.calls if call[1].endswith(".inference.ml.azure.com")]
    assert scoring[0][5]["Authorization"] == "Bearer token-for-https://ml.azure.com/.default"
    assert not [call for call in fake.calls if call[2].endswith("/listKeys")]


def test_image_goes_to_the_configured_or_the_workspace_registry(ops, make_target):
    assert make_target().image(release(ops, V1, "1")) == "wsacr1.azurecr.io/cancer_classifier:aaa111"
    target = make_target(registry="mlopsacr", repository="models/cancer")
    assert target.image(release(ops, V1, "1")) == "mlopsacr.azurecr.io/models/cancer:aaa111"
    with pytest.raises(ops.deploy.target.TargetError, match="no version"):
        target.image(release(ops, "cancer_classifier", None))


def test_platform_errors_are_one_line_target_errors(ops, stable, fake):
    with pytest.raises(ops.deploy.target.TargetError, match="azure: set_traffic needs a candidate"):
        stable.set_traffic(10)
    fake.fail[("PUT", "v-bbb222")] = {"status": 403, "code": "AuthorizationFailed", "message": "not\nallowed"}
    with pytest.raises(ops.deploy.target.TargetError, match=r"^azure: create deployment v-bbb222 failed") as caught:
        stable.deploy_candidate(release(ops, V2, "2"))
    assert str(caught.value) == "azure: create deployment v-bbb222 failed: AuthorizationFailed: not allowed"


def test_undeploy_deletes_the_endpoint(ops, stable, fake):
    stable.undeploy()
    assert fake.endpoints == {} and fake.deployments == {}
    assert stable.describe().stable is None
    stable.undeploy()  # again: nothing to delete
    assert fake.deleted() == [ENDPOINT]
