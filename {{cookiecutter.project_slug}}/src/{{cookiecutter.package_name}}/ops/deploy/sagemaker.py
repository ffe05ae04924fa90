"""The AWS target: one SageMaker real-time endpoint, stable and candidate as two production variants.

Platform calls (boto3, low-level clients; AWS_ENDPOINT_URL points them at a stand-in):
- deploy_candidate: `create_model` (the bento's image in ECR), `create_endpoint_config` with both
  variants (candidate weight 0), then `update_endpoint` to it, or `create_endpoint` on a first deploy.
- set_traffic: `update_endpoint_weights_and_capacities` (no new config, no new instances).
- promote / rollback: a config with one variant (candidate / stable) and `update_endpoint`; the
  first deploy's promote only drops the config's candidate tag. Unused configs and models are deleted.
- observe: CloudWatch `get_metric_data`, AWS/SageMaker Invocations, Invocation5XXErrors, ModelLatency
  per variant. predict: sagemaker-runtime `invoke_endpoint` with `TargetVariant`.
Every wait is boto3's `endpoint_in_service` / `endpoint_deleted` waiter.

Naming (what describe() reads back): a release's variant is `v<version>-<6 hex of the bento tag>`,
its model `<endpoint>-<variant>`, a config `<endpoint>-c<10 hex of its content>`. The config's tags
carry the roles (`mlops:candidate` names the candidate variant; the other one is stable) and each
variant's bento and registry version; tags change with the config, so a role never outlives the
config that gave it.

Traps handled:
- SageMaker can roll an update back and still report InService with no FailureReason: after every
  change the endpoint's config name and each variant's CurrentWeight are read back and compared.
- A 0 weight drops the weight keys of a variant on some stand-ins: read as 0.
- CloudWatch has 1-minute data points that keep growing while late data arrives: observe() re-reads
  the last `metrics_lookback_seconds` every call and returns only what each minute gained since.
- Percentile statistics are missing on moto: `latency_statistic: Maximum` reads the minute's maximum
  (conservative for a p95 gate). Shadow variants are not used: set_mirror raises; the controller's
  replay through predict() gives the agreement figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..config import Config
from .target import Observation, Release, State, TargetError, Window

CANDIDATE_TAG = "mlops:candidate"
BENTO_TAG = "mlops:bento:"  # + variant name
VERSION_TAG = "mlops:version:"  # + variant name
ENDPOINT_TAG = "mlops:endpoint"
BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack")
CONTAINER_PORT = "8080"  # SageMaker calls the container on 8080; BentoML's entrypoint takes $PORT
# The service's marker of the controller's own traffic (monitoring.headers.SYNTHETIC_HEADER); SageMaker
# forwards only CustomAttributes to the container, as X-Amzn-SageMaker-Custom-Attributes.
SYNTHETIC = "X-Mlops-Synthetic=replay"
METRICS = {
    "requests": ("Invocations", "Sum"),
    "errors": ("Invocation5XXErrors", "Sum"),
    "latency": ("ModelLatency", ""),
}
PERIOD = 60  # seconds: SageMaker's endpoint metrics are per minute
WEIGHT_TOLERANCE = 1e-3
OWNED = r"-(v[a-z0-9]*-[0-9a-f]{6}|c[0-9a-f]{10})"  # after the endpoint name: a model or a config of ours


@dataclass(frozen=True)
class Snapshot:
    """One reading of the endpoint: its description, its current config and that config's tags."""

    endpoint: dict
    config: dict
    tags: dict[str, str]
    variants: dict[str, dict] = field(init=False)  # name -> ProductionVariant of the config
    candidate: str | None = field(init=False)
    stable: str | None = field(init=False)

    def __post_init__(self) -> None:
        variants = {v["VariantName"]: v for v in self.config.get("ProductionVariants", [])}
        candidate = self.tags.get(CANDIDATE_TAG)
        candidate = candidate if candidate in variants else None
        others = [name for name in variants if name != candidate]
        unmanaged = [name for name in variants if BENTO_TAG + name not in self.tags]
        if len(others) > 1 or unmanaged:
            raise TargetError(
                f"aws: endpoint {self.endpoint['EndpointName']} serves variants {sorted(variants)} of config "
                f"{self.config_name} that mlops did not create: delete it or choose another deploy.aws.endpoint_name"
            )
        object.__setattr__(self, "variants", variants)
        object.__setattr__(self, "candidate", candidate)
        object.__setattr__(self, "stable", others[0] if others else None)

    @property
    def config_name(self) -> str:
        return self.endpoint["EndpointConfigName"]

    @property
    def weights(self) -> dict[str, float]:
        """Current weight per variant (a 0 weight can come without its keys)."""
        return {
            v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in self.endpoint.get("ProductionVariants", [])
        }

    def release(self, variant: str | None) -> Release | None:
        if variant is None:
            return None
        return Release(self.tags[BENTO_TAG + variant], self.tags.get(VERSION_TAG + variant) or None)

    def percent(self) -> int:
        weights = self.weights
        total = sum(weights.values())
        return round(100 * weights.get(self.candidate, 0.0) / total) if self.candidate and total else 0


