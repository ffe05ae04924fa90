"""The typed model of `mlops.yaml`, the project's one declarative config.

Every command and workflow reads this file through `load_config`; `mlops config schema`
exports the JSON Schema that editors and CI check the YAML against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .cron import cron_error
from .errors import MlopsError

CONFIG_FILE = Path("mlops.yaml")
SCHEMA_FILE = Path("mlops.schema.json")

Share = Annotated[float, Field(ge=0, le=1)]
Percent = Annotated[int, Field(ge=0, le=100)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


def _cron(expr: str) -> str:
    if problem := cron_error(expr):
        raise ValueError(f"not a cron expression: {problem}")
    return expr


Cron = Annotated[str, AfterValidator(_cron)]  # UTC, as GitHub reads on.schedule


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid")


class Project(Strict):
    name: str = Field(description="The project's name (docs, job summaries)")
    model_name: Name = Field(description="Name of the model in the MLflow registry and the BentoML store")
    default_branch: str = Field("main", pattern=r"^[A-Za-z0-9._/-]+$", description="Branch CD ships from")


ColumnType = Literal["numeric", "integer", "boolean", "categorical"]
CodeKind = Literal["string", "integer", "boolean"]
Value = bool | int | float | str  # bool first: YAML's true must not become 1
_KIND_OF = {bool: "boolean", int: "integer", str: "string"}


class Column(Strict):
    type: ColumnType = Field(
        description="numeric: real numbers; integer: whole numbers; boolean: true/false; "
        "categorical: codes (strings, integers or booleans, see codes)"
    )
    codes: CodeKind | None = Field(
        None, description="categorical: kind of its codes (default: that of values, else string)"
    )
    min: float | None = Field(None, description="Smallest allowed value (numeric, integer)")
    max: float | None = Field(None, description="Largest allowed value (numeric, integer)")
    values: list[Value] | None = Field(None, description="Allowed values")
    max_missing_share: Share | None = Field(None, description="Overrides validation.max_missing_share")

    @model_validator(mode="after")
    def _coherent(self) -> Column:
        if self.type not in ("numeric", "integer") and (self.min is not None or self.max is not None):
            raise ValueError("min/max apply to numeric and integer columns only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.codes is not None and self.type != "categorical":
            raise ValueError("codes applies to categorical columns only")
        if self.values is not None and (wrong := [v for v in self.values if not self.admits(v)]):
            raise ValueError(f"values {wrong} are not {self.kind()} values")
        return self

    def kind(self) -> str:
        """What one value is: numeric, integer, boolean or string (a categorical's codes)."""
        if self.type != "categorical":
            return self.type
        if self.codes is not None:
            return self.codes
        kinds = {_KIND_OF.get(type(v), "float") for v in self.values or ()}
        return kinds.pop() if len(kinds) == 1 and kinds <= {"string", "integer", "boolean"} else "string"

    def admits(self, value: object) -> bool:
        kind = self.kind()
        if kind == "numeric":
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, {"integer": int, "boolean": bool, "string": str}[kind]) and (
            kind == "boolean" or not isinstance(value, bool)
        )


class Target(Strict):
    column: str = Field(description="The column the model predicts")
    task: Literal["classification", "regression"] = Field(description="Picks the estimator and the metrics")
    values: list[Value] | None = Field(None, description="Allowed labels (classification)")

    @model_validator(mode="after")
    def _classes(self) -> Target:
        if self.task == "classification" and self.values is not None and len(set(self.values)) < 2:
            raise ValueError(f"a classification target needs at least 2 values (classes), got {self.values}")
        return self


