"""JSON kept deflated against a dictionary of what TrainingRuns repeat: the same value back, a fraction of the size."""

import json

import kopf

from mlcd.handlers.compact import deflate, inflate


def in_flight(index: int) -> dict:
    run = f"team-a-churn-{index}-g1-spec-5f0c2e9d1a"
    condition = {"status": "Unknown", "reason": "RunInProgress", "message": f"waiting for run {run}",
                 "lastTransitionTime": "2026-12-01T10:54:13Z", "observedGeneration": 1}
    return {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
            "metadata": {"generation": 1, "finalizers": ["mlcd.io/finalizer"]},
            "spec": {"data": {"source": "s3://team-a/churn.parquet", "target": "churned", "testFraction": 0.2},
                     "model": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 200 + index}}},
            "status": {"observedGeneration": 1, "phase": "Running", "message": f"run {run} is running",
                       "conditions": [{**condition, "type": kind} for kind in ("GatesPassed", "Ready", "Trained")],
                       "pipeline": {"specHash": "sha256:" + f"{index:064x}", "runName": run, "runId": run,
                                    "trigger": "spec", "generation": 1},
                       "submittedAt": "2026-12-01T10:54:13Z"}}


def test_what_is_deflated_comes_back_the_same():
    for index in range(5):
        body = in_flight(index)
        assert inflate(deflate(body)) == body
        assert inflate(deflate(kopf.Body(body))) == body  # kopf's bodies are mappings, not dicts
    assert inflate(deflate({"message": "ünïcode ✓", "count": None})) == {"message": "ünïcode ✓", "count": None}


def test_a_trainingrun_in_flight_keeps_a_fraction_of_its_json():
    body = in_flight(7)
    assert len(deflate(body)) * 4 < len(json.dumps(body, separators=(",", ":")))
