"""The AWS target (ops/deploy/sagemaker.py) with real boto3 clients against moto on 127.0.0.1.

One in-process moto server per module (reset before each test); AWS_ENDPOINT_URL points every client
at it, as a user's environment would point them at AWS. moto 5.2.5 lacks `update_endpoint` (500): a
test-only handler below switches the endpoint to the named config, as SageMaker does once its new
instances are up. What moto cannot show (SageMaker's silent rollback of an update, a model's error
answer) is driven through botocore's Stubber, which checks each call against the service model.
The real Controller runs a promote and a rollback, its gates fed by CloudWatch data points the test
writes with put_metric_data; API calls are counted with botocore `before-call` hooks.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config as BotoConfig
from botocore.stub import ANY, Stubber
from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/cloud-targets-deploy"
MODEL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cloud-targets-model"
ENDPOINT = "cloud-targets"
NS = "AWS/SageMaker"


def _update_endpoint(self: SageMakerResponse) -> ActionResult:
    """UpdateEndpoint for moto: the endpoint takes the new config's variants (weights, counts)."""
    backend = self.sagemaker_backend
    name, config_name = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    backend.describe_endpoint(name)  # ValidationException when absent, as SageMaker answers
    config = backend.describe_endpoint_config(config_name)
    endpoint = backend.endpoints[name]
    endpoint.endpoint_config_name = config_name
    endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
    return ActionResult({"EndpointArn": endpoint.arn})


@pytest.fixture(scope="module")
def moto_url():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


@pytest.fixture(autouse=True)
def aws_env(moto_url, monkeypatch, tmp_path):
    """Every boto3 client of the test talks to a clean moto, with dummy keys and no user profile."""
    for key, value in {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    _post(f"{moto_url}/moto-api/reset", {})


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="module")
def mod(baked_ops):
    from cloud_targets.ops.deploy import sagemaker

    return sagemaker


@pytest.fixture(scope="module")
def ops_config(baked_ops):
    from cloud_targets.ops import config

    return config


@pytest.fixture(scope="module")
def project(baked_ops) -> Path:
    return Path(baked_ops.__file__).parents[3]


@pytest.fixture
def make_config(ops_config, project):
    def make(**overrides):
        base = ops_config.load_config(project / "mlops.yaml")
        fields = {
            "region": REGION,
            "role_arn": ROLE,
            "endpoint_name": ENDPOINT,
            "bucket": "cloud-targets-mlops",
            "execution_role_arn": MODEL_ROLE,
            "latency_statistic": "Maximum",  # moto has no percentiles
            "max_attempts": 1,  # moto answers what it lacks with 500: no retries
            "poll_seconds": 0.01,
        }
        block = ops_config.AwsTarget(**{**fields, **overrides})
        return base.model_copy(update={"deploy": base.deploy.model_copy(update={"target": "aws", "aws": block})})

    return make


@pytest.fixture
def target(mod, make_config):
    return mod.SageMakerTarget(make_config())


@pytest.fixture
def sm():
    return boto3.client("sagemaker", config=BotoConfig(retries={"max_attempts": 1}))


@pytest.fixture
def cw():
    return boto3.client("cloudwatch", config=BotoConfig(retries={"max_attempts": 1}))


@pytest.fixture
def releases(mod):
    return mod.Release("cloud_targets:aaaa1111bbbb2222", "1"), mod.Release("cloud_targets:cccc3333dddd4444", "2")


class Calls:
    """API calls the target's clients make (botocore `before-call`: once per call, waiter polls included)."""

    def __init__(self, target) -> None:
        self.counts: Counter = Counter()
        for client in (target.sagemaker, target.runtime, target.cloudwatch):
            client.meta.events.register("before-call", self._count)

    def _count(self, event_name: str, **kwargs) -> None:
        self.counts[event_name.split(".")[2]] += 1

    def take(self) -> Counter:
        counts, self.counts = self.counts, Counter()
        return counts


def _names(sm) -> tuple[list[str], list[str], list[str]]:
    return (
        sorted(e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]),
        sorted(c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]),
        sorted(m["ModelName"] for m in sm.list_models()["Models"]),
    )


def _weights(sm) -> dict[str, float]:
    variants = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]
    return {v["VariantName"]: v.get("CurrentWeight", 0.0) for v in variants}


