"""The words mlcd writes into status and Events: phases, condition types, condition reasons, Event reasons.

Declared once, as KServe (`InferenceServiceReady`, `PredictorReady`) and Kubeflow Trainer
(`TrainJobSuspendedReason`) declare theirs, and imported everywhere else: a dashboard, an alert or a
`kubectl wait --for=condition=...` relies on these strings, so a typo must be an import error, not a
silent new word. A new condition or reason is one line here; `tests/unit/test_vocabulary.py` keeps
the values CamelCase and unique within their group.

Each group is a plain class of string constants (no Enum: the values go onto the wire as they are).
"""

from __future__ import annotations


class EventType:
    NORMAL = "Normal"
    WARNING = "Warning"


class Status:
    """metav1.ConditionStatus."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class TrainingRunPhase:
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    REJECTED = "Rejected"  # trained, but a gate refused the model
    FAILED = "Failed"
    INVALID = "Invalid"

    IN_FLIGHT = (PENDING, RUNNING)
    TERMINAL = (SUCCEEDED, REJECTED, FAILED)


class DeploymentPhase:
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    READY = "Ready"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class TrainingRunCondition:
    """status.conditions[].type of a TrainingRun, in the order a run passes them."""

    VALID = "Valid"
    COMPILED = "Compiled"
    SUBMITTED = "Submitted"
    TRAINED = "Trained"
    GATES_PASSED = "GatesPassed"
    HANDED_OFF = "HandedOff"
    RETRAINING = "Retraining"
    STORAGE_READY = "StorageReady"  # the namespace's storage identity (its Secret) is there
    READY = "Ready"


class ModelDeploymentCondition:
    """status.conditions[].type of a ModelDeployment."""

    READY = "Ready"
    ROLLED_OUT = "RolledOut"
    CANARY_READY = "CanaryReady"
    CREDENTIALS_READY = "CredentialsReady"
    CHAMPION_RECORDED = "ChampionRecorded"  # the active model is its registry's champion
    RUNTIME_COMPATIBLE = "RuntimeCompatible"  # the runtime can load spec.model's version


class Reason:
    """status.conditions[].reason: why a condition has its status."""

    # TrainingRun: the spec and its run
    SPEC_VALID = "SpecValid"
    INVALID_SPEC = "InvalidSpec"
    COMPILED = "Compiled"
    RUN_SUBMITTED = "RunSubmitted"
    RUN_ADOPTED = "RunAdopted"
    BACKEND_UNAVAILABLE = "BackendUnavailable"
    QUEUED = "Queued"  # the operator's cap on runs in flight is reached: the trigger waits its turn
    PIPELINES_ACCESS_DENIED = "PipelinesAccessDenied"  # KFP said 401/403: a token or a RoleBinding is missing
    RUN_IN_PROGRESS = "RunInProgress"
    RUN_SUCCEEDED = "RunSucceeded"
    RUN_FAILED = "RunFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"  # the run went past spec.timeouts.runSeconds and was stopped
    GATES_PASSED = "GatesPassed"
    GATE_FAILED = "GateFailed"
    HANDED_OFF = "HandedOff"
    # TrainingRun: retraining (the Retraining condition)
    SCHEDULE_DUE = "ScheduleDue"
    DATA_CHANGED = "DataChanged"
    DRIFT_DETECTED = "DriftDetected"
    RETRAINING = "Retraining"
    RUN_IN_FLIGHT = "RunInFlight"
    COOLING_DOWN = "CoolingDown"
    WAITING = "Waiting"
    # ModelDeployment: the rollout
    INFERENCE_SERVICE_READY = "InferenceServiceReady"
    UPDATE_PENDING = "UpdatePending"
    ROLLED_OUT = "RolledOut"
    DEPLOYING = "Deploying"
    PROMOTED = "Promoted"
    CANARY_IN_PROGRESS = "CanaryInProgress"
    CANARY_READY = "CanaryReady"
    CANARY_NOT_READY = "CanaryNotReady"
    NO_CANARY = "NoCanary"
    CANARY_NOT_SUPPORTED = "CanaryNotSupported"
    MODEL_LOAD_FAILED = "ModelLoadFailed"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    # ModelDeployment: the credentials KServe will use
    CREDENTIALS_FOUND = "CredentialsFound"
    CREDENTIALS_INVALID = "CredentialsInvalid"
    CREDENTIALS_NOT_READY = "CredentialsNotReady"
    NO_SERVICE_ACCOUNT = "NoServiceAccount"
    # Tenancy: the namespace's storage identity (StorageReady), ownership of the InferenceService
    SECRET_FOUND = "SecretFound"
    SECRET_MISSING = "SecretMissing"
    SECRET_UNREADABLE = "SecretUnreadable"
    SECRET_INVALID = "SecretInvalid"
    NO_OBJECT_STORAGE = "NoObjectStorage"
    INFERENCE_SERVICE_CONFLICT = "InferenceServiceConflict"
    # ModelDeployment: the champion's bookkeeping (ChampionRecorded)
    CHAMPION_RECORDED = "Recorded"
    CHAMPION_WRITE_FAILED = "ChampionWriteFailed"
    NOT_IN_REGISTRY = "NotInRegistry"
    # ModelDeployment: what it asked for could not be made
    REFUSED_BY_API_SERVER = "RefusedByApiServer"  # the API server answered 400/422 to the InferenceService
    # ModelDeployment: can the runtime load the version (RuntimeCompatible; Ready=False when it cannot)
    RUNTIME_COMPATIBLE = "RuntimeCompatible"
    RUNTIME_INCOMPATIBLE = "RuntimeIncompatible"
    OTHER_RUNTIME = "OtherRuntime"
    METADATA_UNREADABLE = "MetadataUnreadable"
    VERSIONS_NOT_RECORDED = "VersionsNotRecorded"


class EventReason:
    """Kubernetes Event reasons: one per transition worth telling (`kubectl describe`, `kubectl get events`)."""

    # TrainingRun
    INVALID_SPEC = Reason.INVALID_SPEC
    RUN_SUBMITTED = Reason.RUN_SUBMITTED
    RUN_ADOPTED = Reason.RUN_ADOPTED
    RUN_STARTED = "RunStarted"
    RUN_SUCCEEDED = Reason.RUN_SUCCEEDED
    RUN_FAILED = Reason.RUN_FAILED
    DEADLINE_EXCEEDED = Reason.DEADLINE_EXCEEDED
    RUN_REPLACED = "RunReplaced"
    GATE_FAILED = Reason.GATE_FAILED
    HANDED_OFF = Reason.HANDED_OFF
    BACKEND_UNAVAILABLE = Reason.BACKEND_UNAVAILABLE
    QUEUED = Reason.QUEUED
    PIPELINES_ACCESS_DENIED = Reason.PIPELINES_ACCESS_DENIED
    RETRAIN_TRIGGERED = "RetrainTriggered"
    RETRAIN_CHECK_FAILED = "RetrainCheckFailed"
    SCHEDULE_MISSED = "ScheduleMissed"
    NO_DRIFT = "NoDrift"
    DRIFT_DETECTED = Reason.DRIFT_DETECTED
    DRIFT_PERSISTS = "DriftPersists"
    # ModelDeployment
    DEPLOYING = Reason.DEPLOYING
    DEPLOYED = "Deployed"
    CANARY_STARTED = "CanaryStarted"
    CANARY_SUPERSEDED = "CanarySuperseded"
    CANARY_CANCELLED = "CanaryCancelled"
    CANARY_FAILED = "CanaryFailed"
    CANARY_NOT_SUPPORTED = Reason.CANARY_NOT_SUPPORTED
    PROMOTED = Reason.PROMOTED
    ROLLED_BACK = "RolledBack"
    MODEL_LOAD_FAILED = Reason.MODEL_LOAD_FAILED
    PROGRESS_DEADLINE_EXCEEDED = Reason.PROGRESS_DEADLINE_EXCEEDED
    CREDENTIALS_NOT_READY = Reason.CREDENTIALS_NOT_READY
    CHAMPION_SET = "ChampionSet"
    CHAMPION_NOT_SET = "ChampionNotSet"
    CHAMPION_SKIPPED = "ChampionSkipped"
    INFERENCE_SERVICE_CONFLICT = Reason.INFERENCE_SERVICE_CONFLICT
    # Tenancy
    SECRET_MISSING = Reason.SECRET_MISSING
    SECRET_UNREADABLE = Reason.SECRET_UNREADABLE
    SECRET_INVALID = Reason.SECRET_INVALID
    REFUSED_BY_API_SERVER = Reason.REFUSED_BY_API_SERVER
    RUNTIME_INCOMPATIBLE = Reason.RUNTIME_INCOMPATIBLE


def words(group: type) -> dict[str, str]:
    """The constants of a group, by name (tests check them; docs can list them)."""
    return {name: value for name, value in vars(group).items() if name.isupper() and isinstance(value, str)}
