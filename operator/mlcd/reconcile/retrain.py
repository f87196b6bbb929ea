"""Pure decisions for retraining a TrainingRun: which trigger is due, the key its run goes under, what status says.

The handler gathers observations (the clock, fingerprints of the data, a drift report) and applies what
comes back; nothing here does I/O. Retraining is two steps, each its own status write: a due trigger is
recorded in status.retrain.pendingTrigger, and only then is its run submitted. The trigger's key names the
run (trainingrun.run_name) and is derived from what was observed, so a restart, a retry or a second replica
that decides again decides the same key, and the backend lookup by name finds the run instead of starting
another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from mlcd.api.v1alpha1.trainingrun import (
    DriftCheck,
    PipelineRef,
    RetrainHistoryEntry,
    RetrainRecord,
    RetrainSpec,
    RetrainStatus,
    RetrainTrigger,
    TrainingRunStatus,
)
from mlcd.api.v1alpha1.vocabulary import EventReason, Reason, TrainingRunCondition, TrainingRunPhase
from mlcd.reconcile.status import EVENT_MESSAGE_LIMIT, Event
from mlcd.timestamps import parse_rfc3339 as parse_time
from mlcd.timestamps import rfc3339

IN_FLIGHT, TERMINAL = TrainingRunPhase.IN_FLIGHT, TrainingRunPhase.TERMINAL
CONDITION = TrainingRunCondition.RETRAINING
# One run answers every trigger due at the same moment; the first of these names it.
PRIORITY = ("drift", "data", "schedule")
CONDITION_REASONS = {"schedule": Reason.SCHEDULE_DUE, "data": Reason.DATA_CHANGED, "drift": Reason.DRIFT_DETECTED}


@dataclass
class Outcome:
    """The whole new status and the Events to post."""

    status: TrainingRunStatus
    events: list[Event] = field(default_factory=list)


def fingerprint_id(kind: str, value: str, version_id: str | None = None) -> str:
    """One string per exact content of a data object (storage.Fingerprint's fields)."""
    return f"{kind}:{value}" + (f"@{version_id}" if version_id else "")


def content_key(reason: str, *parts: str) -> str:
    return f"{reason}-{hashlib.sha256('>'.join(parts).encode()).hexdigest()[:12]}"


def reason_of(key: str) -> str:
    return key.split("-", 1)[0]


# --- schedule -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slots:
    due: datetime | None  # the latest slot since the anchor: the one run for however many were missed
    missed: datetime | None  # that latest slot, when it is older than startingDeadlineSeconds
    upcoming: datetime  # the first slot after now


def latest_slot(schedule: str, time_zone: str, now: datetime) -> datetime:
    # croniter's get_prev is strictly before its start: a microsecond on, a slot at `now` itself counts.
    start = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(time_zone))
    return croniter(schedule, start).get_prev(datetime)


def next_slot(schedule: str, time_zone: str, after: datetime) -> datetime:
    return croniter(schedule, after.astimezone(ZoneInfo(time_zone))).get_next(datetime)


def slots(schedule: str, time_zone: str, anchor: datetime, now: datetime, deadline_seconds: int | None) -> Slots:
    """The slots in (anchor, now], as the CronJob controller sees them: however many were missed, only the
    latest is started; with a starting deadline, a latest slot later than that is skipped instead."""
    latest = latest_slot(schedule, time_zone, now)
    upcoming = next_slot(schedule, time_zone, now)
    if latest <= anchor:
        return Slots(None, None, upcoming)
    if deadline_seconds is not None and (now - latest).total_seconds() > deadline_seconds:
        return Slots(None, latest, upcoming)
    return Slots(latest, None, upcoming)


# --- what the handler observed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftSeen:
    """A drift check of spec.retrain.drift.current against the champion's reference statistics."""

    fingerprint: str
    champion_version: int
    record: dict  # DriftReport.record(): the fields of status.lastRetrain it fills
    report: str = ""  # URI of the HTML report


@dataclass(frozen=True)
class Observed:
    now: datetime
    in_flight: bool = False
    checked: bool = False  # data and drift were looked at this time (problem says when that failed)
    data: str | None = None  # spec.data.source's fingerprint_id
    drift: DriftSeen | None = None  # None also when data and champion are those of the last check
    problem: str = ""


@dataclass
class _Trigger:
    key: str
    reason: str
    message: str
    record: dict = field(default_factory=dict)  # fields of status.lastRetrain beyond reason, key and message
    consume: dict = field(default_factory=dict)  # status.retrain fields that say it was handled, once it fires


