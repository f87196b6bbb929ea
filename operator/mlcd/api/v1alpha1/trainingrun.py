"""TrainingRun: data in, a gated, versioned scikit-learn model out."""

from typing import Any, Literal

from pydantic import Field, model_validator

from mlcd.api.v1alpha1.base import SpecModel, StatusModel
from mlcd.api.v1alpha1.conditions import Condition, ConditionedStatus, conditions_field
from mlcd.api.v1alpha1.fields import (
    CronSchedule,
    DataURI,
    K8sName,
    ObjectName,
    ObjectURI,
    RegistryURI,
    TimeZoneName,
)
from mlcd.api.v1alpha1.resources import NodeSelector, ResourcesSpec, TimeoutsSpec, Toleration
from mlcd.api.v1alpha1.tuning import TuningSpec

Phase = Literal["Pending", "Running", "Succeeded", "Rejected", "Failed", "Invalid"]


class DataChecks(SpecModel):
    """What the check-data step requires before anything is trained."""

    min_rows: int = Field(default=10, ge=1, description="Fewer rows than this fail the run.")
    max_missing_fraction: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Largest share of missing values allowed in any column."
    )


class DataSpec(SpecModel):
    source: DataURI = Field(description="builtin://NAME, s3://BUCKET/KEY (csv or parquet) or file:///PATH.")
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="File format; by default taken from the extension."
    )
    target: str = Field(default="target", min_length=1, description="The label column.")
    features: list[str] = Field(default_factory=list, description="Feature columns; empty means all but target.")
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0, description="Share of rows held out for evaluation.")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="Same seed and data give the same split and model.")
    checks: DataChecks = Field(default_factory=DataChecks)


class Preprocessing(SpecModel):
    scale: bool = Field(default=False, description="Standardise numeric features.")
    impute: Literal["none", "mean", "median", "most_frequent"] = Field(
        default="none", description="Fill missing numeric values."
    )
    one_hot: list[str] = Field(default_factory=list, description="Categorical columns to one-hot encode.")


class ModelSpec(SpecModel):
    estimator: str = Field(
        min_length=1, description="Class name of a scikit-learn classifier or regressor, e.g. RandomForestClassifier."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Constructor parameters, checked against the estimator's get_params()."
    )
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)


class ChampionComparison(SpecModel):
    max_regression: float = Field(
        default=0.0, ge=0.0, description="How much worse than the serving champion the metric may be."
    )


class Gate(SpecModel):
    metric: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    vs_champion: ChampionComparison | None = None

    @model_validator(mode="after")
    def _one_test(self):
        if self.min is None and self.max is None and self.vs_champion is None:
            raise ValueError("a gate needs min, max or vsChampion")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RegistrySpec(SpecModel):
    uri: RegistryURI | None = Field(
        default=None, description="Versions land at URI/vN/; local runs default to $MLCD_HOME/registry/NAME."
    )


class DeploySpec(SpecModel):
    model_deployment: K8sName | None = Field(
        default=None, description="ModelDeployment handed the new version; created when missing."
    )


class DriftSpec(SpecModel):
    current: ObjectURI = Field(description="The data to compare with the champion's training data.")
    method: Literal["psi", "ks"] = "psi"
    threshold: float = Field(default=0.2, gt=0.0)


class RetrainSpec(SpecModel):
    schedule: CronSchedule | None = None
    time_zone: TimeZoneName = "UTC"
    on_data_change: bool = False
    poll_seconds: int = Field(default=300, ge=10)
    drift: DriftSpec | None = None
    concurrency_policy: Literal["Forbid", "Replace"] = "Forbid"
    min_interval_seconds: int = Field(default=0, ge=0)
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    history_limit: int = Field(default=10, ge=1, le=100)


class TrainingRunSpec(SpecModel):
    data: DataSpec
    model: ModelSpec
    gates: list[Gate] = Field(default_factory=list)
    registry: RegistrySpec = Field(default_factory=RegistrySpec)
    deploy: DeploySpec = Field(default_factory=DeploySpec)
    retrain: RetrainSpec | None = None
    delete_policy: Literal["keep", "stopRuns"] = Field(
        default="keep", description="stopRuns stops an in-flight pipeline run when the TrainingRun is deleted."
    )
    tuning: TuningSpec | None = Field(
        default=None, description="A hyperparameter search whose best candidate is the model trained.")
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec, description="cpu, memory and accelerator of the steps.")
    node_selector: NodeSelector = Field(
        default_factory=dict, description="Node labels every step's Pod requires (the Pod's nodeSelector).")
    tolerations: list[Toleration] = Field(
        default_factory=list, description="Taints every step's Pod tolerates (the Pod's tolerations).")
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec, description="Limits on how long steps and runs take.")
    service_account_name: K8sName | None = Field(
        default=None,
        description="Kubernetes ServiceAccount in this namespace that the pipeline's steps run as (the KFP "
        "run's service_account). Empty: the operator's default (chart value operator.kfp.runServiceAccount), "
        "else KFP's own (default-editor in multi-user Kubeflow). Not used by the local backend.",
    )


