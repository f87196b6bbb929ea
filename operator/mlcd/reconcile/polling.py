"""Which TrainingRuns the operator's poller looks at: only those it could find something to do for.

A finished TrainingRun without retraining waits for nothing but a change of its spec, which reaches
the operator as an event. Out of the poller's index it costs the operator nothing, so ten thousand
finished TrainingRuns cost what their watch costs, not a poll each every few seconds.

These rules read the poller's kept bodies as plain dicts on purpose, not as TrainingRunStatus models:
at 10,000 objects a model per kept body would cost the operator's memory what the compact bodies save.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlcd.api.v1alpha1.vocabulary import Reason, TrainingRunCondition, TrainingRunPhase
from mlcd.reconcile.trainingrun import run_seconds
from mlcd.timestamps import parse_rfc3339

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


def followed_run(spec: Mapping | None, status: Mapping | None, deleting: bool = False) -> tuple[str, str, str] | None:
    """(name, id, url) of the run in flight when following it is all a look at the TrainingRun can do:
    no retraining to decide, not queued, not being deleted. Such a look decides only on what the backend
    says of the run and on the clock (its deadline): while neither changes, the look would change nothing."""
    status = status or {}
    pipeline = status.get("pipeline") or {}
    if (deleting or (spec or {}).get("retrain") or status.get("phase") not in TrainingRunPhase.IN_FLIGHT
            or not pipeline.get("runName") or queued_since(status) is not None):
        return None
    name = pipeline["runName"]
    run_id = pipeline.get("runId") or name
    return name, name if run_id == name else run_id, pipeline.get("runUrl") or ""  # one string when they are equal


def run_deadline(spec: Mapping | None, status: Mapping | None) -> float | None:
    """When the run in flight passes spec.timeouts.runSeconds (seconds since the epoch), or None when it
    has no start time: the last moment a look at it may change nothing."""
    submitted = (status or {}).get("submittedAt")
    if not submitted:
        return None
    try:
        return parse_rfc3339(submitted).timestamp() + run_seconds(spec or {})
    except ValueError:
        return None


def unhandled_generation(status: Mapping | None, meta: Mapping, event_type: str | None = None) -> bool:
    """True when a watch event should start a reconcile: the object's generation has not been acted on
    (``status.observedGeneration`` behind ``metadata.generation``: new, or its spec changed), and it is
    neither deleted nor being deleted. Everything else the poller follows: our own status writes coming
    back through the watch start nothing, so a TrainingRun costs one reconcile per generation, not one
    per event, and kopf keeps no bookkeeping on the object to tell its changes apart."""
    if event_type == "DELETED" or meta.get("deletionTimestamp"):
        return False
    return (status or {}).get("observedGeneration") != (meta.get("generation") or 1)


def awaits_finalizer(spec: Mapping | None, meta: Mapping, finalizer: str) -> bool:
    """True while a TrainingRun whose deletePolicy is stopRuns lacks the operator's finalizer: kopf adds it
    at the end of the watch event's cycle, after the handlers. A run submitted before that could outlive
    an object deleted in between (nothing would stop it), so the reconcile waits for the finalizer's own
    event, as kopf's changing handlers do."""
    if (spec or {}).get("deletePolicy") != "stopRuns" or meta.get("deletionTimestamp"):
        return False
    return finalizer not in (meta.get("finalizers") or ())


def queued_since(status: Mapping | None) -> str | None:
    """When a TrainingRun queued for a slot began to wait (its Submitted condition's lastTransitionTime,
    the queue's order), or None when it does not wait for one."""
    for condition in (status or {}).get("conditions") or ():
        if condition.get("type") == TrainingRunCondition.SUBMITTED and condition.get("reason") == Reason.QUEUED:
            return condition.get("lastTransitionTime") or ""
    return None