def _state(status: TrainingRunStatus) -> RetrainStatus:
    """A copy of status.retrain to change (an empty one when there is none)."""
    return status.retrain.model_copy(deep=True) if status.retrain else RetrainStatus()


def _store(status: TrainingRunStatus, state: RetrainStatus) -> None:
    """status.retrain = state, unless that changes nothing on the wire (no empty `retrain: {}` appears)."""
    before = status.retrain.to_wire() if status.retrain else {}
    if state.to_wire() != before:
        status.retrain = state


def _run_name(status: TrainingRunStatus) -> str | None:
    return (status.pipeline or PipelineRef()).run_name


def watching(status: TrainingRunStatus, generation: int) -> bool:
    """Retraining follows this generation's own run, and never an invalid spec."""
    own_run = (status.pipeline or PipelineRef()).generation == generation
    return own_run and status.phase != TrainingRunPhase.INVALID


def pending(status: TrainingRunStatus) -> RetrainTrigger | None:
    return status.retrain.pending_trigger if status.retrain else None


def cooldown_until(spec: RetrainSpec, status: TrainingRunStatus) -> datetime | None:
    history = status.retrain.history if status.retrain else []
    if not spec.min_interval_seconds or not history:
        return None
    return parse_time(history[0].at) + timedelta(seconds=spec.min_interval_seconds)


def blocked(spec: RetrainSpec, status: TrainingRunStatus, now: datetime, in_flight: bool) -> tuple[str, str] | None:
    """Why no trigger may start a run now, as (condition reason, message); a trigger that is blocked waits."""
    if in_flight and spec.concurrency_policy == "Forbid":
        return Reason.RUN_IN_FLIGHT, f"triggers wait for run {_run_name(status)} to end (concurrencyPolicy Forbid)"
    until = cooldown_until(spec, status)
    if until is not None and now < until:
        return Reason.COOLING_DOWN, (f"no retraining before {rfc3339(until)} "
                                     f"(minIntervalSeconds {spec.min_interval_seconds})")
    return None


def check_due(spec: RetrainSpec, status: TrainingRunStatus, now: datetime, in_flight: bool) -> bool:
    """Whether to look at the data now: every pollSeconds, and only when a trigger could act on what it finds."""
    if not (spec.on_data_change or spec.drift) or pending(status) or blocked(spec, status, now, in_flight):
        return False
    checked = status.retrain.checked_at if status.retrain else None
    return not checked or (now - parse_time(checked)).total_seconds() >= spec.poll_seconds


def drift_check_needed(status: TrainingRunStatus, fingerprint: str, champion_version: int) -> bool:
    """A drift check is redone only for other data or another champion: the same pair gives the same report."""
    last = status.retrain.last_drift_check if status.retrain else None
    return last is None or (last.fingerprint, last.champion_version) != (fingerprint, champion_version)


# --- deciding -------------------------------------------------------------------------------------------------


def evaluate(spec: RetrainSpec, status: TrainingRunStatus, observed: Observed, generation: int,
             schedule_offset: float = 0.0) -> Outcome:
    """What the triggers say now: the new status (the same as `status` when nothing changes) and Events to post.

    A trigger that fires is recorded as status.retrain.pendingTrigger; its run is submitted on the next
    reconcile, and `started` clears it in the same write that records the run. `schedule_offset` (seconds)
    fires each schedule slot that much late: the operator spreads many TrainingRuns on one schedule.
    """
    now = observed.now
    state = _state(status)
    events: list[Event] = []
    if observed.checked:
        _record_check(state, observed, events)
    scheduled, found = _schedule(spec, state, now, events, schedule_offset)
    candidates = [t for t in (_drift(state, observed.drift, now, events), _data(state, observed.data), scheduled) if t]
    stop = blocked(spec, status, now, observed.in_flight)
    fired = _fire(candidates, state, status, observed) if candidates and stop is None else None
    _sync_history(state, status)
    next_run = None if found is None else found.due if found.due and not fired else found.upcoming
    if next_run is not None:
        next_run += timedelta(seconds=schedule_offset)

    out = status.model_copy()  # a copy whose fields are replaced, never changed in place
    _store(out, state)
    next_text = rfc3339(next_run) if next_run else None
    if next_text != status.next_scheduled_run:
        out.next_scheduled_run = next_text
    if fired:
        out.last_retrain = RetrainRecord.model_validate({
            "reason": fired.reason, "at": rfc3339(now), "key": fired.key, **fired.record, "message": fired.message})
        events.append(Event.normal(EventReason.RETRAIN_TRIGGERED, f"{fired.message}; run key {fired.key}"))
    out.set_condition(CONDITION, *_condition(spec, status, state, stop, next_run), generation, now=rfc3339(now))
    return Outcome(out, events)


