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
    """What the check-data step requires before anything is trained; a broken rule fails the run."""

    min_rows: int = Field(default=10, ge=1, description="Fewer rows than this fail the run (rows; default 10).")
    max_missing_fraction: float = Field(
        default=0.0, ge=0.0, le=1.0,
        description="Largest share of missing values allowed in any feature or the target column, from 0 to 1 "
                    "(default 0: no missing value allowed).")


class DataSpec(SpecModel):
    """Where the training data comes from and how it is split."""

    source: DataURI = Field(description=(
        "builtin://NAME (a dataset shipped with scikit-learn: iris, wine, breast_cancer, digits, diabetes), "
        "s3://BUCKET/KEY (csv or parquet) or file:///PATH."))
    format: Literal["csv", "parquet"] | None = Field(
        default=None, description="File format, csv or parquet; by default taken from the file's extension."
    )
    target: str = Field(default="target", min_length=1, description="The label column (default target).")
    features: list[str] = Field(default_factory=list, description=(
        "Feature columns, in order; empty (the default) means every column but the target."))
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0, description=(
        "Share of rows held out for evaluation and the gates, between 0 and 1 exclusive (default 0.2)."))
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description=(
        "Random seed of the split and the estimator: the same seed and data give the same split and model "
        "(default 42)."))
    checks: DataChecks = Field(default_factory=DataChecks, description=(
        "Rules the data must meet before training (default: at least 10 rows, no missing values)."))


class Preprocessing(SpecModel):
    """Steps put in front of the estimator in one scikit-learn Pipeline, so serving applies them too."""

    scale: bool = Field(default=False, description="Standardise numeric features to zero mean, unit variance "
                                                   "(default false).")
    impute: Literal["none", "mean", "median", "most_frequent"] = Field(
        default="none", description="How missing numeric values are filled: none, mean, median or most_frequent "
                                    "(default none)."
    )
    one_hot: list[str] = Field(default_factory=list, description="Categorical columns to one-hot encode "
                                                                 "(default none).")


class ModelSpec(SpecModel):
    """The estimator to train and its parameters."""

    estimator: str = Field(
        min_length=1, description="Class name of a scikit-learn classifier or regressor, e.g. RandomForestClassifier."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description=(
            "Constructor parameters of the estimator, checked against its get_params() and parameter "
            "constraints (default: scikit-learn's defaults).")
    )
    preprocessing: Preprocessing = Field(default_factory=Preprocessing, description=(
        "Scaling, imputation and one-hot encoding before the estimator (default: none)."))


class ChampionComparison(SpecModel):
    """A gate against the champion: the model now registered as the one to serve."""

    max_regression: float = Field(
        default=0.0, ge=0.0, description=(
            "How much worse than the champion the metric may be, in the metric's unit (default 0: at least as "
            "good). Worse means lower, or higher for rmse, mae and log_loss.")
    )


class Gate(SpecModel):
    """One test the trained model must pass to be registered: bounds on a metric, or the champion, or both."""

    model_config = SpecModel.model_config | {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "has(self.min) || has(self.max) || has(self.vsChampion)",
         "message": "a gate needs min, max or vsChampion"},
        {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
         "message": "min must not be above max", "fieldPath": ".min"},
    ]}}

    metric: str = Field(min_length=1, description=(
        "The metric, measured on the held-out rows: accuracy, f1_macro, precision_macro, recall_macro, roc_auc or "
        "log_loss for a classifier; r2, rmse or mae for a regressor."))
    min: float | None = Field(default=None, description=(
        "The metric must be at least this (inclusive), in the metric's unit; no lower bound when unset."))
    max: float | None = Field(default=None, description=(
        "The metric must be at most this (inclusive), in the metric's unit; no upper bound when unset."))
    vs_champion: ChampionComparison | None = Field(default=None, description=(
        "The metric must not be worse than the champion's by more than maxRegression; passes while there is "
        "no champion."))

    @model_validator(mode="after")
    def _one_test(self):
        if self.min is None and self.max is None and self.vs_champion is None:
            raise ValueError("a gate needs min, max or vsChampion")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RegistrySpec(SpecModel):
    """Where the versions of the model are kept."""

    uri: RegistryURI | None = Field(
        default=None, description=(
            "s3://BUCKET/PREFIX or file:///PATH; versions land at URI/vN/. Default: the operator's "
            "MLCD_REGISTRY_BASE/NAMESPACE/NAME, or $MLCD_HOME/registry/NAME for local runs.")
    )