def _first_deploy(target, release) -> None:
    target.deploy_candidate(release)
    target.set_traffic(100)
    target.promote()


# ---------------------------------------------------------------- names, config


def test_image_and_names_follow_the_config(mod, make_config, releases):
    first, _ = releases
    target = mod.SageMakerTarget(make_config())
    assert target.image(first) == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{ENDPOINT}:aaaa1111bbbb2222"
    other = mod.SageMakerTarget(make_config(repository="team/models", region="cn-north-1"))
    assert other.image(first) == f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn/team/models:aaaa1111bbbb2222"
    variant = target.variant_name(first)
    assert re.fullmatch(r"vaaaa1111bbbb2222-[0-9a-f]{6}", variant)
    assert target.model_name(first) == f"{ENDPOINT}-{variant}"
    longest = mod.SageMakerTarget(make_config(endpoint_name="e" * 50))
    assert len(longest.model_name(mod.Release("x:" + "v" * 80))) <= 63
    with pytest.raises(mod.TargetError, match="no version"):
        target.image(mod.Release("cloud_targets"))


def test_config_check_names_missing_and_invalid_fields(ops_config, project, tmp_path):
    raw = yaml.safe_load((project / "mlops.yaml").read_text())
    raw["deploy"].update(target="aws", aws={"region": REGION, "bucket": "b", "endpoint_name": "has_underscore"})
    path = tmp_path / "mlops.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ops_config.ConfigError) as caught:
        ops_config.load_config(path)
    message = str(caught.value)
    assert "deploy.aws.role_arn: Field required" in message
    assert "deploy.aws.endpoint_name: String should match pattern" in message


# ---------------------------------------------------------------- lifecycle on moto


def test_first_deploy_creates_the_endpoint_then_promote_keeps_it(target, sm, releases):
    first, _ = releases
    empty = target.describe()
    assert empty.stable is None and empty.candidate is None and empty.details["status"] == "absent"

    target.deploy_candidate(first)
    state = target.describe()
    assert state.stable is None and state.candidate == first and state.candidate_percent == 100  # its only variant
    model = sm.describe_model(ModelName=target.model_name(first))
    assert model["PrimaryContainer"]["Image"] == target.image(first)
    assert model["PrimaryContainer"]["Environment"]["PORT"] == "8080"
    assert model["ExecutionRoleArn"] == MODEL_ROLE

    _, configs, _ = _names(sm)
    target.set_traffic(100)
    target.promote()
    state = target.describe()
    assert state.stable == first and state.candidate is None and state.candidate_percent == 0
    assert state.url.endswith(f"/endpoints/{ENDPOINT}/invocations")
    # No second config nor new instances for the first promote: the config only lost its candidate tag.
    assert _names(sm) == ([ENDPOINT], configs, [target.model_name(first)])
    target.promote()  # idempotent
    assert target.describe().stable == first


def test_candidate_beside_stable_steps_weights_and_is_idempotent(target, sm, releases):
    first, second = releases
    _first_deploy(target, first)
    calls = Calls(target)
    target.deploy_candidate(second)
    state = target.describe()
    assert state.stable == first and state.candidate == second and state.candidate_percent == 0
    config = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    variants = sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in variants] == [
        (target.variant_name(first), 1.0),
        (target.variant_name(second), 0.0),
    ]
    calls.take()
    target.deploy_candidate(second)  # already there: reads only
    assert set(calls.take()) == {"DescribeEndpoint", "DescribeEndpointConfig", "ListTags"}
    for percent in (10, 50, 100):
        target.set_traffic(percent)
        assert target.describe().candidate_percent == percent
    assert _weights(sm) == {target.variant_name(first): 0.0, target.variant_name(second): 1.0}
    calls.take()
    target.set_traffic(100)  # already there: no update
    assert "UpdateEndpointWeightsAndCapacities" not in calls.take()


def test_rollback_leaves_stable_alone_and_nothing_of_the_candidate(target, sm, releases):
    first, second = releases
    _first_deploy(target, first)
    target.deploy_candidate(second)
    target.set_traffic(50)
    target.rollback()
    state = target.describe()
    assert state.stable == first and state.candidate is None
    assert _weights(sm) == {target.variant_name(first): 1.0}
    endpoints, configs, models = _names(sm)
    assert endpoints == [ENDPOINT] and models == [target.model_name(first)]
    assert configs == [sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]]
    target.rollback()  # no candidate: a no-op