class Data(Strict):
    source: str = Field(description="CSV or Parquet file the pipeline trains on")
    target: Target = Field(description="What the model predicts")
    columns: dict[str, Column] = Field(min_length=1, description="Feature columns, in model input order")
    test_share: Annotated[float, Field(gt=0, lt=1)] = Field(0.2, description="Share of rows held out for evaluation")
    seed: int = Field(42, description="Seed of the train/test split")
    reference: str = Field("data/prepared/train.parquet", description="Drift reference data")
    current: str | None = Field(
        None, description="A window file (path or URI) CT checks instead of the captured requests (monitoring.capture)"
    )

    @model_validator(mode="after")
    def _target_not_a_feature(self) -> Data:
        if self.target.column in self.columns:
            raise ValueError(f"target column {self.target.column!r} is also listed in columns")
        return self

    def names(self, *types: str) -> list[str]:
        return [name for name, col in self.columns.items() if col.type in types]

    def numeric_inputs(self) -> list[str]:
        """Columns the model sees as numbers (booleans as 0/1); the rest are categorical."""
        return self.names("numeric", "integer", "boolean")


class Validation(Strict):
    max_missing_share: Share = Field(0.01, description="Largest share of missing values a column may have")


Metric = Literal["roc_auc", "accuracy", "f1", "rmse", "mae", "r2"]
LOWER_IS_BETTER = {"rmse", "mae"}
TASK_METRICS = {"classification": {"roc_auc", "accuracy", "f1"}, "regression": {"rmse", "mae", "r2"}}


class Training(Strict):
    params: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="Keyword arguments of the estimator in model/train.py"
    )
    metric: Metric = Field(
        "roc_auc", description="The metric the gates, the PR comment and CT compare (it fits the task)"
    )
    min_metric: float = Field(description="The candidate must reach this on the test split")
    max_regression: Annotated[float, Field(ge=0)] = Field(0.01, description="Allowed drop below the champion's metric")


class Registry(Strict):
    tracking_uri: str = Field(
        "sqlite:///mlflow.db", description="MLflow tracking and registry store (a shared server: http(s)://...)"
    )
    experiment: str = Field("default", description="MLflow experiment of the runs")
    champion_alias: Name = Field("champion", description="Registry alias of the model in production")
    challenger_alias: Name = Field("challenger", description="Registry alias of the newest registered model")


class Serving(Strict):
    max_batch_size: Annotated[int, Field(ge=1, le=10000)] = Field(100, description="Most rows one request may carry")
    max_latency_ms: Annotated[int, Field(ge=1)] = Field(50, description="BentoML's latency budget per request")


class Gates(Strict):
    """Each check fails when one of these is out of range (Flagger's thresholdRange)."""

    max_error_rate: Share = Field(0.01, description="Candidate 5xx share of its requests")
    max_p95_latency_ms: Annotated[float, Field(gt=0)] = Field(200, description="Candidate p95, absolute")
    max_p95_increase_ms: Annotated[float, Field(ge=0)] | None = Field(
        50, description="Candidate p95 may exceed stable's p95 by at most this (None: no relative gate)"
    )
    min_prediction_agreement: Share = Field(0.9, description="Share of the same requests both models answer alike")


Seconds = Annotated[float, Field(ge=0)]


class Canary(Strict):
    """The rollout policy, with Flagger's and Argo Rollouts' semantics (docs: deploy)."""

    mode: Literal["canary", "shadow-then-canary", "all-at-once"] = Field(
        "canary", description="shadow-then-canary: mirror traffic to the candidate first; all-at-once: one step of 100"
    )
    steps: list[Percent] = Field(default_factory=lambda: [10, 50, 100], min_length=1, description="Traffic shares")
    step_seconds: Seconds = Field(60, description="Time at each step (with at least one passed check)")
    interval_seconds: Annotated[float, Field(gt=0)] = Field(0.5, description="One check per interval")
    failure_limit: Annotated[int, Field(ge=1)] = Field(1, description="Failed checks that trigger a rollback")
    min_requests: Annotated[int, Field(ge=1)] = Field(
        20, description="Candidate requests a verdict needs; fewer and the check waits"
    )
    progress_deadline_seconds: Annotated[float, Field(gt=0)] = Field(
        600, description="Roll back when no check passes for this long (e.g. no traffic)"
    )
    shadow_seconds: Seconds = Field(60, description="Shadow phase length (mode shadow-then-canary)")
    shadow_percent: Annotated[int, Field(ge=1, le=100)] = Field(100, description="Share of requests mirrored")
    replay_rows: Annotated[int, Field(ge=0)] = Field(
        20, description="Reference rows sent to both models each check, for prediction agreement (0: off)"
    )
    gates: Gates = Field(Gates(), description="The metric gates of every check")

    @field_validator("steps")
    @classmethod
    def _rising_to_100(cls, steps: list[int]) -> list[int]:
        if steps != sorted(set(steps)) or steps[-1] != 100:
            raise ValueError("steps must rise strictly and end at 100")
        if steps[0] == 0:
            raise ValueError("a step of 0 sends the candidate no traffic: start above 0")
        return steps