class DeploySpec(SpecModel):
    """What happens to a model version that passed its gates."""

    model_deployment: K8sName | None = Field(
        default=None, description=(
            "Name of the ModelDeployment in this namespace handed the new version; created when missing. "
            "No hand-off when unset.")
    )


class DriftSpec(SpecModel):
    """Retrain when recent data has drifted from the data the champion was trained on."""

    current: ObjectURI = Field(description=(
        "s3://BUCKET/KEY or file:///PATH of recent data (csv or parquet) compared with the champion's training "
        "data; checked again whenever it or the champion changes."))
    method: Literal["psi", "ks"] = Field(default="psi", description=(
        "How each feature is scored: psi (population stability index) or ks (Kolmogorov-Smirnov statistic); "
        "default psi."))
    threshold: float = Field(default=0.2, gt=0.0, description=(
        "A feature whose score is above this has drifted (unitless; default 0.2, a common PSI alarm level)."))


class RetrainSpec(SpecModel):
    """When the operator trains again by itself: on a schedule, when the data changes, or on drift."""

    schedule: CronSchedule | None = Field(default=None, description=(
        "Cron schedule of five fields (minute hour day month weekday), as a CronJob's; no scheduled retraining "
        "when unset."))
    time_zone: TimeZoneName = Field(default="UTC", description=(
        "IANA time zone the schedule is read in, e.g. Europe/Berlin (default UTC)."))
    on_data_change: bool = Field(default=False, description=(
        "Retrain when spec.data.source changes (its ETag or version; default false)."))
    poll_seconds: int = Field(default=300, ge=10, description=(
        "How often the data and drift are checked, in seconds (at least 10; default 300)."))
    drift: DriftSpec | None = Field(default=None, description="Retrain on drift; no drift check when unset.")
    concurrency_policy: Literal["Forbid", "Replace"] = Field(default="Forbid", description=(
        "A trigger due while a run is in flight: Forbid waits for the run to end, Replace stops it and starts "
        "the new one (default Forbid)."))
    min_interval_seconds: int = Field(default=0, ge=0, description=(
        "Least time between two retraining runs, in seconds; triggers due sooner wait (default 0)."))
    starting_deadline_seconds: int | None = Field(default=None, ge=0, description=(
        "A scheduled slot missed by more than this many seconds is skipped, as a CronJob's; no deadline when "
        "unset."))
    history_limit: int = Field(default=10, ge=1, le=100, description=(
        "How many retraining runs status.retrain.history keeps, 1 to 100 (default 10)."))