class PipelineRef(StatusModel):
    spec_hash: str | None = None
    registry_uri: str | None = None
    run_name: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    trigger: str | None = None
    generation: int | None = None


class GateResult(StatusModel):
    metric: str
    passed: bool
    value: float | None = None
    threshold: float | None = None
    message: str = ""


class ModelRef(StatusModel):
    uri: str
    version: int
    sha256: str | None = Field(default=None, description="sha256 of the registered model.joblib, handed off with it.")


class RetrainRecord(StatusModel):
    reason: str
    at: str
    psi: float | None = None
    ks: float | None = None
    feature: str | None = None
    message: str = ""
    method: Literal["psi", "ks"] | None = Field(default=None, description="How drift was scored (spec.retrain.drift).")
    threshold: float | None = None
    drifted: bool | None = Field(default=None, description="The drift check's decision.")
    scores: dict[str, float] = Field(
        default_factory=dict, description="Drift score of each feature, by the method (mlcd.drift)."
    )
    key: str | None = Field(default=None, description="The trigger key, which names the run it started.")
    run_name: str | None = Field(default=None, description="The pipeline run the trigger started.")
    report: str | None = Field(default=None, description="URI of the drift check's HTML report (and .md beside it).")


class DriftCheck(RetrainRecord):
    """The last drift check, drift or not: redone only when the data or the champion changes."""

    fingerprint: str = Field(description="Fingerprint of the spec.retrain.drift.current data that was checked.")
    champion_version: int | None = Field(default=None, description="The champion version it was checked against.")


class RetrainTrigger(StatusModel):
    key: str = Field(description="schedule-EPOCH, data-HASH or drift-HASH: the same trigger always names the same run.")
    reason: Literal["schedule", "data", "drift"]
    at: str
    message: str = ""
    replaces: str | None = Field(default=None, description="The run in flight that concurrencyPolicy Replace stops.")


class RetrainHistoryEntry(StatusModel):
    key: str
    reason: Literal["schedule", "data", "drift"]
    at: str
    run_name: str | None = None
    phase: str | None = Field(default=None, description="How the run ended (or Replaced); empty while in flight.")
    model_version: int | None = None


class RetrainStatus(StatusModel):
    """Where retraining stands: written before a run is submitted, so no trigger ever starts two runs."""

    pending_trigger: RetrainTrigger | None = Field(
        default=None, description="Recorded before its run is submitted; cleared once the run is.")
    last_trigger_key: str | None = None
    schedule: str | None = Field(default=None, description="The cron schedule and time zone scheduledSince is for.")
    scheduled_since: str | None = Field(
        default=None, description="Slots after this time are due: the last slot handled, or when the schedule was "
                                  "first seen.")
    data_fingerprint: str | None = Field(
        default=None, description="Fingerprint of spec.data.source the last retraining was for (or first seen).")
    checked_at: str | None = Field(default=None, description="When data and drift were last checked.")
    last_drift_check: DriftCheck | None = None
    problem: str | None = Field(default=None, description="Why the last check of data or drift could not be made.")
    history: list[RetrainHistoryEntry] = Field(
        default_factory=list, description="Retraining runs, newest first, at most spec.retrain.historyLimit.")


class TuningResult(StatusModel):
    """The outcome of spec.tuning: the candidate that was trained."""

    best: dict[str, Any] = Field(default_factory=dict, description="The best candidate's parameters.")
    score: float | None = Field(default=None, description="Its mean cross-validated score on the metric.")
    metric: str | None = Field(default=None, description="The metric the search optimised.")
    trials: int | None = Field(default=None, description="How many candidates were scored.")


class TrainingRunStatus(ConditionedStatus):
    observed_generation: int | None = None
    phase: Phase | None = None
    message: str | None = None
    conditions: list[Condition] = conditions_field()
    pipeline: PipelineRef | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: list[GateResult] = Field(default_factory=list)
    model: ModelRef | None = None
    last_retrain: RetrainRecord | None = None
    next_scheduled_run: str | None = None
    retrain: RetrainStatus | None = None
    key_metric: str | None = Field(default=None, description="name=value of the metric shown by kubectl get.")
    submitted_at: str | None = None
    submit_attempts: int | None = Field(default=None, description="Failed attempts to reach the backend.")
    tuning: TuningResult | None = Field(default=None, description="The hyperparameter search's best candidate.")


class ObjectMeta(SpecModel):
    """The part of metadata mlcd reads; the API server owns the rest."""

    model_config = SpecModel.model_config | {"extra": "allow"}
    name: ObjectName = "local"
    namespace: K8sName = "default"
    generation: int | None = None


class TrainingRun(SpecModel):
    api_version: Literal["mlcd.io/v1alpha1"]
    kind: Literal["TrainingRun"]
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TrainingRunSpec
    status: TrainingRunStatus | None = Field(default=None, exclude=True)
