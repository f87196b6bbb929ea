"""What retraining writes for a user to read: keys, messages, the Retraining condition, history, limits."""

from datetime import UTC, datetime, timedelta

from mlcd.api.v1alpha1.trainingrun import TrainingRunStatus
from mlcd.reconcile import retrain
from tests.unit.test_retrain import T0, drift_seen, idle, reasons, retraining_condition, spec, start, step, typed

LONG = "x" * 3000


def test_keys_are_stable_across_operator_versions():
    # A key names its run; an upgraded operator must find the runs the previous one started.
    assert retrain.content_key("data", "etag:a", "etag:b") == "data-756e5950da91"
    assert retrain.content_key("drift", "etag:y") == "drift-f41ee2eff35a"
    assert retrain.fingerprint_id("etag", "abc") == "etag:abc"
    assert retrain.fingerprint_id("etag", "abc", "v3") == "etag:abc@v3"
    assert [retrain.reason_of(k) for k in ("data-756e5950da91", "schedule-1893456000", "spec")] == [
        "data", "schedule", "spec"]


def test_a_schedule_follows_its_time_zone():
    noon = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert retrain.latest_slot("0 3 * * *", "Europe/Berlin", noon) == datetime(2030, 1, 1, 2, tzinfo=UTC)


def test_a_slot_exactly_at_the_starting_deadline_still_starts():
    slot = datetime(2030, 1, 1, 1, tzinfo=UTC)
    found = retrain.slots("0 * * * *", "UTC", T0, slot + timedelta(seconds=60), 60)
    assert (found.due, found.missed) == (slot, None)


def test_a_trainingrun_without_retraining_state_yet():
    bare = {"phase": "Succeeded", "observedGeneration": 1, "conditions": []}
    status, outcome = step(spec(), bare, T0)
    assert "retrain" not in status and outcome.events == []
    assert retraining_condition(status)["message"] == "spec.retrain sets no trigger"
    assert retrain.pending(typed(bare)) is None
    assert retrain.cooldown_until(spec(minIntervalSeconds=60), typed(bare)) is None
    assert retrain.check_due(spec(onDataChange=True), typed(bare), T0, in_flight=False)
    assert retrain.drift_check_needed(typed(bare), "etag:x", 1)
    assert retrain.blocked(spec(minIntervalSeconds=60), typed(idle()), T0, in_flight=False) is None


def test_the_condition_names_every_trigger_it_waits_for():
    retraining = spec(schedule="0 * * * *", timeZone="Europe/Berlin", onDataChange=True, pollSeconds=60,
                      drift={"current": "s3://data/current.csv"})
    status, _ = step(retraining, idle(), T0)
    condition = retraining_condition(status)
    assert (condition["status"], condition["reason"]) == ("False", "Waiting")
    assert condition["message"] == (
        "waiting for schedule '0 * * * *' (Europe/Berlin), next run 2030-01-01T01:00:00Z; spec.data.source checked "
        "every 60s; drift of s3://data/current.csv checked every 60s (psi above 0.2)")


def test_a_pending_trigger_and_a_retraining_run_in_flight_are_the_condition():
    retraining = spec(onDataChange=True)
    status, outcome = step(retraining, idle(dataFingerprint="etag:a"), T0, checked=True, data="etag:b")
    message = "spec.data.source changed: etag:b (was etag:a)"
    condition = retraining_condition(status)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "True", "DataChanged", f"{message}; starting its run")
    assert condition["observedGeneration"] == 1 and condition["lastTransitionTime"] == "2030-01-01T00:00:30Z"
    assert outcome.events == [("Normal", "RetrainTriggered", f"{message}; run key data-756e5950da91")]

    later = T0 + timedelta(minutes=1)
    running = start(retraining, status, later)
    condition = retraining_condition(running)
    run = "run-data-756e5950da91"
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "True", "DataChanged", f"run {run} for data-756e5950da91: {message}")
    assert condition["observedGeneration"] == 1 and condition["lastTransitionTime"] == "2030-01-01T00:00:30Z"
    assert running["lastRetrain"]["runName"] == run

    running = {**running, "phase": "Running"}
    status, _ = step(retraining, running, later, in_flight=True)
    condition = retraining_condition(status)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "True", "DataChanged", f"run {run} for data-756e5950da91 in flight")
    drift_run = {**running, "pipeline": {"runName": "r2", "generation": 1, "trigger": "drift-f41ee2eff35a"}}
    assert retraining_condition(step(retraining, drift_run, later, in_flight=True)[0])["reason"] == "DriftDetected"
    other = {**running, "pipeline": {"runName": "r3", "generation": 1, "trigger": "manual-1"}}
    assert retraining_condition(step(retraining, other, later, in_flight=True)[0])["reason"] == "Retraining"
    own = {**running, "pipeline": {"runName": "g1", "generation": 1, "trigger": "spec"}}
    assert retraining_condition(step(retraining, own, later, in_flight=True)[0])["reason"] == "Waiting"
    no_pipeline = {k: v for k, v in running.items() if k != "pipeline"}
    assert retraining_condition(step(retraining, no_pipeline, later, in_flight=True)[0])["reason"] == "Waiting"


