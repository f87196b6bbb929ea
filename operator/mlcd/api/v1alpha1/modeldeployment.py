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
    uri: ModelURI = Field(description="The model version's folder, e.g. s3://models/iris/v3 (holds model.joblib).")
    format: Literal["sklearn"] = "sklearn"
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$",
        description="sha256 of the version's model.joblib as recorded at registration (set by the TrainingRun "
                    "hand-off). The server refuses a file with another digest before unpickling it; unlike "
                    "metadata.json, this copy cannot be changed by whoever can write the bucket.")


class Resources(SpecModel):
    requests: dict[str, Quantity] = Field(
        default_factory=dict, description="Resources the predictor asks for, e.g. cpu: 100m, memory: 256Mi.")
    limits: dict[str, Quantity] = Field(
        default_factory=dict, description="Most the predictor may use, e.g. cpu: '1', memory: 1Gi.")


class Serving(SpecModel):
    protocol_version: Literal["v1", "v2"] = Field(default="v2", description="KServe's v1 or Open Inference (v2).")
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=3, ge=1)
    service_account_name: K8sName | None = Field(
        default=None, description="ServiceAccount whose Secret carries the S3 credentials, the KServe way."
    )
    deployment_mode: DeploymentMode = Field(
        default="Serverless", description="KServe deployment mode; canaries need Serverless (Knative)."
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "100m", "memory": "256Mi"}, limits={"cpu": "1", "memory": "1Gi"}
        )
    )
    runtime: K8sName = Field(
        default=DEFAULT_RUNTIME,
        description="KServe ServingRuntime or ClusterServingRuntime that serves the model (predictor.model.runtime). "
                    "mlcd-sklearn, the chart's, runs mlcd's own server with the library versions that trained the "
                    "model, and the operator checks them before deploying; with another runtime it cannot.")
    scale_target: int | None = Field(
        default=None, ge=1,
        description="KServe's scaleTarget: the autoscaler's target value of scaleMetric per replica (e.g. 10 "
                    "concurrent requests, or 80 percent CPU). Unset: KServe's default.")
    scale_metric: ScaleMetric | None = Field(
        default=None, description="KServe's scaleMetric: what the autoscaler watches (cpu, memory, concurrency, rps). "
                                  "Unset: KServe's default (concurrency in Serverless mode, cpu otherwise).")
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES, ge=1024, le=1 << 30,
        description="Largest request body the mlcd-sklearn server reads, in bytes; a larger one is refused with "
                    "HTTP 413 before it is read, so it cannot hold up other requests.")

    @model_validator(mode="after")
    def _replicas(self):
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}")
        return self


class Rollout(SpecModel):
    canary_traffic_percent: int = Field(default=10, ge=0, le=100, description="Traffic share of a new model first.")
    rollback_on_failure: bool = Field(default=True, description="Roll a canary back that is not Ready in time.")
    progress_deadline_seconds: int = Field(default=600, ge=1)
    stable_seconds: int = Field(default=60, ge=0, description="How long a Ready canary is watched before promotion.")


class ModelDeploymentSpec(SpecModel):
    model: ModelSource
    serving: Serving = Field(default_factory=Serving)
    rollout: Rollout = Field(default_factory=Rollout)


class Traffic(StatusModel):
    active: int = 100
    canary: int = 0


class ModelDeploymentStatus(ConditionedStatus):
    observed_generation: int | None = None
    phase: DeploymentPhase | None = None
    message: str | None = None
    url: str | None = None
    active_model: str | None = None
    active_model_sha256: str | None = Field(default=None, description="sha256 of the active model's model.joblib.")
    canary_model: str | None = None
    canary_model_sha256: str | None = Field(default=None, description="sha256 of the canary's model.joblib.")
    traffic: Traffic | None = None
    canary_since: str | None = None
    canary_ready_since: str | None = None
    conditions: list[Condition] = conditions_field()


class ModelDeployment(SpecModel):
    api_version: Literal["mlcd.io/v1alpha1"]
    kind: Literal["ModelDeployment"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = Field(default=None, exclude=True)
