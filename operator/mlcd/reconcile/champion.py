"""Which registry version is the champion: the one a rollout promoted, never one it rolled back."""

from __future__ import annotations

from dataclasses import dataclass

from mlcd.api.v1alpha1.modeldeployment import ModelDeploymentStatus
from mlcd.api.v1alpha1.vocabulary import DeploymentPhase
from mlcd.versions import split_version_uri


@dataclass(frozen=True)
class ChampionUpdate:
    registry_uri: str
    version: int
    model_uri: str
    reason: str


def champion_update(previous_status: ModelDeploymentStatus | None, new_status: ModelDeploymentStatus, *,
                    deployment: str) -> ChampionUpdate | None:
    """The champion change a status transition implies: a model that became the active one of a Ready
    deployment (first deployment or promoted canary) is the champion; a rollback keeps the active
    model, so it changes nothing. None too when the model is not a registry version (``…/vN``)."""
    before = previous_status.active_model if previous_status else None
    after = new_status.active_model
    if not after or after == before or new_status.phase != DeploymentPhase.READY:
        return None
    found = split_version_uri(after)
    if found is None:
        return None
    how = f"promoted from canary (was {before})" if before else "first deployment"
    return ChampionUpdate(*found, after,
                          f"ModelDeployment {deployment}: {how}")