class LocalTarget(Strict):
    port: Annotated[int, Field(ge=1, le=65535)] = Field(3000, description="Stable address clients call")


# The ids a workflow logs in to a cloud with, through GitHub's OIDC token (ops/deploy/login.py): a
# target's block, or the cluster of the kubernetes target, holds one of these.
class AwsLogin(Strict):
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", description="AWS region, e.g. us-east-1")
    role_arn: str = Field(
        pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$",
        description="The role workflows assume through GitHub OIDC; its account holds the ECR repository",
    )


class GcpLogin(Strict):
    project: str = Field(
        pattern=r"^([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$", description="Google Cloud project ID"
    )
    workload_identity_provider: str = Field(
        description="projects/N/locations/global/workloadIdentityPools/P/providers/X"
    )
    service_account: str = Field(description="The service account workflows impersonate through GitHub OIDC")


class AzureLogin(Strict):
    subscription_id: str = Field(description="Azure subscription ID")
    tenant_id: str = Field(description="Microsoft Entra tenant ID")
    client_id: str = Field(description="App registration (or managed identity) workflows sign in as with OIDC")


class AwsTarget(AwsLogin):
    """SageMaker: one real-time endpoint, stable and candidate as two production variants (docs/deploy/aws.md)."""

    endpoint_name: str = Field(
        pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
        max_length=50,  # SageMaker allows 63; 13 more for the names of the endpoint's configs and models
        description="SageMaker endpoint (letters, digits, hyphens); its configs and models are named after it",
    )
    instance_type: str = Field(
        "ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$", description="Instance type per variant"
    )
    instance_count: Annotated[int, Field(ge=1)] = Field(1, description="Instances per variant (stable, candidate)")
    bucket: str = Field(description="S3 bucket of the DVC remote and the request log")
    execution_role_arn: str | None = Field(
        None,
        pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$",
        description="Role SageMaker runs the model with (trusts sagemaker.amazonaws.com, pulls from ECR); "
        "None: role_arn, which then must trust SageMaker too",
    )
    repository: str | None = Field(
        None,
        pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
        description="ECR repository of the bento images, in role_arn's account (None: endpoint_name)",
    )
    latency_statistic: str = Field(
        "p95",
        pattern=r"^(p\d{1,2}(\.\d+)?|Maximum|Average)$",
        description="CloudWatch statistic of ModelLatency the p95 gate reads (Maximum: stand-ins without percentiles)",
    )
    metrics_lookback_seconds: Annotated[float, Field(ge=60)] = Field(
        600, description="CloudWatch minutes re-read at each check: late data points older than this are not seen"
    )
    poll_seconds: Annotated[float, Field(gt=0)] = Field(30, description="Delay between endpoint status polls")
    timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        3600, description="Longest wait for the endpoint to be InService (creating one takes 5-15 min)"
    )
    max_attempts: Annotated[int, Field(ge=1, le=20)] = Field(5, description="Attempts per AWS API call (retries)")


