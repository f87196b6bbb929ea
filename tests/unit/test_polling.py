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