def test_cooling_down_is_not_retraining():
    history = [{"key": "data-1", "reason": "data", "at": "2030-01-01T00:00:00Z", "runName": "r1", "phase": "Succeeded"}]
    status, _ = step(spec(onDataChange=True, minIntervalSeconds=600), idle(history=history), T0)
    condition = retraining_condition(status)
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False", "CoolingDown", "no retraining before 2030-01-01T00:10:00Z (minIntervalSeconds 600)")


def test_a_run_refused_at_once_enters_the_history_as_it_ended():
    retraining = spec(onDataChange=True)
    status, _ = step(retraining, idle(dataFingerprint="etag:a"), T0, checked=True, data="etag:b")
    key = status["retrain"]["pendingTrigger"]["key"]
    submitted = {**status, "phase": "Failed", "pipeline": {"runName": "r9", "generation": 1, "trigger": key}}
    out = retrain.started(retraining, typed(status), typed(submitted), key, None, T0, 1).to_wire()
    assert out["retrain"]["history"][0]["phase"] == "Failed"
    assert retraining_condition(out)["message"].endswith("; starting its run")  # not "run r9 for ..."


def test_replace_marks_only_the_stopped_run_still_in_flight():
    retraining = spec(schedule="0 * * * *", concurrencyPolicy="Replace")
    state = {"schedule": "0 * * * * UTC", "scheduledSince": "2030-01-01T00:00:00Z", "history": [
        {"key": "schedule-2", "reason": "schedule", "at": "2030-01-01T00:30:00Z", "runName": "r2"},
        {"key": "schedule-1", "reason": "schedule", "at": "2030-01-01T00:00:00Z", "runName": "r1",
         "phase": "Succeeded"}]}
    status, _ = step(retraining, {**idle(**state), "phase": "Running"}, datetime(2030, 1, 1, 1, 0, 1, tzinfo=UTC),
                     in_flight=True)
    out = start(retraining, status, T0, replaced="r1")
    assert [h.get("phase") for h in out["retrain"]["history"]] == [None, None, "Succeeded"]
    out = start(retraining, status, T0)
    assert [h.get("phase") for h in out["retrain"]["history"]] == [None, None, "Succeeded"]


def test_the_newest_history_entry_learns_how_its_run_ended():
    history = [{"key": "data-2", "reason": "data", "at": "2030-01-01T00:00:00Z", "runName": "default-iris-g1-spec-0"},
               {"key": "data-1", "reason": "data", "at": "2029-12-31T00:00:00Z", "runName": "r1", "phase": "Failed"},
               {"key": "data-0", "reason": "data", "at": "2029-12-30T00:00:00Z", "runName": "r0", "phase": "Failed"}]
    status, _ = step(spec(onDataChange=True), idle(history=history), T0)
    assert [(h["key"], h.get("phase")) for h in status["retrain"]["history"]] == [
        ("data-2", "Succeeded"), ("data-1", "Failed"), ("data-0", "Failed")]


def test_drift_reports_say_what_was_compared_and_where_the_report_is():
    retraining = spec(drift={"current": "s3://data/current.csv"})
    status, outcome = step(retraining, idle(), T0, checked=True, drift=drift_seen(False))
    assert outcome.events == [("Normal", "NoDrift",
                               "no drift (champion v1, report file:///r/drift/etag:x-v1.html)")]
    assert status["retrain"]["lastDriftCheck"]["reason"] == "drift"
    unwritten = retrain.DriftSeen("etag:z", 2, {"drifted": True, "message": "drift: a"})
    status, outcome = step(retraining, status, T0, checked=True, drift=unwritten)
    assert outcome.events[0] == ("Warning", "DriftDetected", "drift: a (champion v2, report not written)")
    assert status["lastRetrain"]["message"] == "spec.retrain.drift.current drifted: drift: a"
    silent = retrain.DriftSeen("etag:w", 2, {"drifted": True})
    status, _ = step(retraining, idle(), T0, checked=True, drift=silent)
    assert status["lastRetrain"]["message"] == "spec.retrain.drift.current drifted: "


def test_drift_already_answered_is_recognised_by_either_record():
    retraining = spec(drift={"current": "s3://data/current.csv"})
    key = retrain.content_key("drift", "etag:y")
    by_last_key = idle(lastTriggerKey=key)
    by_history = idle(history=[{"key": key, "reason": "drift", "at": "2029-12-31T00:00:00Z", "runName": "r1",
                                "phase": "Succeeded"}])
    for status in (by_last_key, by_history):
        after, outcome = step(retraining, status, T0, checked=True, drift=drift_seen(True, "etag:y"))
        assert reasons(outcome) == ["DriftPersists"] and "pendingTrigger" not in after["retrain"]


