"""Which TrainingRuns the operator's timer looks at: only those it could find something to do for.

A finished TrainingRun without retraining waits for nothing but a change of its spec, which reaches
the operator as an event. Without a timer it holds no task in the operator and no finalizer, so ten
thousand finished TrainingRuns cost what their watch costs, not a poll each every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlcd.api.v1alpha1.vocabulary import TrainingRunPhase

_SETTLED = (*TrainingRunPhase.TERMINAL, TrainingRunPhase.INVALID)


def needs_polling(spec: Mapping | None, status: Mapping | None, generation: int | None) -> bool:
    """True unless the TrainingRun has settled: a finished run (or an invalid spec) for its current
    generation, and no retraining to watch for."""
    status = status or {}
    if status.get("phase") not in _SETTLED:
        return True  # not handled yet, queued, or a run in flight
    if (spec or {}).get("retrain"):
        return True  # a schedule, the data or drift may start the next run
    return status.get("observedGeneration") != (generation or 1)