def test_failed_first_deploy_rollback_deletes_the_endpoint(target, sm, releases):
    first, _ = releases
    target.deploy_candidate(first)
    target.rollback()
    assert _names(sm) == ([], [], [])
    assert target.describe().stable is None


def test_a_failed_first_deploy_is_replaced_on_the_next_try(target, sm, releases):
    """The endpoint of a first deploy went Failed (e.g. the container never answered /ping): deploying the
    same release again deletes it and starts over, instead of calling it 'already there'."""
    from moto.sagemaker.models import sagemaker_backends

    first, _ = releases
    target.deploy_candidate(first)
    endpoint = sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT]
    endpoint.endpoint_status, endpoint.failure_reason = (
        "Failed",
        "The primary container did not pass the ping health check",
    )
    assert target.describe().details["failure_reason"].startswith("The primary container")
    target.deploy_candidate(first)
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    assert target.describe().candidate == first


def test_undeploy_removes_only_this_endpoints_resources(target, sm, releases):
    first, second = releases
    _first_deploy(target, first)
    target.deploy_candidate(second)
    # Another endpoint's model whose name starts with ours must survive.
    other = f"{ENDPOINT}-2-vabc-123456"
    sm.create_model(ModelName=other, ExecutionRoleArn=MODEL_ROLE, PrimaryContainer={"Image": "x"})
    target.undeploy()
    assert _names(sm) == ([], [], [other])
    target.undeploy()  # nothing left: still fine