class TrainingRunSpec(SpecModel):
    """Data in, a gated, versioned scikit-learn model out."""

    data: DataSpec = Field(description="The training data and how it is split and checked.")
    model: ModelSpec = Field(description="The scikit-learn estimator, its parameters and preprocessing.")
    gates: list[Gate] = Field(default_factory=list, description=(
        "Tests the model must all pass to be registered; none (the default) registers every model."))
    registry: RegistrySpec = Field(default_factory=RegistrySpec, description="Where model versions are kept.")
    deploy: DeploySpec = Field(default_factory=DeploySpec, description=(
        "Where a registered version is handed for serving (default: nowhere)."))
    retrain: RetrainSpec | None = Field(default=None, description=(
        "Retrain on a schedule, on data change or on drift; trains once when unset."))
    delete_policy: Literal["keep", "stopRuns"] = Field(
        default="keep", description=(
            "On delete: keep (the default) lets an in-flight pipeline run finish; stopRuns stops it first.")
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
    """The pipeline run of the current generation or trigger, as the backend knows it."""

    spec_hash: str | None = Field(default=None, description="Hash of the compiled pipeline the run was made from.")
    registry_uri: str | None = Field(default=None, description="The registry the run registers into.")
    run_name: str | None = Field(default=None, description=(
        "Deterministic run name, from namespace, name, generation and trigger: looked up before submitting."))
    run_id: str | None = Field(default=None, description="The backend's id of the run.")
    run_url: str | None = Field(default=None, description="Where the run can be seen (the KFP UI, or a local folder).")
    trigger: str | None = Field(default=None, description="What started the run: the generation, or a retrain key.")
    generation: int | None = Field(default=None, description="The metadata.generation the run trains.")


class GateResult(StatusModel):
    """How the model did against one test of one gate."""

    metric: str = Field(description="The metric the gate tests.")
    passed: bool = Field(description="Whether the model passed this test.")
    value: float | None = Field(default=None, description="The model's value of the metric.")
    threshold: float | None = Field(default=None, description=(
        "The bound tested: min, max, or the champion's value less (or plus) maxRegression."))
    message: str = Field(default="", description="The verdict in words, e.g. accuracy 0.97 passes >= 0.9.")


class ModelRef(StatusModel):
    """The model version this TrainingRun registered."""

    uri: str = Field(description="The version's folder, e.g. s3://models/iris/v3.")
    version: int = Field(description="The version number N of URI/vN.")
    sha256: str | None = Field(default=None, description="sha256 of the registered model.joblib, handed off with it.")


class RetrainRecord(StatusModel):
    """What started the latest retraining, with the drift evidence when drift did."""

    reason: str = Field(description="schedule, data or drift.")
    at: str = Field(description="When the trigger was due (RFC 3339).")
    psi: float | None = Field(default=None, description="Largest population stability index over the features.")
    ks: float | None = Field(default=None, description="Largest Kolmogorov-Smirnov statistic over the features.")
    feature: str | None = Field(default=None, description="The feature that drifted most.")
    message: str = Field(default="", description="The trigger in words.")
    method: Literal["psi", "ks"] | None = Field(default=None, description="How drift was scored (spec.retrain.drift).")
    threshold: float | None = Field(default=None, description="The drift threshold the scores were held against.")
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
    """A due trigger, recorded before its run is submitted."""

    key: str = Field(description="schedule-EPOCH, data-HASH or drift-HASH: the same trigger always names the same run.")
    reason: Literal["schedule", "data", "drift"] = Field(description="What is due: schedule, data or drift.")
    at: str = Field(description="When the trigger was due (RFC 3339).")
    message: str = Field(default="", description="The trigger in words.")
    replaces: str | None = Field(default=None, description="The run in flight that concurrencyPolicy Replace stops.")


class RetrainHistoryEntry(StatusModel):
    """One retraining run and how it ended."""

    key: str = Field(description="The trigger key that named the run.")
    reason: Literal["schedule", "data", "drift"] = Field(description="What started it: schedule, data or drift.")
    at: str = Field(description="When its trigger was due (RFC 3339).")
    run_name: str | None = Field(default=None, description="The pipeline run's name.")
    phase: str | None = Field(default=None, description="How the run ended (or Replaced); empty while in flight.")
    model_version: int | None = Field(default=None, description="The version it registered, if any.")


class RetrainStatus(StatusModel):
    """Where retraining stands: written before a run is submitted, so no trigger ever starts two runs."""

    pending_trigger: RetrainTrigger | None = Field(
        default=None, description="Recorded before its run is submitted; cleared once the run is.")
    last_trigger_key: str | None = Field(default=None, description="Key of the last trigger that started a run.")
    schedule: str | None = Field(default=None, description="The cron schedule and time zone scheduledSince is for.")
    scheduled_since: str | None = Field(
        default=None, description="Slots after this time are due: the last slot handled, or when the schedule was "
                                  "first seen.")
    data_fingerprint: str | None = Field(
        default=None, description="Fingerprint of spec.data.source the last retraining was for (or first seen).")
    checked_at: str | None = Field(default=None, description="When data and drift were last checked.")
    last_drift_check: DriftCheck | None = Field(default=None, description="The last drift check, drift or not.")
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
    """What the operator observed and did; written by the operator only."""

    observed_generation: int | None = Field(default=None, description="The metadata.generation this status is for.")
    phase: Phase | None = Field(default=None, description=(
        "Pending, Running, Succeeded, Rejected (a gate failed), Failed or Invalid (the spec is wrong)."))
    message: str | None = Field(default=None, description="The phase in words, or what to fix.")
    conditions: list[Condition] = conditions_field(
        "Standard conditions, one per type: Valid, Compiled, Submitted, Trained, GatesPassed, HandedOff, "
        "Retraining and the summary Ready.")
    pipeline: PipelineRef | None = Field(default=None, description="The pipeline run of this generation or trigger.")
    metrics: dict[str, float] = Field(default_factory=dict, description=(
        "Metrics of the last trained model on the held-out rows, by name."))
    gates: list[GateResult] = Field(default_factory=list, description="The result of each test of each gate.")
    model: ModelRef | None = Field(default=None, description="The model version registered by the last run.")
    last_retrain: RetrainRecord | None = Field(default=None, description="What started the latest retraining.")
    next_scheduled_run: str | None = Field(default=None, description="When the schedule next retrains (RFC 3339).")
    retrain: RetrainStatus | None = Field(default=None, description="Retraining bookkeeping: triggers and history.")
    key_metric: str | None = Field(default=None, description="name=value of the metric shown by kubectl get.")
    submitted_at: str | None = Field(default=None, description="When the current run was submitted (RFC 3339).")
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