def _record_check(state: RetrainStatus, observed: Observed, events: list) -> None:
    state.checked_at = rfc3339(observed.now)
    if not observed.problem:
        state.problem = None
        return
    if observed.problem != state.problem:
        events.append(Event.warning(EventReason.RETRAIN_CHECK_FAILED, observed.problem))
    state.problem = observed.problem[:EVENT_MESSAGE_LIMIT]


def _schedule(spec: RetrainSpec, state: RetrainStatus, now: datetime, events: list,
              offset: float) -> tuple[_Trigger | None, Slots | None]:
    if not spec.schedule:
        state.schedule = state.scheduled_since = None
        return None, None
    schedule = f"{spec.schedule} {spec.time_zone}"
    if state.schedule != schedule or not state.scheduled_since:
        # A schedule counts from when it is first seen: slots from before it was set are no backlog.
        state.schedule, state.scheduled_since = schedule, rfc3339(now)
    anchor = parse_time(state.scheduled_since)
    found = slots(spec.schedule, spec.time_zone, anchor, now - timedelta(seconds=offset),
                  spec.starting_deadline_seconds)
    if found.missed:
        state.scheduled_since = rfc3339(found.missed)
        events.append(Event.warning(EventReason.SCHEDULE_MISSED, f"schedule slot {rfc3339(found.missed)} skipped: not "
                       f"started within startingDeadlineSeconds ({spec.starting_deadline_seconds})"))
    if found.due is None:
        return None, found
    due = rfc3339(found.due)
    return _Trigger(f"schedule-{int(found.due.timestamp())}", "schedule", f"schedule slot {due} is due",
                    consume={"scheduled_since": due}), found


def _data(state: RetrainStatus, current: str | None) -> _Trigger | None:
    if current is None:
        return None
    baseline = state.data_fingerprint
    if not baseline:
        # Nothing recorded to compare with (runs record it when they start): take what is there as seen.
        state.data_fingerprint = current
        return None
    if current == baseline:
        return None
    # Keyed by the change, not the content alone: data changed back to an earlier content is a new change.
    return _Trigger(content_key("data", baseline, current), "data",
                    f"spec.data.source changed: {current} (was {baseline})", consume={"data_fingerprint": current})


def _drift(state: RetrainStatus, seen: DriftSeen | None, now: datetime, events: list) -> _Trigger | None:
    if seen is None:
        return None
    record = {k: v for k, v in seen.record.items() if v is not None}
    if seen.report:
        record["report"] = seen.report
    state.last_drift_check = DriftCheck.model_validate({
        "reason": "drift", "at": rfc3339(now), **record, "fingerprint": seen.fingerprint,
        "championVersion": seen.champion_version})
    said = record.get("message", "")
    told = f"{said} (champion v{seen.champion_version}, report {seen.report or 'not written'})"
    if not record.get("drifted"):
        events.append(Event.normal(EventReason.NO_DRIFT, told))
        return None
    # Keyed by the data alone: a champion retrained because of it, still far from it, is no new reason.
    key = content_key("drift", seen.fingerprint)
    if key == state.last_trigger_key or key in {h.key for h in state.history}:
        events.append(Event.normal(EventReason.DRIFT_PERSISTS, f"{told}; already retrained for this data ({key})"))
        return None
    events.append(Event.warning(EventReason.DRIFT_DETECTED, told))
    return _Trigger(key, "drift", f"spec.retrain.drift.current drifted: {said}", record)


def _fire(candidates: list[_Trigger], state: RetrainStatus, status: TrainingRunStatus,
          observed: Observed) -> _Trigger:
    """One pending trigger for all that are due: one run answers them all, so each is consumed."""
    candidates.sort(key=lambda t: PRIORITY.index(t.reason))
    for trigger in candidates:
        for name, value in trigger.consume.items():
            setattr(state, name, value)
    first = candidates[0]
    message = "; ".join(t.message for t in candidates)[:EVENT_MESSAGE_LIMIT]
    state.pending_trigger = RetrainTrigger(key=first.key, reason=first.reason, at=rfc3339(observed.now),
                                           message=message)
    if observed.in_flight:
        state.pending_trigger.replaces = _run_name(status)
    return _Trigger(first.key, first.reason, message, first.record)