class SageMakerTarget:
    name = "aws"

    def __init__(self, config: Config) -> None:
        import boto3
        from botocore.config import Config as BotoConfig

        if config.deploy.aws is None:
            raise TargetError("aws: mlops.yaml has no deploy.aws block (see docs/deploy/aws.md)")
        self.settings = settings = config.deploy.aws
        self.endpoint = settings.endpoint_name
        retries = BotoConfig(retries={"max_attempts": settings.max_attempts, "mode": "standard"})
        session = boto3.session.Session(region_name=settings.region)  # one per target: sessions are not thread-safe
        self.sagemaker = session.client("sagemaker", config=retries)
        self.runtime = session.client("sagemaker-runtime", config=retries)
        self.cloudwatch = session.client("cloudwatch", config=retries)
        self._memo: dict[str, tuple[dict, dict]] = {}  # config name -> (config, tags): configs never change
        self._seen: dict[tuple[str, str, datetime], float] = {}  # (variant, metric, minute) -> value counted

    # -------------------------------------------------------- names

    def variant_name(self, release: Release) -> str:
        """`v<version>-<hash>`, short enough that `<endpoint>-<variant>` fits SageMaker's 63 characters."""
        version = re.sub(r"[^a-z0-9]", "", (release.bento.partition(":")[2] or release.bento).lower())
        room = 63 - len(self.endpoint) - 9  # "-", "v", "-" and 6 hex
        return f"v{version[:room]}-{hashlib.sha1(release.bento.encode()).hexdigest()[:6]}"

    def model_name(self, release: Release) -> str:
        return f"{self.endpoint}-{self.variant_name(release)}"

    def image(self, release: Release) -> str:
        """The bento's image in ECR, in role_arn's account: `<repository>:<bento version>`."""
        version = release.bento.partition(":")[2]
        if not version:
            raise TargetError(f"aws: bento {release.bento!r} has no version to tag its image with")
        account = self.settings.role_arn.split(":")[4]
        domain = "amazonaws.com.cn" if self.settings.region.startswith("cn-") else "amazonaws.com"
        repository = self.settings.repository or self.endpoint.lower()
        return f"{account}.dkr.ecr.{self.settings.region}.{domain}/{repository}:{version}"

    def _owned(self, name: str) -> bool:
        """A model or config this target named for its endpoint (never another endpoint's)."""
        return bool(re.fullmatch(re.escape(self.endpoint) + OWNED, name, re.IGNORECASE))

    # -------------------------------------------------------- the Target protocol

    def describe(self) -> State:
        snap = self._read()
        url = f"https://runtime.sagemaker.{self.settings.region}.amazonaws.com/endpoints/{self.endpoint}/invocations"
        if snap is None:
            return State(url=url, details={"endpoint": self.endpoint, "status": "absent"})
        variants = {
            name: {
                "model": spec.get("ModelName"),
                "instance_type": spec.get("InstanceType"),
                "weight": snap.weights.get(name, 0.0),
            }
            for name, spec in snap.variants.items()
        }
        details = {
            "endpoint": self.endpoint,
            "status": snap.endpoint["EndpointStatus"],
            "config": snap.config_name,
            "variants": variants,
            "failure_reason": snap.endpoint.get("FailureReason"),
        }
        return State(
            stable=snap.release(snap.stable),
            candidate=snap.release(snap.candidate),
            candidate_percent=snap.percent(),
            url=url,
            details=details,
        )

    def deploy_candidate(self, release: Release) -> None:
        snap = self._read(settle=True)
        variant = self.variant_name(release)
        if snap is not None and snap.candidate == variant and snap.endpoint["EndpointStatus"] == "InService":
            return  # already there (the update was verified when it was made)
        if snap is not None and snap.stable == variant:
            raise TargetError(f"aws: {release.bento} is already the stable variant of endpoint {self.endpoint}")
        if snap is not None and snap.candidate:  # another candidate, or this one on a failed endpoint: out first
            self.rollback()
            snap = self._read(settle=True)
        model = self._ensure_model(release)
        spec = self._spec(variant, model)
        try:
            if snap is None:  # first deploy: the endpoint's only variant (new endpoints have no clients yet)
                config = self._ensure_config([{**spec, "InitialVariantWeight": 1.0}], variant, {variant: release})
                tags = [{"Key": ENDPOINT_TAG, "Value": self.endpoint}]
                self._api(
                    self.sagemaker, "create_endpoint", EndpointName=self.endpoint, EndpointConfigName=config, Tags=tags
                )
                self._wait("create_endpoint")
                self._verify("create_endpoint", config, {variant: 1.0})
            else:
                stable = {**snap.variants[snap.stable], "InitialVariantWeight": 1.0}
                releases = {snap.stable: snap.release(snap.stable), variant: release}
                config = self._ensure_config([stable, {**spec, "InitialVariantWeight": 0.0}], variant, releases)
                self._switch(config, {snap.stable: 1.0, variant: 0.0})
        except TargetError:
            self.rollback()  # the endpoint may be on either config: rollback reads which and cleans up
            raise

    def set_traffic(self, percent: int) -> None:
        percent = _percent(percent)
        snap = self._read(settle=True)
        if snap is None or snap.candidate is None:
            raise TargetError(
                f"aws: set_traffic needs a candidate on endpoint {self.endpoint} (deploy_candidate first)"
            )
        weights = {snap.candidate: percent / 100}
        if snap.stable:
            weights[snap.stable] = (100 - percent) / 100
        self._set_weights(snap, weights)

    def set_mirror(self, percent: int) -> None:
        if _percent(percent):
            raise TargetError(
                "aws: set_mirror: this target does not mirror traffic (SageMaker shadow variants are not used); "
                "use deploy.canary.mode canary: the controller replays reference rows to both variants instead"
            )

    def observe(self) -> Observation:
        snap = self._read(fresh=False)
        sides = {"stable": snap.stable, "candidate": snap.candidate} if snap else {}
        variants = [variant for variant in sides.values() if variant]
        if not variants:
            return Observation()
        series = self._metrics(variants)
        windows = {side: self._window(variant, series) if variant else Window() for side, variant in sides.items()}
        return Observation(stable=windows["stable"], candidate=windows["candidate"])

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        from botocore.exceptions import BotoCoreError

        if side not in ("stable", "candidate"):
            raise TargetError(f"aws: side must be 'stable' or 'candidate', got {side!r}")
        snap = self._read(fresh=False)
        variant = getattr(snap, side) if snap else None
        if variant is None:
            raise TargetError(f"aws: endpoint {self.endpoint} has no {side} variant")
        answer = self._api(
            self.runtime,
            "invoke_endpoint",
            EndpointName=self.endpoint,
            TargetVariant=variant,
            ContentType="application/json",
            Accept="application/json",
            CustomAttributes=SYNTHETIC,
            Body=json.dumps({"rows": rows}).encode(),
        )
        try:
            body = answer["Body"].read()
        except BotoCoreError as exc:  # the answer broke off
            raise TargetError(f"aws: invoke_endpoint ({side} {variant}): {exc}") from None
        served = answer.get("InvokedProductionVariant")
        if served and served != variant:
            raise TargetError(f"aws: invoke_endpoint asked variant {variant}, {served} answered")
        try:
            return json.loads(body)["predictions"]
        except (ValueError, KeyError, TypeError):
            raise TargetError(
                f"aws: invoke_endpoint ({side} {variant}) answered no predictions: {body[:200]!r}"
            ) from None

    def promote(self) -> None:
        snap = self._read(settle=True)
        if snap is None or snap.candidate is None:
            return  # already promoted (or nothing to promote)
        candidate = snap.candidate
        if snap.stable is None:  # first deploy: it already is the only variant; it stops being a candidate
            self._set_weights(snap, {candidate: 1.0})
            arn = snap.config["EndpointConfigArn"]
            self._api(self.sagemaker, "delete_tags", ResourceArn=arn, TagKeys=[CANDIDATE_TAG])
            self._memo.clear()
            config = snap.config_name
        else:
            self._set_weights(snap, {snap.stable: 0.0, candidate: 1.0})
            spec = {**snap.variants[candidate], "InitialVariantWeight": 1.0}
            config = self._ensure_config([spec], None, {candidate: snap.release(candidate)})
            self._switch(config, {candidate: 1.0})
        self._sweep(config, {snap.variants[candidate]["ModelName"]})

    def rollback(self) -> None:
        snap = self._read(settle=True)
        if snap is None:
            return self._sweep(None, set())
        if snap.candidate is None:
            return self._sweep(snap.config_name, {spec["ModelName"] for spec in snap.variants.values()})
        if snap.stable is None:  # a first deploy that failed: nothing else served, the endpoint goes
            self._delete_endpoint()
            return self._sweep(None, set())
        # Traffic off the candidate within seconds; the config change below takes minutes (new instances).
        self._set_weights(snap, {snap.stable: 1.0, snap.candidate: 0.0})
        spec = {**snap.variants[snap.stable], "InitialVariantWeight": 1.0}
        config = self._ensure_config([spec], None, {snap.stable: snap.release(snap.stable)})
        self._switch(config, {snap.stable: 1.0})
        return self._sweep(config, {spec["ModelName"]})

    def undeploy(self) -> None:
        if self._describe_endpoint() is not None:
            self._delete_endpoint()
        self._sweep(None, set())
        self._seen.clear()

    # -------------------------------------------------------- reading the endpoint

    def _api(self, client, operation: str, **params):
        """One API call; botocore's errors become one-line TargetErrors naming the call and the reason."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(client, operation)(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reason = f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
            if original := exc.response.get("OriginalStatusCode"):  # ModelError: the container's own status
                reason += f" (model answered {original})"
            raise TargetError(f"aws: {operation} on endpoint {self.endpoint}: {reason}") from exc
        except BotoCoreError as exc:
            raise TargetError(f"aws: {operation} on endpoint {self.endpoint}: {exc}") from exc

    def _describe_endpoint(self) -> dict | None:
        try:
            return self._api(self.sagemaker, "describe_endpoint", EndpointName=self.endpoint)
        except TargetError as exc:
            if _not_found(exc):
                return None
            raise

    def _read(self, settle: bool = False, fresh: bool = True) -> Snapshot | None:
        """The endpoint now; `settle` first waits out an update in progress (SageMaker refuses changes
        meanwhile). Without `fresh`, a config already read is reused: configs are immutable apart
        from the candidate tag, which only promote() drops."""
        endpoint = self._describe_endpoint()
        if endpoint is not None and settle and endpoint["EndpointStatus"] in BUSY:
            self._wait(f"waiting for the endpoint ({endpoint['EndpointStatus']})")
            endpoint = self._describe_endpoint()
        if endpoint is not None and settle and endpoint["EndpointStatus"] == "Deleting":
            self._wait_deleted()
            endpoint = None
        if endpoint is None:
            return None
        name = endpoint["EndpointConfigName"]
        if fresh or name not in self._memo:
            config = self._api(self.sagemaker, "describe_endpoint_config", EndpointConfigName=name)
            answer = self._api(self.sagemaker, "list_tags", ResourceArn=config["EndpointConfigArn"])
            self._memo = {name: (config, {tag["Key"]: tag["Value"] for tag in answer.get("Tags", [])})}
        return Snapshot(endpoint, *self._memo[name])

    # -------------------------------------------------------- changing it

    def _spec(self, variant: str, model: str) -> dict:
        return dict(
            VariantName=variant,
            ModelName=model,
            InstanceType=self.settings.instance_type,
            InitialInstanceCount=self.settings.instance_count,
        )

    def _ensure_model(self, release: Release) -> str:
        name = self.model_name(release)
        container = dict(
            Image=self.image(release),
            Environment=dict(
                PORT=CONTAINER_PORT, MLOPS_BENTO=release.bento, MLOPS_REGISTRY_VERSION=release.version or ""
            ),
        )
        tags = [{"Key": ENDPOINT_TAG, "Value": self.endpoint}, {"Key": "mlops:bento", "Value": release.bento}]
        role = self.settings.execution_role_arn or self.settings.role_arn
        try:
            self._api(
                self.sagemaker,
                "create_model",
                ModelName=name,
                PrimaryContainer=container,
                ExecutionRoleArn=role,
                Tags=tags,
            )
        except TargetError as exc:
            if not _exists(exc):  # the same name is the same bento (the name hashes its tag)
                raise
        return name

    def _ensure_config(self, variants: list[dict], candidate: str | None, releases: dict[str, Release]) -> str:
        """An endpoint config named after its content: a rerun (or a rollback to the config before the
        rollout) finds it instead of making another."""
        tags = {ENDPOINT_TAG: self.endpoint}
        for variant, release in releases.items():
            tags[BENTO_TAG + variant] = release.bento
            tags[VERSION_TAG + variant] = release.version or ""
        if candidate:
            tags[CANDIDATE_TAG] = candidate
        digest = hashlib.sha1(json.dumps([variants, tags], sort_keys=True).encode()).hexdigest()[:10]
        name = f"{self.endpoint}-c{digest}"
        try:
            self._api(
                self.sagemaker,
                "create_endpoint_config",
                EndpointConfigName=name,
                ProductionVariants=variants,
                Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
            )
        except TargetError as exc:
            if not _exists(exc):
                raise
        return name

    def _switch(self, config: str, weights: dict[str, float]) -> None:
        """Move the endpoint to `config` (SageMaker starts the new instances, then shifts traffic)."""
        self._api(self.sagemaker, "update_endpoint", EndpointName=self.endpoint, EndpointConfigName=config)
        self._wait("update_endpoint")
        self._verify("update_endpoint", config, weights)

    def _set_weights(self, snap: Snapshot, weights: dict[str, float]) -> None:
        current = snap.weights
        if all(abs(current.get(name, 0.0) - weight) <= WEIGHT_TOLERANCE for name, weight in weights.items()):
            return
        desired = [dict(VariantName=name, DesiredWeight=weight) for name, weight in weights.items()]
        operation = "update_endpoint_weights_and_capacities"
        self._api(self.sagemaker, operation, EndpointName=self.endpoint, DesiredWeightsAndCapacities=desired)
        self._wait(operation)
        self._verify(operation, snap.config_name, {**current, **weights})

    def _verify(self, operation: str, config: str, weights: dict[str, float]) -> None:
        """The trap: an update SageMaker rolled back still ends InService. Read back config and weights."""
        endpoint = self._describe_endpoint() or {}
        found = {v["VariantName"]: float(v.get("CurrentWeight", 0.0)) for v in endpoint.get("ProductionVariants", [])}
        same = set(found) == set(weights) and all(abs(found[n] - w) <= WEIGHT_TOLERANCE for n, w in weights.items())
        if endpoint.get("EndpointStatus") == "InService" and endpoint.get("EndpointConfigName") == config and same:
            return
        reason = endpoint.get("FailureReason") or "no FailureReason"
        raise TargetError(
            f"aws: {operation} on endpoint {self.endpoint} did not take: expected config {config} with weights "
            f"{_weights(weights)}, found {endpoint.get('EndpointConfigName')} with {_weights(found)}, "
            f"status {endpoint.get('EndpointStatus', 'absent')} ({reason})"
        )

    def _waiter_config(self) -> dict:
        delay = self.settings.poll_seconds
        return dict(Delay=delay, MaxAttempts=max(1, math.ceil(self.settings.timeout_seconds / delay)))

    def _wait(self, operation: str) -> None:
        from botocore.exceptions import WaiterError

        waiter = self.sagemaker.get_waiter("endpoint_in_service")
        try:
            waiter.wait(EndpointName=self.endpoint, WaiterConfig=self._waiter_config())
        except WaiterError as exc:
            last = exc.last_response or {}
            why = last.get("FailureReason") or last.get("Error", {}).get("Message") or exc.kwargs.get("reason")
            status = last.get("EndpointStatus", "?")
            raise TargetError(f"aws: {operation}: endpoint {self.endpoint} not InService ({status}: {why})") from None

    def _wait_deleted(self) -> None:
        from botocore.exceptions import WaiterError

        try:
            self.sagemaker.get_waiter("endpoint_deleted").wait(
                EndpointName=self.endpoint, WaiterConfig=self._waiter_config()
            )
        except WaiterError as exc:
            raise TargetError(f"aws: delete_endpoint: endpoint {self.endpoint} not deleted ({exc})") from None

    def _delete_endpoint(self) -> None:
        try:
            self._api(self.sagemaker, "delete_endpoint", EndpointName=self.endpoint)
        except TargetError as exc:
            if not _not_found(exc):
                raise
        self._wait_deleted()
        self._memo.clear()

    def _sweep(self, keep_config: str | None, keep_models: set[str]) -> None:
        """Delete this endpoint's configs and models the endpoint does not use: a failed or replaced
        release leaves nothing behind. Configs first (they name models)."""
        for listing, key, operation, keep in (
            ("list_endpoint_configs", "EndpointConfigs", "delete_endpoint_config", {keep_config}),
            ("list_models", "Models", "delete_model", keep_models),
        ):
            name_key = "EndpointConfigName" if key == "EndpointConfigs" else "ModelName"
            for name in self._names(listing, key, name_key):
                if self._owned(name) and name not in keep:
                    self._delete(operation, name_key, name)

    def _names(self, listing: str, key: str, name_key: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.sagemaker.get_paginator(listing).paginate(NameContains=self.endpoint)
            return [item[name_key] for page in pages for item in page.get(key, [])]
        except (BotoCoreError, ClientError) as exc:
            raise TargetError(f"aws: {listing} for endpoint {self.endpoint}: {exc}") from exc

    def _delete(self, operation: str, name_key: str, name: str) -> None:
        try:
            self._api(self.sagemaker, operation, **{name_key: name})
        except TargetError as exc:
            if not _not_found(exc):
                raise

    # -------------------------------------------------------- CloudWatch

    def _metrics(self, variants: list[str]) -> dict[tuple[str, str], dict[datetime, float]]:
        """(variant, metric) -> {minute: value} over the lookback, one get_metric_data call (paginated)."""
        from botocore.exceptions import BotoCoreError, ClientError

        now = datetime.now(UTC)
        start = _minute(now - timedelta(seconds=self.settings.metrics_lookback_seconds))
        end = _minute(now) + timedelta(seconds=PERIOD)  # the current minute, still filling
        queries, ids = [], {}
        for index, variant in enumerate(variants):
            for metric, (name, stat) in METRICS.items():
                ids[f"m{index}{metric}"] = (variant, metric)
                dims = [dict(Name="EndpointName", Value=self.endpoint), dict(Name="VariantName", Value=variant)]
                stat = stat or self.settings.latency_statistic
                query = dict(
                    Metric=dict(Namespace="AWS/SageMaker", MetricName=name, Dimensions=dims), Period=PERIOD, Stat=stat
                )
                queries.append(dict(Id=f"m{index}{metric}", MetricStat=query, ReturnData=True))
        series: dict[tuple[str, str], dict[datetime, float]] = {key: {} for key in ids.values()}
        try:
            pages = self.cloudwatch.get_paginator("get_metric_data").paginate(
                MetricDataQueries=queries, StartTime=start, EndTime=end
            )
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    series[ids[result["Id"]]].update(zip(result["Timestamps"], result["Values"], strict=False))
        except (BotoCoreError, ClientError) as exc:
            raise TargetError(f"aws: get_metric_data for endpoint {self.endpoint}: {exc}") from exc
        for key in [key for key in self._seen if key[2] < start]:  # minutes that left the lookback
            del self._seen[key]
        return series

    def _window(self, variant: str, series: dict[tuple[str, str], dict[datetime, float]]) -> Window:
        """What each minute of `variant` gained since the last call; p95 = the worst minute with new requests."""
        gained = {}
        for metric in ("requests", "errors"):
            for minute, value in series[(variant, metric)].items():
                key = (variant, metric, minute)
                gained[(metric, minute)] = max(0.0, value - self._seen.get(key, 0.0))
                self._seen[key] = max(value, self._seen.get(key, 0.0))
        latencies = series[(variant, "latency")]
        busy = [minute for (metric, minute), count in gained.items() if metric == "requests" and count > 0]
        p95s = [latencies[minute] / 1000 for minute in busy if minute in latencies]  # microseconds -> ms
        return Window(
            requests=round(sum(count for (metric, _), count in gained.items() if metric == "requests")),
            errors=round(sum(count for (metric, _), count in gained.items() if metric == "errors")),
            p95_ms=max(p95s) if p95s else None,
        )


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _percent(percent: int) -> int:
    if not 0 <= int(percent) <= 100:
        raise TargetError(f"aws: a traffic share is 0-100 %, got {percent}")
    return int(percent)


def _weights(weights: dict[str, float]) -> str:
    return ", ".join(f"{name}={weight:g}" for name, weight in sorted(weights.items())) or "no variants"


def _not_found(exc: TargetError) -> bool:
    """SageMaker says a missing endpoint/config/model with a ValidationException 'Could not find ...'."""
    return "could not find" in str(exc).lower() or "does not exist" in str(exc).lower()


def _exists(exc: TargetError) -> bool:
    return "already existing" in str(exc).lower() or "already exists" in str(exc).lower()
