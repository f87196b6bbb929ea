"""Pure decisions: (spec, status, observed) -> the next action and the new conditions."""

from mlcd.reconcile.champion import ChampionUpdate, champion_update
from mlcd.reconcile.credentials import preflight
from mlcd.reconcile.rollout import Decision, decide, not_applied

__all__ = ["ChampionUpdate", "Decision", "champion_update", "decide", "not_applied", "preflight"]
