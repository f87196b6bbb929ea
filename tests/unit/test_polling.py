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