def test_an_endpoint_mlops_did_not_create_is_refused(target, sm, mod):
    sm.create_model(ModelName="hand-made", ExecutionRoleArn=MODEL_ROLE, PrimaryContainer={"Image": "x"})
    variant = {"VariantName": "AllTraffic", "ModelName": "hand-made", "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName="hand-made", ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="hand-made")
    with pytest.raises(mod.TargetError, match=r"variants \['AllTraffic'\] .* mlops did not create"):
        target.describe()


def test_set_mirror_is_refused_but_zero_is_a_no_op(target, mod):
    target.set_mirror(0)
    with pytest.raises(mod.TargetError, match="does not mirror"):
        target.set_mirror(10)


# ---------------------------------------------------------------- CloudWatch


def _put(cw, variant: str, requests: int, errors: int = 0, latency_us: float = 5000.0, at: datetime | None = None):
    """One variant's minute as SageMaker publishes it: counts and ModelLatency in microseconds."""
    at = at or datetime.now(UTC)
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
    data = [
        {"MetricName": "Invocations", "Value": requests, "Unit": "None"},
        {"MetricName": "Invocation5XXErrors", "Value": errors, "Unit": "None"},
        {"MetricName": "ModelLatency", "Value": latency_us, "Unit": "Microseconds"},
    ]
    cw.put_metric_data(Namespace=NS, MetricData=[{**d, "Dimensions": dims, "Timestamp": at} for d in data])


def test_observe_returns_what_each_minute_gained_since_the_last_call(target, cw, releases):
    first, second = releases
    _first_deploy(target, first)
    target.deploy_candidate(second)
    target.set_traffic(50)
    stable, candidate = target.variant_name(first), target.variant_name(second)
    _put(cw, stable, 30, 0, 4000)
    _put(cw, candidate, 20, 2, 9000)
    seen = target.observe()  # the first call: everything in the lookback
    assert (seen.stable.requests, seen.stable.errors, seen.stable.p95_ms) == (30, 0, 4.0)
    assert (seen.candidate.requests, seen.candidate.errors, seen.candidate.p95_ms) == (20, 2, 9.0)

    _put(cw, candidate, 10, 1, 12000)
    _put(cw, stable, 5, 0, 3000, at=datetime.now(UTC) - timedelta(minutes=3))  # a late point of an older minute
    seen = target.observe()
    assert (seen.candidate.requests, seen.candidate.errors, seen.candidate.p95_ms) == (10, 1, 12.0)
    assert (seen.stable.requests, seen.stable.errors, seen.stable.p95_ms) == (5, 0, 3.0)

    seen = target.observe()  # nothing new
    assert (seen.stable.requests, seen.candidate.requests, seen.candidate.p95_ms) == (0, 0, None)


def test_percentile_statistics_reach_cloudwatch_as_configured(mod, make_config, releases):
    """p95 is the default; moto has no percentiles, so the call fails here (hence Maximum in these tests)."""
    target = mod.SageMakerTarget(make_config(latency_statistic="p95"))
    _first_deploy(target, releases[0])
    _put(boto3.client("cloudwatch"), target.variant_name(releases[0]), 10)
    with pytest.raises(mod.TargetError, match="get_metric_data for endpoint cloud-targets"):
        target.observe()


# ---------------------------------------------------------------- predict


def test_predict_sends_the_service_body_to_one_variant(target, moto_url, releases, make_config, mod):
    first, _ = releases
    target.deploy_candidate(first)
    variant = target.variant_name(first)
    rows = [
        dict.fromkeys(list(make_config().data.columns)[:3], 1.5),
        dict.fromkeys(list(make_config().data.columns)[:3], 2.5),
    ]
    answer = {"predictions": [1, 0], "model": "cloud_targets:x", "request_id": "r1"}
    queued = [
        {"Body": json.dumps(answer), "ContentType": "application/json", "InvokedProductionVariant": variant},
        {"Body": "<html>busy</html>", "ContentType": "text/html", "InvokedProductionVariant": variant},
    ]
    _post(f"{moto_url}/moto-api/static/sagemaker/endpoint-results", {"results": queued})
    sent = []
    target.runtime.meta.events.register(
        "before-send.sagemaker-runtime.InvokeEndpoint", lambda request, **_: sent.append(request)
    )

    assert target.predict(rows, "candidate") == [1, 0]
    request = sent[0]
    assert request.url.endswith(f"/endpoints/{ENDPOINT}/invocations")
    assert request.headers["X-Amzn-SageMaker-Target-Variant"] == variant.encode()
    assert request.headers["Content-Type"] == b"application/json"
    assert json.loads(request.body) == {"rows": rows}  # POST /predict's body (ops/serving/schema.py)

    # Each new request takes moto's next queued answer: a body that is not the service's is refused...
    with pytest.raises(mod.TargetError, match=r"answered no predictions: b'<html>busy</html>'"):
        target.predict(rows[:1], "candidate")
    # ...and so is moto's canned default, which names another variant than the one asked.
    with pytest.raises(mod.TargetError, match=f"asked variant {variant}, invoked_production_variant answered"):
        target.predict(rows[1:], "candidate")
    with pytest.raises(mod.TargetError, match="no stable variant"):
        target.predict(rows, "stable")


def test_predict_names_the_models_error(target, releases, mod):
    target.deploy_candidate(releases[0])
    with Stubber(target.runtime) as stub:
        stub.add_client_error(
            "invoke_endpoint",
            service_error_code="ModelError",
            service_message="Received server error (500) from primary with message ...",
            http_status_code=424,
        )
        with pytest.raises(mod.TargetError, match=r"invoke_endpoint on endpoint cloud-targets: ModelError: Received"):
            target.predict([{"a": 1}], "candidate")


# ---------------------------------------------------------------- the silent-rollback trap (Stubber)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _endpoint(config: str, weights: dict[str, float], status: str = "InService") -> dict:
    variants = [{"VariantName": name, "CurrentWeight": w, "DesiredWeight": w} for name, w in weights.items()]
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
        "EndpointConfigName": config,
        "ProductionVariants": variants,
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }


def _config(name: str, variants: list[tuple[str, str, float]]) -> dict:
    return {
        "EndpointConfigName": name,
        "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{name}",
        "ProductionVariants": [
            {
                "VariantName": v,
                "ModelName": m,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": w,
            }
            for v, m, w in variants
        ],
        "CreationTime": NOW,
    }


def _tags(releases: dict[str, object], candidate: str | None = None) -> dict:
    tags = [{"Key": f"mlops:bento:{v}", "Value": r.bento} for v, r in releases.items()]
    tags += [{"Key": "mlops:candidate", "Value": candidate}] if candidate else []
    return {"Tags": tags}


def _read(stub, config: dict, endpoint: dict, tags: dict) -> None:
    stub.add_response("describe_endpoint", endpoint, {"EndpointName": ENDPOINT})
    stub.add_response("describe_endpoint_config", config, {"EndpointConfigName": config["EndpointConfigName"]})
    stub.add_response("list_tags", tags, {"ResourceArn": config["EndpointConfigArn"]})


