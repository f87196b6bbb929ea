"""Which registry version is the champion: the one a rollout made active, never one it rolled back.

Recording the champion is bookkeeping next to the rollout, never in its way: the status says what
KServe serves whatever happens to the champion write, and the write has its own condition,
``ChampionRecorded``. A model that is not a version of an mlcd registry has no champion to record.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcd.api.v1alpha1.modeldeployment import ModelDeploymentStatus
from mlcd.api.v1alpha1.vocabulary import ModelDeploymentCondition, Reason
from mlcd.versions import split_version_uri

CHAMPION_RECORDED = ModelDeploymentCondition.CHAMPION_RECORDED


@dataclass(frozen=True)
class ChampionUpdate:
    registry_uri: str
    version: int
    model_uri: str
    reason: str


@dataclass(frozen=True)
class ChampionSkip:
    model_uri: str
    message: str


def champion_step(status: ModelDeploymentStatus, *, deployment: str,
                  file_allowed: bool = False) -> ChampionUpdate | ChampionSkip | None:
    """What the champion needs now that ``status`` is decided: the active model recorded as the champion
    of its registry (first deployment, promoted canary, or a write that failed before), a skip when the
    model is not in an mlcd registry, or None when there is nothing to do (a rollback keeps the active
    model, so it changes nothing)."""
    active = status.active_model
    if not active or active == status.champion_model:
        return None
    found = split_version_uri(active)
    schemes = ("s3://", "file://") if file_allowed else ("s3://",)
    if found is None or not active.startswith(schemes):
        return ChampionSkip(active, f"{active} is not a version of an mlcd registry (s3://BUCKET/PATH/vN), so "
                                    "there is no champion to record; KServe serves it all the same")
    before = status.champion_model
    how = f"promoted from canary (was {before})" if before else "first deployment"
    return ChampionUpdate(found[0], found[1], active, f"ModelDeployment {deployment}: {how}")


def champion_recorded(status: ModelDeploymentStatus, step: ChampionUpdate | ChampionSkip, error: str | None, *,
                      generation: int | None, now: str) -> ModelDeploymentStatus:
    """``status`` with the outcome of ``step``: championModel and the ChampionRecorded condition."""
    new = status.model_copy()  # its fields are replaced, never changed in place
    if isinstance(step, ChampionSkip):
        value = (False, Reason.NOT_IN_REGISTRY, step.message)
    elif error:
        value = (False, Reason.CHAMPION_WRITE_FAILED,
                 f"{step.model_uri} is served but not recorded as the champion: {error}")
    else:
        new.champion_model = step.model_uri
        value = (True, Reason.CHAMPION_RECORDED, f"v{step.version} is the champion of {step.registry_uri}")
    new.set_condition(CHAMPION_RECORDED, *value, generation=generation, now=now)
    return new


def changed(before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> bool:
    """Whether ChampionRecorded says something new (an Event is worth posting)."""
    old, new = before.condition(CHAMPION_RECORDED), after.condition(CHAMPION_RECORDED)
    return (old and (old.status, old.reason, old.message)) != (new and (new.status, new.reason, new.message))
