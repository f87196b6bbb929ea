"""Retraining decisions (mlcd.reconcile.retrain): pure functions of spec, status, observations and the clock."""

from datetime import UTC, datetime, timedelta

import pytest

from mlcd.api.v1alpha1.trainingrun import RetrainSpec, TrainingRunStatus
from mlcd.reconcile import retrain
from mlcd.reconcile.status import merge_patch

T0 = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)


def spec(**fields) -> RetrainSpec:
    return RetrainSpec.model_validate(fields)


def idle(phase: str = "Succeeded", **state) -> dict:
    """The status of a TrainingRun whose own run has ended, with status.retrain = state."""
    return {"phase": phase, "observedGeneration": 1, "conditions": [], "retrain": state,
            "pipeline": {"runName": "default-iris-g1-spec-0", "generation": 1, "trigger": "spec"}}


def merged(old: dict, patch: dict) -> dict:
    """A JSON merge patch applied as the API server applies it."""
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def typed(status: dict) -> TrainingRunStatus:
    return TrainingRunStatus.model_validate(status)


def diff(old: dict, new: dict) -> dict:
    """The JSON merge patch that takes `old` to `new`, naming only what changed."""
    out = {}
    for key in old.keys() | new.keys():
        if key not in new:
            out[key] = None
        elif isinstance(old.get(key), dict) and isinstance(new[key], dict):
            if inner := diff(old[key], new[key]):
                out[key] = inner
        elif old.get(key) != new[key]:
            out[key] = new[key]
    return out


def step(retraining: RetrainSpec, status: dict, now: datetime, **observed) -> tuple[dict, retrain.Outcome]:
    outcome = retrain.evaluate(retraining, typed(status), retrain.Observed(now, **observed), generation=1)
    return outcome.status.to_wire(), outcome


def start(retraining: RetrainSpec, status: dict, now: datetime, data: str | None = None, replaced=None) -> dict:
    """What the handler writes when it submits the pending trigger's run (decide.submitted, then started)."""
    key = status["retrain"]["pendingTrigger"]["key"]
    run = f"run-{key}"
    submitted = {**status, "phase": "Pending", "pipeline": {"runName": run, "generation": 1, "trigger": key}}
    return retrain.started(retraining, typed(status), typed(submitted), key, data, now, 1, replaced).to_wire()


def reasons(outcome: retrain.Outcome) -> list[str]:
    return [reason for _, reason, _ in outcome.events]


def retraining_condition(status: dict) -> dict:
    return next(c for c in status["conditions"] if c["type"] == "Retraining")


def test_a_slot_at_now_itself_is_the_latest():
    one = datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
    assert retrain.latest_slot("0 * * * *", "UTC", one) == one
    assert retrain.latest_slot("0 * * * *", "UTC", one - timedelta(microseconds=1)) == one - timedelta(hours=1)
    assert retrain.next_slot("0 * * * *", "UTC", one) == one + timedelta(hours=1)


def test_slots_follow_the_time_zone_across_a_daylight_saving_change():
    # Europe/Berlin moves from UTC+1 to UTC+2 on 2030-03-31: 03:00 local is 02:00 UTC before, 01:00 UTC after.
    before = retrain.next_slot("0 3 * * *", "Europe/Berlin", datetime(2030, 3, 29, 12, tzinfo=UTC))
    after = retrain.next_slot("0 3 * * *", "Europe/Berlin", before)
    assert before.astimezone(UTC) == datetime(2030, 3, 30, 2, tzinfo=UTC)
    assert after.astimezone(UTC) == datetime(2030, 3, 31, 1, tzinfo=UTC)


def test_a_schedule_counts_from_when_it_is_first_seen():
    status, outcome = step(spec(schedule="*/5 * * * *"), idle(), T0)
    assert status["retrain"]["scheduledSince"] == "2030-01-01T00:00:30Z"
    assert status["nextScheduledRun"] == "2030-01-01T00:05:00Z"
    assert "pendingTrigger" not in status["retrain"] and outcome.events == []
    condition = retraining_condition(status)
    assert condition["status"] == "False" and condition["reason"] == "Waiting"
    assert "next run 2030-01-01T00:05:00Z" in condition["message"]