class GcpTarget(GcpLogin):
    """Vertex AI: one dedicated endpoint, stable and candidate as two deployed models on it (docs: deploy/gcp)."""

    region: str = Field(pattern=r"^[a-z]+-[a-z]+[0-9]+$", description="Vertex AI and Artifact Registry region")
    endpoint_name: Name = Field(
        description="Endpoint ID (lower-cased, other characters than a-z 0-9 - become -); created on the first deploy"
    )
    bucket: str = Field(description="Cloud Storage bucket of the DVC remote and the request log")
    repository: str = Field(
        "mlops",
        pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Artifact Registry Docker repository (in region) the CD workflow pushes bento images to",
    )
    machine_type: str = Field("n1-standard-2", description="Machine type of each model replica")
    min_replicas: Annotated[int, Field(ge=1)] = Field(1, description="Fewest replicas of each deployed model")
    max_replicas: Annotated[int, Field(ge=1)] = Field(1, description="Most replicas of each deployed model")
    deploy_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        1800, description="Longest wait for deployModel (Vertex takes 5-20 min to start replicas)"
    )
    operation_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        600, description="Longest wait for the other long-running operations (upload, undeploy, deletes)"
    )
    metrics_lag_seconds: Annotated[float, Field(ge=0)] = Field(
        300, description="How far back each check re-reads Cloud Monitoring for late points (Vertex: up to 180 s)"
    )

    @model_validator(mode="after")
    def _replicas(self) -> GcpTarget:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) is greater than max_replicas ({self.max_replicas})")
        return self


class AzureTarget(AzureLogin):
    """An Azure ML managed online endpoint; one deployment per release (ops/deploy/azureml.py)."""

    resource_group: str = Field(description="Resource group of the workspace")
    workspace: str = Field(description="Azure ML workspace that holds the endpoint")
    endpoint_name: str = Field(
        pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$",
        description="Managed online endpoint (3-32 letters, digits, dashes; unique per region), made on first deploy",
    )
    storage_account: str = Field(description="Storage account of the DVC remote")
    container: str = Field(description="Blob container of the DVC remote")
    registry: str | None = Field(
        None,
        pattern=r"^[a-zA-Z0-9]{5,50}$",
        description="ACR (<registry>.azurecr.io) CD pushes the bento's image to; default: the workspace's registry",
    )
    repository: str | None = Field(
        None,
        pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$",
        description="Image repository in the registry; default: the bento's name",
    )
    instance_type: str = Field("Standard_DS3_v2", description="VM size of each deployment's instances")
    instance_count: Annotated[int, Field(ge=1)] = Field(1, description="Instances of each deployment")
    max_concurrent_requests: Annotated[int, Field(ge=1)] = Field(
        8, description="Requests one instance serves at once (Azure's default of 1 queues BentoML's concurrency away)"
    )
    auth_mode: Literal["key", "aad_token"] = Field("key", description="How clients authenticate to the endpoint")
    timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        1800, description="Longest wait for one platform change (a new deployment takes 5-15 minutes)"
    )
    metrics_delay_seconds: Annotated[float, Field(ge=0)] = Field(
        180, description="Azure Monitor ingestion delay: a minute of metrics is read once this long after it ends"
    )


DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$")]


class EksCluster(AwsLogin):
    cloud: Literal["aws"] = Field(description="The cluster's cloud")
    name: str = Field(description="EKS cluster: `aws eks update-kubeconfig`")


class GkeCluster(GcpLogin):
    cloud: Literal["gcp"] = Field(description="The cluster's cloud")
    name: str = Field(description="GKE cluster: `gcloud container clusters get-credentials`")
    location: str = Field(description="The cluster's region or zone")


class AksCluster(AzureLogin):
    cloud: Literal["azure"] = Field(description="The cluster's cloud")
    name: str = Field(description="AKS cluster: `az aks get-credentials`")
    resource_group: str = Field(description="Resource group of the cluster")


Cluster = Annotated[EksCluster | GkeCluster | AksCluster, Field(discriminator="cloud")]


