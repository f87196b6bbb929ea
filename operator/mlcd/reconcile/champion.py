"""Which registry version is the champion: the one a rollout promoted, never one it rolled back."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_DIR = re.compile(r"^(?P<registry>.+)/v(?P<version>[1-9][0-9]*)/?$")


@dataclass(frozen=True)
class ChampionUpdate:
    registry_uri: str
    version: int
    model_uri: str
    reason: str


def champion_update(previous_status: dict | None, new_status: dict, *, deployment: str) -> ChampionUpdate | None:
    """The champion change a status transition implies: a model that became the active one of a Ready
    deployment (first deployment or promoted canary) is the champion; a rollback keeps the active
    model, so it changes nothing. None too when the model is not a registry version (``…/vN``)."""
    before = (previous_status or {}).get("activeModel")
    after = new_status.get("activeModel")
    if not after or after == before or new_status.get("phase") != "Ready":
        return None
    match = _VERSION_DIR.match(after)
    if not match:
        return None
    how = f"promoted from canary (was {before})" if before else "first deployment"
    return ChampionUpdate(match["registry"], int(match["version"]), after,
                          f"ModelDeployment {deployment}: {how}")
