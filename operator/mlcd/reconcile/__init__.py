"""Pure decisions: (spec, status, observed) -> the next action and the new conditions."""

from mlcd.reconcile.champion import ChampionSkip, ChampionUpdate, champion_recorded, champion_step
from mlcd.reconcile.credentials import preflight
from mlcd.reconcile.rollout import Decision, decide, not_applied

__all__ = ["ChampionSkip", "ChampionUpdate", "Decision", "champion_recorded", "champion_step", "decide",
           "not_applied", "preflight"]