def test_weights_that_silently_revert_are_detected(target, releases, mod):
    first, second = releases
    stable, candidate = target.variant_name(first), target.variant_name(second)
    old = {stable: 1.0, candidate: 0.0}
    config = _config(f"{ENDPOINT}-c0000000001", [(stable, "m1", 1.0), (candidate, "m2", 0.0)])
    with Stubber(target.sagemaker) as stub:
        _read(
            stub,
            config,
            _endpoint(config["EndpointConfigName"], old),
            _tags({stable: first, candidate: second}, candidate),
        )
        desired = [{"VariantName": candidate, "DesiredWeight": 0.1}, {"VariantName": stable, "DesiredWeight": 0.9}]
        stub.add_response(
            "update_endpoint_weights_and_capacities",
            {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/cloud-targets"},
            {"EndpointName": ENDPOINT, "DesiredWeightsAndCapacities": desired},
        )
        stub.add_response("describe_endpoint", _endpoint(config["EndpointConfigName"], old))  # the waiter: InService
        stub.add_response("describe_endpoint", _endpoint(config["EndpointConfigName"], old))  # the read-back
        with pytest.raises(mod.TargetError) as caught:
            target.set_traffic(10)
        stub.assert_no_pending_responses()
    message = str(caught.value)
    assert f"expected config {ENDPOINT}-c0000000001 with weights {stable}=0.9, {candidate}=0.1" in message
    assert f"found {ENDPOINT}-c0000000001 with {stable}=1, {candidate}=0, status InService" in message


def test_an_update_silently_rolled_back_is_detected_and_cleaned_up(target, releases, mod):
    """update_endpoint 'succeeds', the endpoint is InService, but on its old config: the target says so
    and deletes the candidate's config and model (rollback finds no candidate on the endpoint)."""
    first, second = releases
    stable = target.variant_name(first)
    old_model, new_model = target.model_name(first), target.model_name(second)
    old = _config(f"{ENDPOINT}-c0000000001", [(stable, old_model, 1.0)])
    endpoint = _endpoint(old["EndpointConfigName"], {stable: 1.0})
    with Stubber(target.sagemaker) as stub:
        _read(stub, old, endpoint, _tags({stable: first}))
        stub.add_response("create_model", {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{new_model}"})
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": "arn:aws:sagemaker:::endpoint-config/new"})
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": endpoint["EndpointArn"]},
            {"EndpointName": ENDPOINT, "EndpointConfigName": ANY},
        )
        stub.add_response("describe_endpoint", endpoint)  # the waiter: InService...
        stub.add_response("describe_endpoint", endpoint)  # ...on the old config
        _read(stub, old, endpoint, _tags({stable: first}))  # rollback: no candidate on the endpoint
        orphan = f"{ENDPOINT}-cffffffffff"  # ours, unused: stands for the config the update did not keep
        listed = [
            {
                "EndpointConfigName": n,
                "EndpointConfigArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/{n}",
                "CreationTime": NOW,
            }
            for n in (old["EndpointConfigName"], orphan)
        ]
        stub.add_response("list_endpoint_configs", {"EndpointConfigs": listed}, {"NameContains": ENDPOINT})
        stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": orphan})
        models = [
            {"ModelName": n, "ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{n}", "CreationTime": NOW}
            for n in (old_model, new_model)
        ]
        stub.add_response("list_models", {"Models": models}, {"NameContains": ENDPOINT})
        stub.add_response("delete_model", {}, {"ModelName": new_model})
        with pytest.raises(mod.TargetError) as caught:
            target.deploy_candidate(second)
        stub.assert_no_pending_responses()
    found = re.search(
        rf"update_endpoint on endpoint {ENDPOINT} did not take: expected config ({ENDPOINT}-c[0-9a-f]{{10}})",
        str(caught.value),
    )
    assert found and found.group(1) != old["EndpointConfigName"]
    assert f"found {old['EndpointConfigName']} with {stable}=1" in str(caught.value)


# ---------------------------------------------------------------- the real controller on moto


class Traffic:
    """The controller's clock and sleep: each interval, live traffic lands in CloudWatch as SageMaker
    would publish it, split by the endpoint's current weights (read with the test's own client)."""

    def __init__(self, sm, cw, bad_variant: str | None = None, per_interval: int = 200) -> None:
        self.sm, self.cw, self.bad, self.per_interval = sm, cw, bad_variant, per_interval
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        weights = _weights(self.sm)
        total = sum(weights.values())
        for variant, weight in weights.items():
            requests = round(self.per_interval * weight / total)
            if requests:
                errors = requests // 4 if variant == self.bad else 0
                _put(self.cw, variant, requests, errors, latency_us=6000)


def _timed(target) -> dict[str, list[float]]:
    """Wall time of each target call the controller makes (moto answers at once: this is our overhead)."""
    times: dict[str, list[float]] = {}
    for name in ("deploy_candidate", "set_traffic", "observe", "promote", "rollback"):
        method = getattr(target, name)

        def timed(*args, _method=method, _name=name, **kwargs):
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                times.setdefault(_name, []).append(time.perf_counter() - started)

        setattr(target, name, timed)
    return times


def _policy(ops_config):
    return ops_config.Canary(
        steps=[10, 50, 100],
        step_seconds=2,
        interval_seconds=1,
        min_requests=20,
        replay_rows=0,
        progress_deadline_seconds=60,
    )


def _report(title: str, calls: Counter, times: dict[str, list[float]]) -> None:
    per_call = ", ".join(f"{name} {1000 * sum(t) / len(t):.0f} ms x{len(t)}" for name, t in times.items())
    print(
        f"\n{title}: {sum(calls.values())} API calls {dict(sorted(calls.items()))}\n  target time per call: {per_call}"
    )


def test_controller_promotes_a_healthy_candidate(target, sm, cw, releases, ops_config):
    from cloud_targets.ops.deploy.controller import Controller

    first, second = releases
    calls, times = Calls(target), _timed(target)
    traffic = Traffic(sm, cw)
    controller = Controller(target, _policy(ops_config), clock=traffic.clock, sleep=traffic.sleep)
    assert controller.run(first).outcome == "first_deploy"
    first_calls = calls.take()
    _report("first deploy", first_calls, times)
    assert first_calls["CreateEndpoint"] == 1 and first_calls["UpdateEndpoint"] == 0  # one fleet, never replaced
    times.clear()

    result = controller.run(second)
    counts = calls.take()
    _report("canary rollout (promoted)", counts, times)
    assert result.outcome == "promoted", result.reason
    assert [row.percent for row in result.rows] == [10, 10, 50, 50, 100, 100]
    assert all(row.verdict == "pass" and row.p95_ms == 6.0 for row in result.rows)
    state = target.describe()
    assert state.stable == second and state.candidate is None
    _endpoints, configs, models = _names(sm)
    assert models == [target.model_name(second)] and configs == [
        sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    ]
    # One update to add the candidate, one to drop the old stable; one weights call per step.
    assert (counts["CreateModel"], counts["UpdateEndpoint"], counts["UpdateEndpointWeightsAndCapacities"]) == (1, 2, 3)
    assert (counts["DeleteModel"], counts["DeleteEndpointConfig"]) == (1, 2)
    assert counts["GetMetricData"] == len(result.rows) + 1  # the baseline, then one per check
    assert counts["InvokeEndpoint"] == 0 and sum(counts.values()) < 80


def test_controller_rolls_back_a_candidate_with_5xx(target, sm, cw, releases, ops_config, mod):
    from cloud_targets.ops.deploy.controller import Controller

    first, second = releases
    _first_deploy(target, first)
    calls, times = Calls(target), _timed(target)
    traffic = Traffic(sm, cw, bad_variant=target.variant_name(second))
    result = Controller(target, _policy(ops_config), clock=traffic.clock, sleep=traffic.sleep).run(second)
    counts = calls.take()
    _report("canary rollout (rolled back)", counts, times)
    assert result.outcome == "rolled_back"
    assert result.reason == "error rate 5/20 > 1.00% at step 1 (10%)"
    state = target.describe()
    assert state.stable == first and state.candidate is None and state.candidate_percent == 0
    assert _weights(sm) == {target.variant_name(first): 1.0}
    endpoints, configs, models = _names(sm)
    assert endpoints == [ENDPOINT] and models == [target.model_name(first)] and len(configs) == 1
    assert (counts["UpdateEndpoint"], counts["DeleteModel"], counts["DeleteEndpointConfig"]) == (2, 1, 2)
