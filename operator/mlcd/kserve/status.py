"""Reading an InferenceService's status the way KServe writes it.

Ready means KServe's ``Ready`` condition is True AND ``status.observedGeneration`` has caught up with
``metadata.generation`` (a Ready written for the previous spec says nothing about the new one), which
is how KServe's own client waits for an InferenceService.
"""

from __future__ import annotations

from dataclasses import dataclass

# modelStatus values that mean the model server could not load the model (CRD enums).
_FAILED_TRANSITIONS = frozenset({"BlockedByFailedLoad", "InvalidSpec"})
_FAILED_STATE = "FailedToLoad"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    generation_current: bool
    reason: str
    message: str
    url: str | None = None
    deployment_mode: str | None = None
    latest_created_revision: str | None = None
    latest_ready_revision: str | None = None
    latest_revision_percent: int | None = None
    model_failed: bool = False
    failure: str = ""

    @property
    def latest_revision_ready(self) -> bool:
        """The newest revision KServe created is the one that became ready (Knative mode)."""
        return self.latest_created_revision is not None and (
            self.latest_created_revision == self.latest_ready_revision
        )

    def serves_share(self, percent: int) -> bool:
        """The latest revision takes ``percent`` of the traffic. Without a traffic list (Standard mode)
        there is one revision, serving everything."""
        if self.latest_revision_percent is None:
            return percent == 100
        return self.latest_revision_percent == percent


def readiness(isvc: dict | None) -> Readiness:
    if isvc is None:
        return Readiness(False, False, "NotFound", "the InferenceService does not exist")
    status = isvc.get("status") or {}
    generation = (isvc.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    current = generation is None or (observed is not None and observed >= generation)
    ready_condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    condition_true = bool(ready_condition and ready_condition.get("status") == "True")
    reason, message = _reason(ready_condition, current, generation, observed)
    predictor = (status.get("components") or {}).get("predictor") or {}
    failed, failure = model_load_failure(status)
    return Readiness(
        ready=condition_true and current and not failed,
        generation_current=current,
        reason=reason,
        message=message,
        url=status.get("url") or (status.get("address") or {}).get("url"),
        deployment_mode=status.get("deploymentMode"),
        latest_created_revision=predictor.get("latestCreatedRevision"),
        latest_ready_revision=predictor.get("latestReadyRevision"),
        latest_revision_percent=_latest_percent(predictor),
        model_failed=failed,
        failure=failure,
    )


def _reason(condition: dict | None, current: bool, generation, observed) -> tuple[str, str]:
    if not current:
        return "GenerationNotObserved", (
            f"KServe has observed generation {observed}, not yet {generation}")
    if condition is None:
        return "NoReadyCondition", "KServe has not reported a Ready condition yet"
    reason = condition.get("reason") or ("Ready" if condition.get("status") == "True" else "NotReady")
    return reason, condition.get("message") or ""


def _latest_percent(predictor: dict) -> int | None:
    traffic = predictor.get("traffic")
    if not traffic:
        return None
    return sum(t.get("percent") or 0 for t in traffic if t.get("latestRevision"))


def model_load_failure(status: dict) -> tuple[bool, str]:
    """Whether KServe reports that the model (the target of the latest spec) failed to load, and why."""
    model_status = status.get("modelStatus") or {}
    target = (model_status.get("states") or {}).get("targetModelState")
    transition = model_status.get("transitionStatus")
    if target != _FAILED_STATE and transition not in _FAILED_TRANSITIONS:
        return False, ""
    info = model_status.get("lastFailureInfo") or {}
    detail = info.get("message") or info.get("reason") or transition or target
    return True, f"{info.get('reason') or 'ModelLoadFailed'}: {detail}"
