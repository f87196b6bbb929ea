"""ModelDeployment: a registered model served by KServe, rolled out as a canary."""

from typing import Literal

from pydantic import Field, model_validator

from mlcd.api.v1alpha1.base import SpecModel, StatusModel
from mlcd.api.v1alpha1.conditions import Condition, ConditionedStatus, conditions_field
from mlcd.api.v1alpha1.fields import K8sName, ModelURI, Quantity
from mlcd.api.v1alpha1.trainingrun import ObjectMeta

DeploymentPhase = Literal["Pending", "Progressing", "Ready", "RolledBack", "Failed"]
DeploymentMode = Literal["Serverless", "Knative", "RawDeployment", "Standard"]


DEFAULT_RUNTIME = "mlcd-sklearn"  # the ClusterServingRuntime the chart ships (servingRuntime.enabled)
DEFAULT_MAX_REQUEST_BYTES = 4 << 20
ScaleMetric = Literal["cpu", "memory", "concurrency", "rps"]


class ModelSource(SpecModel):
    """The model version to serve."""

    uri: ModelURI = Field(description=(
        "The model version's folder, e.g. s3://models/iris/v3 (holds model.joblib); s3, gs, pvc, https and file "
        "URIs, as KServe's storage initializer reads them."))
    format: Literal["sklearn"] = Field(default="sklearn", description="The model's format: sklearn (the default).")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the version's model.joblib as recorded at registration (set by the TrainingRun "
                    "hand-off). The server refuses a file with another digest before unpickling it; unlike "
                    "metadata.json, this copy cannot be changed by whoever can write the bucket.")


class Resources(SpecModel):
    """CPU and memory of the predictor container, as a Pod's resources."""

    requests: dict[str, Quantity] = Field(
        default_factory=dict, description="Resources the predictor asks for, e.g. cpu: 100m, memory: 256Mi.")
    limits: dict[str, Quantity] = Field(
        default_factory=dict, description="Most the predictor may use, e.g. cpu: '1', memory: 1Gi.")


class Serving(SpecModel):
    """How KServe serves the model."""

    model_config = SpecModel.model_config | {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "self.minReplicas <= self.maxReplicas",
         "message": "minReplicas must not be above maxReplicas", "fieldPath": ".minReplicas"},
    ]}}

    protocol_version: Literal["v1", "v2"] = Field(default="v2", description=(
        "KServe's v1 protocol or Open Inference (v2), the default."))
    min_replicas: int = Field(default=1, ge=0, description=(
        "Fewest predictor replicas (default 1; 0 lets Knative scale to zero); at most maxReplicas."))
    max_replicas: int = Field(default=3, ge=1, description="Most predictor replicas (default 3).")
    service_account_name: K8sName | None = Field(
        default=None, description="ServiceAccount whose Secret carries the S3 credentials, the KServe way."
    )
    deployment_mode: DeploymentMode = Field(
        default="Serverless", description=(
            "KServe deployment mode: Serverless (Knative; the default), Knative, RawDeployment or Standard; "
            "canaries need Serverless (Knative).")
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "100m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "1Gi"}
        ),
        description="Predictor container resources (default: requests 100m CPU, 256Mi; limits 1 CPU, 1Gi).",
    )
    runtime: K8sName = Field(
        default=DEFAULT_RUNTIME,
        description="KServe ServingRuntime or ClusterServingRuntime that serves the model (predictor.model.runtime). "
                    f"{DEFAULT_RUNTIME} (the default), the chart's, runs mlcd's own server with the library versions "
                    "that trained the model, and the operator checks them before deploying; with another runtime "
                    "it cannot.")
    scale_target: int | None = Field(
        default=None, ge=1,
        description="KServe's scaleTarget: the autoscaler's target value of scaleMetric per replica (e.g. 10 "
                    "concurrent requests, or 80 percent CPU). Unset: KServe's default.")
    scale_metric: ScaleMetric | None = Field(
        default=None, description="KServe's scaleMetric: what the autoscaler watches (cpu, memory, concurrency, rps). "
                                  "Unset: KServe's default (concurrency in Serverless mode, cpu otherwise).")
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES, ge=1024, le=1 << 30,
        description="Largest request body the mlcd-sklearn server reads, in bytes (default "
                    f"{DEFAULT_MAX_REQUEST_BYTES}, {DEFAULT_MAX_REQUEST_BYTES >> 20} MiB); a larger one is refused "
                    "with HTTP 413 before it is read, so it cannot hold up other requests.")

    @model_validator(mode="after")
    def _replicas(self):
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}")
        return self


class Rollout(SpecModel):
    """How a new model version takes over from the one serving."""

    canary_traffic_percent: int = Field(default=10, ge=0, le=100, description=(
        "Percent of traffic a new model takes first, 0 to 100 (default 10; 100 replaces the model at once)."))
    rollback_on_failure: bool = Field(default=True, description=(
        "Roll back a canary that is not Ready within progressDeadlineSeconds (default true)."))
    progress_deadline_seconds: int = Field(default=600, ge=1, description=(
        "Seconds a canary has to become Ready before it counts as failed (default 600)."))
    stable_seconds: int = Field(default=60, ge=0, description=(
        "Seconds a Ready canary is watched before it is promoted to all traffic (default 60)."))


class ModelDeploymentSpec(SpecModel):
    """A registered model served by KServe, rolled out as a canary."""

    model: ModelSource = Field(description="The model version to serve; a change rolls it out as a canary.")
    serving: Serving = Field(default_factory=Serving, description="How KServe serves it.")
    rollout: Rollout = Field(default_factory=Rollout, description="How a new version takes over.")


class Traffic(StatusModel):
    """The split of traffic between the serving model and the canary."""

    active: int = Field(default=100, description="Percent of traffic to the active model.")
    canary: int = Field(default=0, description="Percent of traffic to the canary.")


class ModelDeploymentStatus(ConditionedStatus):
    """What the operator observed and did; written by the operator only."""

    observed_generation: int | None = Field(default=None, description="The metadata.generation this status is for.")
    phase: DeploymentPhase | None = Field(default=None, description=(
        "Pending, Progressing (a canary is on trial), Ready, RolledBack or Failed."))
    message: str | None = Field(default=None, description="The phase in words, or what to fix.")
    url: str | None = Field(default=None, description="The InferenceService's URL.")
    active_model: str | None = Field(default=None, description="URI of the model taking the traffic.")
    active_model_sha256: str | None = Field(default=None, description="sha256 of the active model's model.joblib.")
    canary_model: str | None = Field(default=None, description="URI of the model under trial.")
    canary_model_sha256: str | None = Field(default=None, description="sha256 of the canary's model.joblib.")
    traffic: Traffic | None = Field(default=None, description="The traffic split, in percent.")
    canary_since: str | None = Field(default=None, description="When the canary was rolled out (RFC 3339).")
    canary_ready_since: str | None = Field(default=None, description="When the canary became Ready (RFC 3339).")
    champion_model: str | None = Field(
        default=None, description="The model this ModelDeployment last recorded as its registry's champion.")
    conditions: list[Condition] = conditions_field("Standard conditions, one per type, with the summary Ready.")


class ModelDeployment(SpecModel):
    api_version: Literal["mlcd.io/v1alpha1"]
    kind: Literal["ModelDeployment"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = Field(default=None, exclude=True)