def test_missed_slots_start_one_run_for_the_latest():
    retraining = spec(schedule="*/5 * * * *")
    status, _ = step(retraining, idle(), T0)
    later = T0 + timedelta(hours=1)  # twelve slots passed while nobody looked
    status, outcome = step(retraining, status, later)
    slot = datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
    assert status["retrain"]["pendingTrigger"]["key"] == f"schedule-{int(slot.timestamp())}"
    assert status["retrain"]["scheduledSince"] == "2030-01-01T01:00:00Z"
    assert status["nextScheduledRun"] == "2030-01-01T01:05:00Z"
    assert status["lastRetrain"]["reason"] == "schedule"
    assert reasons(outcome) == ["RetrainTriggered"]
    assert retraining_condition(status)["reason"] == "ScheduleDue"
    status = start(retraining, status, later)
    assert "pendingTrigger" not in status["retrain"]
    status = {**status, "phase": "Succeeded"}
    status, outcome = step(retraining, status, later + timedelta(minutes=4))
    assert "pendingTrigger" not in status["retrain"]
    assert [h["key"] for h in status["retrain"]["history"]] == [f"schedule-{int(slot.timestamp())}"]


@pytest.mark.parametrize("late, fires", [(timedelta(seconds=30), True), (timedelta(seconds=61), False)])
def test_a_slot_later_than_the_starting_deadline_is_skipped(late, fires):
    retraining = spec(schedule="0 * * * *", startingDeadlineSeconds=60)
    status = idle(schedule="0 * * * * UTC", scheduledSince="2030-01-01T00:00:30Z")
    status, outcome = step(retraining, status, datetime(2030, 1, 1, 1, 0, tzinfo=UTC) + late)
    assert ("pendingTrigger" in status["retrain"]) is fires
    assert status["retrain"]["scheduledSince"] == "2030-01-01T01:00:00Z"
    assert reasons(outcome) == (["RetrainTriggered"] if fires else ["ScheduleMissed"])
    assert status["nextScheduledRun"] == "2030-01-01T02:00:00Z"


def test_a_changed_schedule_counts_anew():
    status = idle(schedule="0 * * * * UTC", scheduledSince="2030-01-01T00:00:00Z")
    status, _ = step(spec(schedule="30 * * * *"), status, T0 + timedelta(hours=3))
    assert "pendingTrigger" not in status["retrain"]
    assert status["retrain"]["schedule"] == "30 * * * * UTC"


def test_forbid_waits_for_the_run_in_flight_and_replace_stops_it():
    state = {"schedule": "0 * * * * UTC", "scheduledSince": "2030-01-01T00:00:00Z"}
    running = {**idle(**state), "phase": "Running"}
    now = datetime(2030, 1, 1, 1, 0, 5, tzinfo=UTC)
    status, _ = step(spec(schedule="0 * * * *"), running, now, in_flight=True)
    assert "pendingTrigger" not in status["retrain"]
    assert status["nextScheduledRun"] == "2030-01-01T01:00:00Z"  # due, waiting for the run
    assert not retrain.check_due(spec(onDataChange=True), typed(running), now, in_flight=True)
    status, _ = step(spec(schedule="0 * * * *"), {**status, "phase": "Succeeded"}, now)
    assert status["retrain"]["pendingTrigger"]["key"].startswith("schedule-")

    status, _ = step(spec(schedule="0 * * * *", concurrencyPolicy="Replace"), running, now, in_flight=True)
    assert status["retrain"]["pendingTrigger"]["replaces"] == "default-iris-g1-spec-0"
    assert "stopping run default-iris-g1-spec-0" in retraining_condition(status)["message"]


def test_min_interval_defers_triggers_and_checks():
    retraining = spec(onDataChange=True, minIntervalSeconds=600)
    status = idle(dataFingerprint="etag:a", history=[{"key": "data-1", "reason": "data", "at": "2030-01-01T00:00:00Z",
                                                      "runName": "r1", "phase": "Succeeded"}])
    now = T0 + timedelta(seconds=60)
    assert not retrain.check_due(retraining, typed(status), now, in_flight=False)
    status, _ = step(retraining, status, now, checked=True, data="etag:b")
    assert "pendingTrigger" not in status["retrain"] and status["retrain"]["dataFingerprint"] == "etag:a"
    assert retraining_condition(status)["reason"] == "CoolingDown"
    assert "2030-01-01T00:10:00Z" in retraining_condition(status)["message"]
    later = datetime(2030, 1, 1, 0, 10, tzinfo=UTC)
    assert retrain.check_due(retraining, typed(status), later, in_flight=False)
    status, _ = step(retraining, status, later, checked=True, data="etag:b")
    assert status["retrain"]["pendingTrigger"]["reason"] == "data"


def test_data_checks_are_due_every_poll_seconds():
    retraining = spec(onDataChange=True, pollSeconds=60)
    assert retrain.check_due(retraining, typed(idle()), T0, in_flight=False)
    status, _ = step(retraining, idle(), T0, checked=True, data="etag:a")
    assert status["retrain"]["checkedAt"] == "2030-01-01T00:00:30Z"
    assert not retrain.check_due(retraining, typed(status), T0 + timedelta(seconds=59), in_flight=False)
    assert retrain.check_due(retraining, typed(status), T0 + timedelta(seconds=60), in_flight=False)
    assert not retrain.check_due(spec(schedule="0 * * * *"), typed(idle()), T0, in_flight=False)