class KubernetesTarget(Strict):
    """A KServe InferenceService (docs/deploy/kubernetes.md)."""

    namespace: str = Field(
        "default",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Namespace of the InferenceService",
    )
    service_name: DnsLabel = Field(max_length=40, description="Name of the InferenceService")
    image: str = Field(
        pattern=r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$",
        description="<registry>/<repository> of the bento images, no tag: each release is <image>:<bento version>",
    )
    bucket: str = Field(description="DVC remote URL (s3://, gs:// or azure://)")
    manifest: str = Field(
        "deploy/kubernetes/inferenceservice.yaml",
        description="The base InferenceService (resources, annotations, deployment mode), relative to the project",
    )
    deployment_mode: Literal["Serverless", "Knative", "RawDeployment", "Standard"] | None = Field(
        None, description="KServe deployment mode (None: the manifest's serving.kserve.io/deploymentMode annotation)"
    )
    storage_uri: str | None = Field(
        None,
        pattern=r"^(gs|s3|pvc|https?|hdfs|webhdfs|oci|hf)://\S+$",
        description="RawDeployment/Standard: prefix of each release's STORAGE_URI (<storage_uri>/<bento version>); "
        "KServe's spec.canary requires one on every predictor",
    )
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc:9090",
        pattern=r"^https?://\S+$",
        description="Prometheus HTTP API that scrapes the predictor pods (/api/v1/query)",
    )
    endpoint_label: str = Field(
        "endpoint",
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        description="Prometheus label of BentoML's endpoint (exported_endpoint when a ServiceMonitor adds its own)",
    )
    ingress_url: str | None = Field(
        None,
        pattern=r"^https?://\S+$",
        description="Serverless: the ingress gateway to send per-revision requests to, with the revision's Host "
        "header (None: its status URL directly)",
    )
    cluster: Cluster | None = Field(
        None,
        description="The managed cluster CD reaches through its cloud's OIDC login (None: the runner has a kubeconfig, "
        "e.g. a self-hosted runner in the cluster)",
    )
    context: str | None = Field(None, description="kubeconfig context outside a cluster (None: the current one)")
    timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        900, description="Longest wait for the InferenceService to report one change done"
    )
    request_timeout_seconds: Annotated[float, Field(gt=0)] = Field(
        30, description="Timeout of one prediction or Prometheus request"
    )


TARGETS = ("local", "aws", "gcp", "azure", "kubernetes")
MIRRORING_TARGETS = ("local", "azure")  # HAProxy's http-request mirror, Azure ML's mirror_traffic


class Deploy(Strict):
    target: Literal[TARGETS] = Field(description="Where CD deploys; its block below holds the target's settings")
    environment: str = Field("production", description="GitHub environment that records each rollout")
    canary: Canary = Field(Canary(), description="The rollout policy")
    local: LocalTarget | None = Field(None, description="Target local: BentoML behind HAProxy on this machine")
    aws: AwsTarget | None = Field(None, description="Target aws: Amazon SageMaker")
    gcp: GcpTarget | None = Field(None, description="Target gcp: Google Vertex AI")
    azure: AzureTarget | None = Field(None, description="Target azure: an Azure ML online endpoint")
    kubernetes: KubernetesTarget | None = Field(None, description="Target kubernetes: a KServe InferenceService")

    @model_validator(mode="after")
    def _target_block_present(self) -> Deploy:
        if self.target != "local" and getattr(self, self.target) is None:
            raise ValueError(f"target is {self.target!r} but the deploy.{self.target} block is missing")
        if self.canary.mode == "shadow-then-canary" and self.target not in MIRRORING_TARGETS:
            raise ValueError(
                f"canary.mode shadow-then-canary needs a target that mirrors traffic ({', '.join(MIRRORING_TARGETS)}); "
                f"{self.target} has no mirroring: use canary"
            )
        return self


class Drift(Strict):
    method: Literal["auto", "ks", "wasserstein", "psi", "jensenshannon", "chisquare"] = Field(
        "auto", description="Evidently's per-column drift test (auto: Evidently picks by column type and size)"
    )
    column_threshold: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Per-column threshold of the method; None keeps Evidently's default"
    )
    drift_share: Share = Field(0.3, description="Share of drifted columns that means the dataset drifted")
    sample_size: Annotated[int, Field(ge=100)] | None = Field(
        20_000, description="Rows sampled from each side before the check (None: all rows)"
    )


# Columns every captured row carries besides the features (data columns may not use these names).
CAPTURE_COLUMNS = ("request_id", "row", "captured_at", "model_version", "prediction")