def test_triggers_due_together_are_named_in_one_message():
    retraining = spec(schedule="0 * * * *", onDataChange=True)
    status = idle(schedule="0 * * * * UTC", scheduledSince="2030-01-01T00:00:00Z", dataFingerprint="etag:a")
    status, _ = step(retraining, status, datetime(2030, 1, 1, 1, 0, 1, tzinfo=UTC), checked=True, data="etag:b")
    assert status["retrain"]["pendingTrigger"]["message"] == (
        "spec.data.source changed: etag:b (was etag:a); schedule slot 2030-01-01T01:00:00Z is due")


def test_a_schedule_offset_fires_each_slot_that_much_late():
    retraining = spec(schedule="0 * * * *")
    status = idle(schedule="0 * * * * UTC", scheduledSince="2030-01-01T00:00:00Z")
    outcome = retrain.evaluate(retraining, typed(status), retrain.Observed(datetime(2030, 1, 1, 1, 0, 30, tzinfo=UTC)),
                               generation=1, schedule_offset=60)
    assert outcome.status.retrain.pending_trigger is None
    assert outcome.status.next_scheduled_run == "2030-01-01T01:01:00Z"
    outcome = retrain.evaluate(retraining, typed(status), retrain.Observed(datetime(2030, 1, 1, 1, 1, tzinfo=UTC)),
                               generation=1, schedule_offset=60)
    assert outcome.status.retrain.pending_trigger.key == "schedule-1893459600"
    assert outcome.status.next_scheduled_run == "2030-01-01T02:01:00Z"


def test_a_schedule_removed_from_the_spec_leaves_no_trace():
    status = idle(schedule="0 * * * * UTC", scheduledSince="2030-01-01T00:00:00Z", dataFingerprint="etag:a")
    after, _ = step(spec(onDataChange=True), status, T0)
    assert after["retrain"] == {"dataFingerprint": "etag:a"} and "nextScheduledRun" not in after


def test_long_messages_are_cut_where_users_read_them():
    retraining = spec(onDataChange=True)
    status, outcome = step(retraining, idle(), T0, checked=True, problem=LONG)
    assert len(status["retrain"]["problem"]) == len(outcome.events[0].message) == 1000
    status, outcome = step(retraining, idle(dataFingerprint="etag:a"), T0, checked=True, data="etag:" + LONG)
    assert len(status["retrain"]["pendingTrigger"]["message"]) == len(outcome.events[0].message) == 1000
    assert len(retraining_condition(start(retraining, status, T0))["message"]) == 1000
    drifting = spec(drift={"current": "s3://data/current.csv"})
    seen = retrain.DriftSeen("etag:q", 1, {"drifted": True, "message": LONG})
    _, outcome = step(drifting, idle(), T0, checked=True, drift=seen)
    assert [len(e.message) for e in outcome.events] == [1000, 1000]
    persists = retrain.DriftSeen("etag:q", 1, {"drifted": False, "message": LONG})
    _, outcome = step(drifting, idle(), T0, checked=True, drift=persists)
    assert [len(e.message) for e in outcome.events] == [1000]
    key = retrain.content_key("drift", "etag:q")
    _, outcome = step(drifting, idle(lastTriggerKey=key), T0, checked=True, drift=seen)
    assert [len(e.message) for e in outcome.events] == [1000]


def test_deciding_never_changes_the_status_it_was_given():
    retraining = spec(onDataChange=True)
    given = typed(idle(dataFingerprint="etag:a"))
    before = given.to_wire()
    outcome = retrain.evaluate(retraining, given, retrain.Observed(T0, checked=True, data="etag:b"), generation=1)
    assert given.to_wire() == before and outcome.status.to_wire() != before
    submitted = TrainingRunStatus.model_validate({**outcome.status.to_wire(), "phase": "Pending"})
    was = submitted.to_wire()
    retrain.started(retraining, outcome.status, submitted, outcome.status.retrain.pending_trigger.key, None, T0, 1)
    retrain.dropped(outcome.status, submitted)
    assert submitted.to_wire() == was


def test_no_check_is_due_while_a_trigger_waits_for_its_run():
    waiting = {"key": "data-1", "reason": "data", "at": "2030-01-01T00:00:00Z", "message": "changed"}
    assert not retrain.check_due(spec(onDataChange=True), typed(idle(pendingTrigger=waiting)), T0, in_flight=False)


def test_a_trigger_recorded_without_its_last_retrain_still_starts_with_its_condition():
    # As an older operator may have left it: the pending trigger, but neither lastRetrain nor the condition.
    waiting = {"key": "data-1", "reason": "data", "at": "2030-01-01T00:00:00Z", "message": "changed"}
    status = idle(pendingTrigger=waiting)
    submitted = {**status, "phase": "Pending", "pipeline": {"runName": "r1", "generation": 1, "trigger": "data-1"}}
    later = T0 + timedelta(minutes=1)
    out = retrain.started(spec(onDataChange=True), typed(status), typed(submitted), "data-1", None, later, 1).to_wire()
    assert "lastRetrain" not in out and out["retrain"]["lastTriggerKey"] == "data-1"
    condition = retraining_condition(out)
    assert (condition["status"], condition["message"], condition["lastTransitionTime"]) == (
        "True", "run r1 for data-1: changed", "2030-01-01T00:01:30Z")