def test_data_changes_trigger_once_each():
    retraining = spec(onDataChange=True)
    status, outcome = step(retraining, idle(), T0, checked=True, data="etag:a")  # nothing recorded yet
    assert status["retrain"]["dataFingerprint"] == "etag:a" and "pendingTrigger" not in status["retrain"]
    before = status
    status, outcome = step(retraining, status, T0, checked=True, data="etag:a")
    assert diff(before, status) == {} and outcome.events == []
    status, outcome = step(retraining, status, T0, checked=True, data="etag:b")
    first = status["retrain"]["pendingTrigger"]["key"]
    assert first == retrain.content_key("data", "etag:a", "etag:b") and first.startswith("data-")
    assert status["retrain"]["dataFingerprint"] == "etag:b"
    assert status["lastRetrain"]["message"] == "spec.data.source changed: etag:b (was etag:a)"
    status = {**start(retraining, status, T0, data="etag:b"), "phase": "Succeeded"}
    status, outcome = step(retraining, status, T0, checked=True, data="etag:b")
    assert "pendingTrigger" not in status["retrain"]
    status, _ = step(retraining, status, T0, checked=True, data="etag:a")  # changed back: a change all the same
    assert status["retrain"]["pendingTrigger"]["key"] not in (first, None)


def drift_seen(drifted: bool, fingerprint: str = "etag:x", champion: int = 1) -> retrain.DriftSeen:
    record = {"psi": 3.2 if drifted else 0.01, "ks": 0.9 if drifted else 0.02, "feature": "a",
              "message": "drift: worst feature a psi 3.2000 > 0.2" if drifted else "no drift", "method": "psi",
              "threshold": 0.2, "drifted": drifted, "scores": {"a": 3.2 if drifted else 0.01, "b": 0.01}}
    return retrain.DriftSeen(fingerprint, champion, record, f"file:///r/drift/{fingerprint}-v{champion}.html")


def test_drift_retrains_once_per_drifted_data():
    retraining = spec(drift={"current": "s3://data/current.csv"})
    status, outcome = step(retraining, idle(), T0, checked=True, drift=drift_seen(False))
    assert "pendingTrigger" not in status["retrain"] and "lastRetrain" not in status
    assert status["retrain"]["lastDriftCheck"]["drifted"] is False
    assert reasons(outcome) == ["NoDrift"]
    assert not retrain.drift_check_needed(typed(status), "etag:x", 1)
    assert retrain.drift_check_needed(typed(status), "etag:y", 1)
    assert retrain.drift_check_needed(typed(status), "etag:x", 2)

    status, outcome = step(retraining, status, T0, checked=True, drift=drift_seen(True, "etag:y"))
    key = retrain.content_key("drift", "etag:y")
    assert status["retrain"]["pendingTrigger"]["key"] == key
    last = status["lastRetrain"]
    assert (last["reason"], last["feature"], last["drifted"], last["psi"]) == ("drift", "a", True, 3.2)
    assert last["scores"] == {"a": 3.2, "b": 0.01} and last["report"].endswith("etag:y-v1.html")
    assert reasons(outcome) == ["DriftDetected", "RetrainTriggered"]
    assert TrainingRunStatus.model_validate(status).last_retrain.key == key

    status = {**start(retraining, status, T0), "phase": "Succeeded", "model": {"uri": "file:///r/v2", "version": 2}}
    status, outcome = step(retraining, status, T0, checked=True, drift=drift_seen(True, "etag:y", champion=2))
    assert "pendingTrigger" not in status["retrain"]  # the new champion is still far from it: no new reason
    assert reasons(outcome) == ["DriftPersists"]
    assert status["retrain"]["history"][0]["modelVersion"] == 2


def test_a_failed_check_is_reported_once():
    retraining = spec(onDataChange=True)
    status, outcome = step(retraining, idle(), T0, checked=True, problem="s3://d/x.csv: no such object")
    assert status["retrain"]["problem"] == "s3://d/x.csv: no such object"
    assert reasons(outcome) == ["RetrainCheckFailed"]
    status, outcome = step(retraining, status, T0 + timedelta(minutes=5), checked=True,
                           problem="s3://d/x.csv: no such object")
    assert outcome.events == []
    status, _ = step(retraining, status, T0 + timedelta(minutes=10), checked=True, data="etag:a")
    assert "problem" not in status["retrain"]