class Capture(Strict):
    sample: Share = Field(1.0, description="Share of served requests recorded in the request log")
    sink: str = Field(
        ".mlops/capture",
        description="Folder or URI (s3://, gs://, az://) of the request log; a relative path is under the state root",
    )
    flush_seconds: Annotated[float, Field(gt=0)] = Field(10, description="A buffered request is written within this")
    max_rows_per_file: Annotated[int, Field(ge=1)] = Field(10_000, description="Rotate to a new file at this many rows")


class Trigger(Strict):
    """Flap guard: retrain only when `violations` of the last `windows` checks violated."""

    violations: Annotated[int, Field(ge=1)] = Field(1, description="Violated checks that trigger a retraining")
    windows: Annotated[int, Field(ge=1)] = Field(1, description="The last checks counted")

    @model_validator(mode="after")
    def _fits(self) -> Trigger:
        if self.violations > self.windows:
            raise ValueError(f"violations ({self.violations}) cannot exceed windows ({self.windows})")
        return self


class Monitoring(Strict):
    schedule: Cron = Field(description="Cron (UTC) of the CT workflow; `mlops sync` copies it there")
    window_hours: Annotated[float, Field(gt=0)] = Field(
        168, description="Longest current window: captured requests since the last check, at most this old"
    )
    min_rows: Annotated[int, Field(ge=1)] = Field(30, description="Fewer captured rows than this: no check")
    max_metric_drop: Share = Field(
        0.05, description="Retrain when the champion's metric on labelled rows is this share worse than at training"
    )
    trigger: Trigger = Field(Trigger(), description="When violations lead to a retraining PR")
    capture: Capture = Field(Capture(), description="The request log the service writes and CT reads")
    drift: Drift = Field(Drift(), description="The data drift check (Evidently)")


class Batch(Strict):
    """`mlops predict` on a schedule (.github/workflows/batch.yml) and its defaults by hand."""

    schedule: Cron = Field("0 5 * * *", description="Cron (UTC) of the batch workflow; `mlops sync` copies it there")
    input: str | None = Field(
        None, description="CSV or Parquet to score, a path or URI (s3://, gs://, az://); None: data.source"
    )
    output: str = Field("predictions/batch.parquet", description="Where predictions go (.csv or .parquet, path or URI)")
    alias: Name | None = Field(None, description="Registry alias of the model; None: registry.champion_alias")


class Config(Strict):
    """Root of mlops.yaml."""

    project: Project = Field(description="Names")
    data: Data = Field(description="The table: source, target, feature columns, split")
    validation: Validation = Field(
        Validation(), description="Rules every data column meets (prepare, `mlops validate`)"
    )
    training: Training = Field(description="Estimator parameters, the metric and its gates")
    registry: Registry = Field(Registry(), description="MLflow tracking and registry")
    serving: Serving = Field(Serving(), description="Limits of the service's requests")
    deploy: Deploy = Field(description="CD: the target and the rollout policy")
    monitoring: Monitoring = Field(description="CT: request capture, drift and metric checks, the retraining trigger")
    batch: Batch = Field(Batch(), description="Batch predictions (`mlops predict`, batch.yml)")

    @model_validator(mode="after")
    def _metric_fits_task(self) -> Config:
        task = self.data.target.task
        if self.training.metric not in TASK_METRICS[task]:
            allowed = ", ".join(sorted(TASK_METRICS[task]))
            raise ValueError(f"training.metric {self.training.metric!r} does not fit a {task} task ({allowed})")
        reserved = sorted({*self.data.columns, self.data.target.column} & set(CAPTURE_COLUMNS))
        if reserved:
            raise ValueError(f"data columns {reserved} clash with the request log's own columns {CAPTURE_COLUMNS}")
        return self


class ConfigError(MlopsError):
    """mlops.yaml is missing, not YAML, or does not match the schema; str() names file and fields."""


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: {err.error_count()} problem(s)"]
    for e in err.errors():
        got = "" if e["type"] == "missing" else f" (got {_short(e['input'])})"
        lines.append(f"  {_location(e['loc'])}: {e['msg']}{got}")
    return "\n".join(lines)


def load_config(path: Path | str = CONFIG_FILE) -> Config:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (run from the project root)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def json_schema() -> str:
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlops.yaml"
    return json.dumps(schema, indent=2) + "\n"
