"""Which registry version is the champion: the one a rollout made active, never one it rolled back.

Recording the champion is bookkeeping next to the rollout, never in its way: the status says what
KServe serves whatever happens to the champion write, and the write has its own condition,
``ChampionRecorded``. A model that is not a version of an mlcd registry has no champion to record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlcd.api.v1alpha1.conditions import get_condition, set_condition
from mlcd.api.v1alpha1.vocabulary import ModelDeploymentCondition, Reason

CHAMPION_RECORDED = ModelDeploymentCondition.CHAMPION_RECORDED
RECORDED, WRITE_FAILED = Reason.CHAMPION_RECORDED, Reason.CHAMPION_WRITE_FAILED
NOT_IN_REGISTRY = Reason.NOT_IN_REGISTRY

_VERSION_DIR = re.compile(r"^(?P<registry>(?P<scheme>[a-z0-9+.-]+)://.+)/v(?P<version>[1-9][0-9]*)/?$")


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


def champion_step(status: dict, *, deployment: str, file_allowed: bool = False) -> ChampionUpdate | ChampionSkip | None:
    """What the champion needs now that ``status`` is decided: the active model recorded as the champion
    of its registry (first deployment, promoted canary, or a write that failed before), a skip when the
    model is not in an mlcd registry, or None when there is nothing to do (a rollback keeps the active
    model, so it changes nothing)."""
    active = status.get("activeModel")
    if not active or active == status.get("championModel"):
        return None
    match = _VERSION_DIR.match(active)
    schemes = ("s3", "file") if file_allowed else ("s3",)
    if not match or match["scheme"] not in schemes:
        return ChampionSkip(active, f"{active} is not a version of an mlcd registry (s3://BUCKET/PATH/vN), so "
                                    "there is no champion to record; KServe serves it all the same")
    before = status.get("championModel")
    how = f"promoted from canary (was {before})" if before else "first deployment"
    return ChampionUpdate(match["registry"], int(match["version"]), active, f"ModelDeployment {deployment}: {how}")


def champion_recorded(status: dict, step: ChampionUpdate | ChampionSkip, error: str | None, *,
                      generation: int | None, now: str) -> dict:
    """``status`` with the outcome of ``step``: championModel and the ChampionRecorded condition."""
    conditions = list(status.get("conditions") or [])
    new = dict(status)
    if isinstance(step, ChampionSkip):
        value = (False, NOT_IN_REGISTRY, step.message)
    elif error:
        value = (False, WRITE_FAILED, f"{step.model_uri} is served but not recorded as the champion: {error}")
    else:
        new["championModel"] = step.model_uri
        value = (True, RECORDED, f"v{step.version} is the champion of {step.registry_uri}")
    new["conditions"] = set_condition(conditions, CHAMPION_RECORDED, *value, generation=generation, now=now)
    return new


def changed(before: dict, after: dict) -> bool:
    """Whether ChampionRecorded says something new (an Event is worth posting)."""
    old = get_condition(before.get("conditions") or [], CHAMPION_RECORDED) or {}
    new = get_condition(after.get("conditions") or [], CHAMPION_RECORDED) or {}
    return (old.get("status"), old.get("reason"), old.get("message")) != (
        new.get("status"), new.get("reason"), new.get("message"))
