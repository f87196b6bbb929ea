"""The timer looks only at TrainingRuns that can still change without an event."""

import pytest

from mlcd.reconcile.polling import needs_polling

SPEC = {"data": {"source": "builtin://iris"}, "model": {"estimator": "RandomForestClassifier"}}
RETRAIN = {**SPEC, "retrain": {"schedule": "0 3 * * *"}}


@pytest.mark.parametrize("status", [None, {}, {"phase": "Pending"}, {"phase": "Running", "observedGeneration": 1}])
def test_a_trainingrun_not_handled_yet_queued_or_in_flight_is_polled(status):
    assert needs_polling(SPEC, status, 1)


@pytest.mark.parametrize("phase", ["Succeeded", "Rejected", "Failed", "Invalid"])
def test_a_settled_trainingrun_is_not_polled(phase):
    assert not needs_polling(SPEC, {"phase": phase, "observedGeneration": 3}, 3)


@pytest.mark.parametrize("phase", ["Succeeded", "Rejected", "Failed", "Invalid"])
def test_a_settled_trainingrun_that_retrains_is_polled(phase):
    assert needs_polling(RETRAIN, {"phase": phase, "observedGeneration": 1}, 1)


def test_a_status_of_an_older_generation_is_polled():
    assert needs_polling(SPEC, {"phase": "Succeeded", "observedGeneration": 1}, 2)
    assert not needs_polling(SPEC, {"phase": "Succeeded", "observedGeneration": 1}, None)


@pytest.mark.parametrize(("status", "meta", "event", "starts"), [
    (None, {"generation": 1}, "ADDED", True),  # new
    ({"phase": "Pending"}, {"generation": 1}, None, True),  # listed at start-up, never acted on
    ({"phase": "Running", "observedGeneration": 1}, {"generation": 2}, "MODIFIED", True),  # its spec changed
    ({"phase": "Pending", "observedGeneration": 1}, {"generation": 1}, "MODIFIED", False),  # our own write's echo
    ({"phase": "Succeeded", "observedGeneration": 3}, {"generation": 3}, None, False),  # settled, at start-up
    (None, {"generation": 1, "deletionTimestamp": "2026-12-01T00:00:00Z"}, "MODIFIED", False),
    (None, {"generation": 1}, "DELETED", False),
])
def test_a_watch_event_starts_a_reconcile_only_for_a_generation_not_acted_on(status, meta, event, starts):
    from mlcd.reconcile.polling import unhandled_generation

    assert unhandled_generation(status, meta, event) is starts


@pytest.mark.parametrize(("spec", "meta", "waits"), [
    ({"deletePolicy": "stopRuns"}, {}, True),  # kopf adds the finalizer after this event's handlers
    ({"deletePolicy": "stopRuns"}, {"finalizers": ["other.io/x"]}, True),
    ({"deletePolicy": "stopRuns"}, {"finalizers": ["mlcd.io/finalizer"]}, False),
    ({"deletePolicy": "stopRuns"}, {"deletionTimestamp": "2026-12-01T00:00:00Z"}, False),  # going: not ours to hold
    ({"deletePolicy": "keep"}, {}, False),  # no finalizer wanted: nothing to wait for
    ({}, {}, False),
])
def test_a_trainingrun_that_stops_its_runs_on_delete_waits_for_the_finalizer(spec, meta, waits):
    from mlcd.reconcile.polling import awaits_finalizer

    assert awaits_finalizer(spec, meta, "mlcd.io/finalizer") is waits


RUNNING = {"phase": "Running", "submittedAt": "2030-01-01T03:00:00Z",
           "pipeline": {"runName": "default-iris-g1-spec-0123456789", "runId": "8f2c"}}


def test_a_run_in_flight_with_nothing_else_to_decide_is_only_followed_until_its_deadline():
    from datetime import datetime

    from mlcd.reconcile.polling import followed_run, run_deadline

    assert followed_run(SPEC, RUNNING) == ("default-iris-g1-spec-0123456789", "8f2c", "")
    assert followed_run(RETRAIN, RUNNING) is None  # a schedule, the data or drift may decide something
    assert followed_run(SPEC, RUNNING, deleting=True) is None
    assert followed_run(SPEC, {**RUNNING, "phase": "Succeeded"}) is None
    queued = {"phase": "Pending", "conditions": [{"type": "Submitted", "status": "False", "reason": "Queued"}]}
    assert followed_run(SPEC, queued) is None
    start = datetime.fromisoformat("2030-01-01T03:00:00+00:00").timestamp()
    assert run_deadline({**SPEC, "timeouts": {"runSeconds": 600}}, RUNNING) == start + 600
    assert run_deadline(SPEC, {"phase": "Pending"}) is None


