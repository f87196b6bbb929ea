"""mlcd.io/v1alpha1: TrainingRun and ModelDeployment."""

from mlcd.api.v1alpha1.conditions import Condition
from mlcd.api.v1alpha1.modeldeployment import ModelDeployment, ModelDeploymentSpec, ModelDeploymentStatus
from mlcd.api.v1alpha1.trainingrun import TrainingRun, TrainingRunSpec, TrainingRunStatus

GROUP = "mlcd.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Condition",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "TrainingRun",
    "TrainingRunSpec",
    "TrainingRunStatus",
]
