"""KServe, as mlcd sees it: the InferenceService it builds and the readiness it reads. Pure."""

from mlcd.kserve.inferenceservice import (
    API_VERSION,
    DEPLOYMENT_MODE_ANNOTATION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    build_inferenceservice,
    controlled_by,
    merge_patch,
    needs_update,
    normalise_mode,
    supports_canary,
)
from mlcd.kserve.status import Readiness, model_load_failure, readiness

__all__ = [
    "API_VERSION",
    "DEPLOYMENT_MODE_ANNOTATION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Readiness",
    "build_inferenceservice",
    "controlled_by",
    "merge_patch",
    "model_load_failure",
    "needs_update",
    "normalise_mode",
    "readiness",
    "supports_canary",
]