def test_triggers_due_together_start_one_run():
    retraining = spec(schedule="0 * * * *", onDataChange=True)
    status = idle(schedule="0 * * * * UTC", scheduledSince="2030-01-01T00:00:00Z", dataFingerprint="etag:a")
    status, outcome = step(retraining, status, datetime(2030, 1, 1, 1, 0, 1, tzinfo=UTC), checked=True,
                           data="etag:b")
    assert status["retrain"]["pendingTrigger"]["reason"] == "data"
    assert "schedule slot 2030-01-01T01:00:00Z is due" in status["retrain"]["pendingTrigger"]["message"]
    assert status["retrain"]["scheduledSince"] == "2030-01-01T01:00:00Z"
    assert reasons(outcome) == ["RetrainTriggered"]


def test_started_records_the_run_and_clears_the_trigger_in_one_write():
    retraining = spec(onDataChange=True, historyLimit=2)
    history = [{"key": f"data-{i}", "reason": "data", "at": "2030-01-01T00:00:00Z", "runName": f"r{i}",
                "phase": "Succeeded"} for i in range(2)]
    status, _ = step(retraining, idle(dataFingerprint="etag:a", history=history), T0, checked=True, data="etag:b")
    key = status["retrain"]["pendingTrigger"]["key"]
    status = start(retraining, status, T0, data="etag:c")
    state = status["retrain"]
    assert "pendingTrigger" not in state and state["lastTriggerKey"] == key
    assert [h["runName"] for h in state["history"]] == [f"run-{key}", "r0"]
    assert state["dataFingerprint"] == "etag:c"  # what the run starts on, taken just before it was submitted
    assert status["lastRetrain"]["runName"] == f"run-{key}"
    assert retraining_condition(status)["status"] == "True"
    assert TrainingRunStatus.model_validate(status).retrain.history[0].key == key


def test_replace_marks_the_stopped_run():
    retraining = spec(schedule="0 * * * *", concurrencyPolicy="Replace")
    state = {"schedule": "0 * * * * UTC", "scheduledSince": "2030-01-01T00:00:00Z",
             "history": [{"key": "schedule-1", "reason": "schedule", "at": "2030-01-01T00:00:00Z",
                          "runName": "default-iris-g1-spec-0"}]}
    status, _ = step(retraining, {**idle(**state), "phase": "Running"}, datetime(2030, 1, 1, 1, 0, 1, tzinfo=UTC),
                     in_flight=True)
    status = start(retraining, status, T0, replaced="default-iris-g1-spec-0")
    assert [h.get("phase") for h in status["retrain"]["history"]] == [None, "Replaced"]


def test_a_run_of_the_spec_supersedes_a_pending_trigger():
    waiting = {"key": "data-1", "reason": "data", "at": "2030-01-01T00:00:00Z", "message": "changed"}
    status = idle(pendingTrigger=waiting, dataFingerprint="etag:a")
    submitted = {**status, "phase": "Pending", "pipeline": {"runName": "g2", "generation": 2, "trigger": "spec"}}
    patch = diff(submitted, retrain.started(spec(onDataChange=True), typed(status), typed(submitted), "spec", "etag:b",
                                            T0, 2).to_wire())
    assert patch == {"retrain": {"pendingTrigger": None, "dataFingerprint": "etag:b"}}


def test_nothing_is_written_when_nothing_changed():
    retraining = spec(schedule="*/5 * * * *", onDataChange=True)
    status, _ = step(retraining, idle(), T0, checked=True, data="etag:a")
    after, outcome = step(retraining, status, T0 + timedelta(seconds=1))
    assert diff(status, after) == {} and outcome.events == []


def test_watching_starts_with_the_generations_own_run():
    assert retrain.watching(typed(idle()), 1)
    assert not retrain.watching(typed(idle()), 2)
    assert not retrain.watching(typed({**idle(), "phase": "Invalid"}), 1)


def test_merge_patch_sends_null_for_what_the_new_value_drops():
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "f": {"g": 1}}
    new = {"a": 1, "b": {"c": 2}, "e": [2]}
    assert merge_patch(old, new) == {"a": 1, "b": {"c": 2, "d": None}, "e": [2], "f": None}
    assert merged(old, merge_patch(old, new)) == new


def test_a_run_of_a_spec_without_retrain_drops_the_retraining_state():
    status, _ = step(spec(schedule="0 * * * *"), idle(), T0)
    submitted = {**status, "phase": "Pending"}
    patch = diff(submitted, retrain.dropped(typed(status), typed(submitted)).to_wire())
    assert patch["retrain"] is None and patch["nextScheduledRun"] is None
    assert [c["type"] for c in patch["conditions"]] == []
    pending = {"phase": "Pending", "conditions": []}
    assert diff(pending, retrain.dropped(typed(idle()), typed(pending)).to_wire()) == {}
