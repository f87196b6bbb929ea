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