def test_a_followed_run_keeps_its_url_and_one_string_when_its_id_is_its_name():
    import json

    from mlcd.reconcile.polling import followed_run

    url = "https://kfp.example/#/runs/details/8f2c"
    assert followed_run(SPEC, {**RUNNING, "pipeline": {**RUNNING["pipeline"], "runUrl": url}}) == (
        "default-iris-g1-spec-0123456789", "8f2c", url)
    assert followed_run(SPEC, {"phase": "Pending", "pipeline": {"runName": "r1"}}) == ("r1", "r1", "")  # no id yet
    # A body read from JSON holds two equal strings; the poller keeps one for ten thousand runs, not two.
    status = json.loads('{"phase": "Running", "pipeline": {"runName": "argo-r1", "runId": "argo-r1"}}')
    assert status["pipeline"]["runId"] is not status["pipeline"]["runName"]
    name, run_id, url = followed_run(SPEC, status)
    assert (name, run_id, url) == ("argo-r1", "argo-r1", "")
    assert run_id is name


@pytest.mark.parametrize("status", [
    {"phase": "Running"},  # no pipeline yet
    {"phase": "Running", "pipeline": {}},
    {"phase": "Running", "pipeline": {"runName": "", "runId": "8f2c"}},
    # a run of an earlier generation, and this generation queued for a slot: the queue decides, not the run
    {**RUNNING, "phase": "Pending",
     "conditions": [{"type": "Submitted", "status": "False", "reason": "Queued",
                     "lastTransitionTime": "2030-01-01T04:00:00Z"}]},
    {**RUNNING, "conditions": [{"type": "Submitted", "status": "False", "reason": "Queued"}]},
])
def test_a_run_without_a_name_or_a_trainingrun_queued_for_a_slot_is_not_followed(status):
    from mlcd.reconcile.polling import followed_run

    assert followed_run(SPEC, status) is None


def test_a_run_in_flight_with_other_conditions_is_followed():
    from mlcd.reconcile.polling import followed_run

    status = {**RUNNING, "conditions": [{"type": "Submitted", "status": "True", "reason": "RunSubmitted"},
                                        {"type": "Trained", "status": "False", "reason": "Queued"}]}
    assert followed_run(SPEC, status) == ("default-iris-g1-spec-0123456789", "8f2c", "")


@pytest.mark.parametrize(("observed", "starts"), [(None, True), (1, False), (2, True)])
def test_an_object_without_a_generation_is_at_its_first(observed, starts):
    from mlcd.reconcile.polling import unhandled_generation

    assert unhandled_generation({"observedGeneration": observed}, {}, "MODIFIED") is starts
    assert unhandled_generation({"observedGeneration": observed}, {"generation": None}, None) is starts


@pytest.mark.parametrize(("status", "since"), [
    ({"conditions": [{"type": "Submitted", "status": "False", "reason": "Queued",
                      "lastTransitionTime": "2030-01-01T04:00:00Z"}]}, "2030-01-01T04:00:00Z"),
    # the Submitted condition among others, after one that carries the word Queued for something else
    ({"conditions": [{"type": "Trained", "status": "False", "reason": "Queued",
                      "lastTransitionTime": "2030-01-01T01:00:00Z"},
                     {"type": "Ready", "status": "False", "reason": "Waiting",
                      "lastTransitionTime": "2030-01-01T02:00:00Z"},
                     {"type": "Submitted", "status": "False", "reason": "Queued",
                      "lastTransitionTime": "2030-01-01T05:00:00Z"}]}, "2030-01-01T05:00:00Z"),
    # queued, but the time of its transition is missing: it waits, and sorts first
    ({"conditions": [{"type": "Submitted", "status": "False", "reason": "Queued"}]}, ""),
    ({"conditions": [{"type": "Submitted", "status": "False", "reason": "Queued", "lastTransitionTime": None}]},
     ""),
])
def test_a_trainingrun_queued_for_a_slot_waits_since_its_submitted_condition_changed(status, since):
    from mlcd.reconcile.polling import queued_since

    assert queued_since(status) == since


@pytest.mark.parametrize("status", [
    None, {}, {"conditions": None}, {"conditions": []},
    {"conditions": [{"type": "Submitted", "status": "True", "reason": "RunSubmitted",
                     "lastTransitionTime": "2030-01-01T04:00:00Z"}]},
    {"conditions": [{"type": "Trained", "status": "False", "reason": "Queued",
                     "lastTransitionTime": "2030-01-01T04:00:00Z"}]},
    {"conditions": [{"status": "False", "reason": "Queued", "lastTransitionTime": "2030-01-01T04:00:00Z"}]},
])
def test_a_trainingrun_not_queued_for_a_slot_waits_for_nothing(status):
    from mlcd.reconcile.polling import queued_since

    assert queued_since(status) is None