def _sync_history(state: RetrainStatus, status: TrainingRunStatus) -> None:
    """The newest history entry learns how its run ended."""
    history = state.history
    if not history or history[0].phase or status.phase not in TERMINAL:
        return
    if history[0].run_name != _run_name(status):
        return
    entry = history[0].model_copy()
    entry.phase = status.phase
    if status.phase == TrainingRunPhase.SUCCEEDED and status.model:
        entry.model_version = status.model.version
    state.history = [entry, *history[1:]]


def _condition(spec: RetrainSpec, status: TrainingRunStatus, state: RetrainStatus, stop: tuple[str, str] | None,
               next_run: datetime | None) -> tuple[bool, str, str]:
    waiting = state.pending_trigger
    if waiting:
        then = f"stopping run {waiting.replaces} for a new one" if waiting.replaces else "starting its run"
        return True, CONDITION_REASONS[waiting.reason], f"{waiting.message}; {then}"
    pipeline = status.pipeline or PipelineRef()
    trigger = pipeline.trigger or "spec"
    if status.phase in IN_FLIGHT and trigger != "spec":
        reason = CONDITION_REASONS.get(reason_of(trigger), Reason.RETRAINING)
        return True, reason, f"run {pipeline.run_name} for {trigger} in flight"
    if stop and stop[0] == Reason.COOLING_DOWN:
        return False, stop[0], stop[1]
    return False, Reason.WAITING, _watching(spec, next_run)


def _watching(spec: RetrainSpec, next_run: datetime | None) -> str:
    parts = []
    if spec.schedule:
        parts.append(f"schedule {spec.schedule!r} ({spec.time_zone}), next run {rfc3339(next_run)}")
    if spec.on_data_change:
        parts.append(f"spec.data.source checked every {spec.poll_seconds}s")
    if spec.drift:
        parts.append(f"drift of {spec.drift.current} checked every {spec.poll_seconds}s "
                     f"({spec.drift.method} above {spec.drift.threshold:g})")
    return "waiting for " + "; ".join(parts) if parts else "spec.retrain sets no trigger"


def started(spec: RetrainSpec, status: TrainingRunStatus, submitted: TrainingRunStatus, trigger: str,
            data: str | None, now: datetime, generation: int, replaced: str | None = None) -> TrainingRunStatus:
    """`submitted` (the status that records the run for `trigger`), with retraining's part of it.

    The pending trigger is cleared in the same write that records its run (a run of the spec supersedes
    it); the data the run starts on becomes the baseline of data changes; a retraining enters the history.
    """
    out = submitted.model_copy()  # a copy whose fields are replaced, never changed in place
    state = _state(status)
    waiting, state.pending_trigger = state.pending_trigger, None
    if data:
        state.data_fingerprint = data
    if waiting and waiting.key == trigger:
        run = _run_name(submitted)
        entry = RetrainHistoryEntry(key=trigger, reason=waiting.reason, at=rfc3339(now), run_name=run)
        if submitted.phase not in IN_FLIGHT:
            entry.phase = submitted.phase  # refused by the backend or the spec at once
        earlier = [_replaced(h) if replaced and h.run_name == replaced and not h.phase else h for h in state.history]
        state.history = [entry, *earlier][: spec.history_limit]
        state.last_trigger_key = trigger
        if status.last_retrain and status.last_retrain.key == trigger:
            out.last_retrain = status.last_retrain.model_copy()
            out.last_retrain.run_name = run
        if submitted.phase in IN_FLIGHT:
            out.set_condition(CONDITION, True, CONDITION_REASONS[waiting.reason],
                              f"run {run} for {trigger}: {waiting.message}"[:EVENT_MESSAGE_LIMIT], generation,
                              now=rfc3339(now))
    out.retrain = status.retrain
    _store(out, state)
    return out


def _replaced(entry: RetrainHistoryEntry) -> RetrainHistoryEntry:
    out = entry.model_copy()
    out.phase = "Replaced"
    return out


def dropped(status: TrainingRunStatus, submitted: TrainingRunStatus) -> TrainingRunStatus:
    """`submitted` for a spec without spec.retrain: retraining state and its condition go, rather than go on
    describing triggers that no longer exist."""
    out = submitted.model_copy()
    out.retrain = out.next_scheduled_run = None
    out.drop_condition(CONDITION)
    return out
