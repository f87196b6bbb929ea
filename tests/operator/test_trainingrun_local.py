"""The real operator over HTTP against the API emulator, with the `local` backend: real runs on iris."""

import time

import pytest

from mlcd.handlers import metrics
from mlcd.storage import open_registry
from tests.operator.helpers import condition, phase, registry_for, runs_in, settings, trainingrun


def registry_uri(tmp_path, name="iris") -> str:
    return (tmp_path / "registry" / name).as_uri()


def test_a_trainingrun_goes_to_succeeded_with_results_in_status(cluster, home, tmp_path, run_operator, wait_for):
    run_operator(registry_for(home), settings())
    cluster.create(trainingrun(registry={"uri": registry_uri(tmp_path)}))
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected", "Invalid"), deadline=90)
    status = done["status"]
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["observedGeneration"] == 1
    assert status["metrics"]["accuracy"] >= 0.8
    accuracy = status["metrics"]["accuracy"]
    assert status["gates"] == [{"metric": "accuracy", "passed": True, "value": accuracy, "threshold": 0.8,
                                "message": f"accuracy {accuracy:.4g} passes >= 0.8"}]
    registered = open_registry(registry_uri(tmp_path)).metadata(1)["model"]["sha256"]
    assert status["model"] == {"uri": f"{registry_uri(tmp_path)}/v1", "version": 1, "sha256": registered}
    assert status["keyMetric"].startswith("accuracy=")
    assert status["pipeline"]["generation"] == 1 and status["pipeline"]["specHash"].startswith("sha256:")
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Valid": "True", "Compiled": "True", "Submitted": "True", "Trained": "True", "GatesPassed": "True",
        "Ready": "True", "StorageReady": "True"}
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    assert runs_in(home) == [status["pipeline"]["runName"]]
    reasons = wait_for(lambda: cluster.reasons("iris"), lambda r: "RunSucceeded" in r)
    assert reasons[0] == "RunSubmitted"
    # Level-triggered on status.observedGeneration: kopf keeps no bookkeeping on the object (no annotation
    # with the last handled spec, no progress), so the operator's one write per transition is the status.
    assert not done["metadata"].get("annotations")
    # The poller follows a run without a timer per object: kopf never put a finalizer on it (deletePolicy keep).
    assert "finalizers" not in done["metadata"]
    # Finished, nothing to retrain: nothing looks at it any more (five poll intervals of 0.3 s, no reconcile).
    seen = reconciles()
    time.sleep(1.5)
    assert reconciles() == seen


def reconciles() -> float:
    """TrainingRun reconciles so far, of this process's operators (the metric mlcd_reconciles_total)."""
    return sum(sample.value for metric in metrics.RECONCILES.collect() for sample in metric.samples
               if sample.name == "mlcd_reconciles_total" and sample.labels["kind"] == "TrainingRun")


def test_a_finished_trainingrun_that_retrains_is_still_looked_at(cluster, home, tmp_path, run_operator, wait_for):
    run_operator(registry_for(home), settings())
    cluster.create(trainingrun(registry={"uri": registry_uri(tmp_path)}, retrain={"schedule": "0 3 1 1 *"}))
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected", "Invalid"), deadline=90)
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert done["status"]["nextScheduledRun"].endswith("-01-01T03:00:00Z")
    assert "finalizers" not in cluster.fetch("iris")()["metadata"]
    seen = reconciles()
    wait_for(reconciles, lambda n: n >= seen + 3, deadline=30)  # the poller, every 0.3 s: its schedule is due some day


def test_a_gate_failure_ends_rejected(cluster, home, tmp_path, run_operator, wait_for):
    run_operator(registry_for(home), settings())
    cluster.create(trainingrun(gates=[{"metric": "accuracy", "min": 0.999}],
                               registry={"uri": registry_uri(tmp_path)}))
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=90)
    assert done["status"]["phase"] == "Rejected"
    assert condition(done, "GatesPassed")["status"] == "False"
    assert condition(done, "GatesPassed")["reason"] == "GateFailed"
    assert "model" not in done["status"]
    assert wait_for(lambda: cluster.reasons("iris"), lambda r: "GateFailed" in r)


INVALID = {
    "import-path": ({"model": {"estimator": "os.system"}}, "spec.model.estimator"),
    "unknown-estimator": ({"model": {"estimator": "RandomForestClasifier"}}, "spec.model.estimator"),
    "misspelt-param": ({"model": {"estimator": "RandomForestClassifier", "params": {"n_estimatorz": 3}}},
                       "spec.model.params.n_estimatorz"),
    "metric-of-wrong-kind": ({"model": {"estimator": "Ridge"}}, "spec.gates[0].metric"),
    "param-out-of-range": ({"model": {"estimator": "RandomForestClassifier", "params": {"max_depth": -1}}},
                           "spec.model.params.max_depth"),
}


def test_invalid_specs_are_reported_and_never_run(cluster, home, run_operator, wait_for):
    run_operator(registry_for(home), settings())
    for name, (spec, _) in INVALID.items():
        cluster.create(trainingrun(name, **spec))
    for name, (_, path) in INVALID.items():
        done = wait_for(cluster.fetch(name), phase("Invalid"), deadline=30)
        valid = condition(done, "Valid")
        assert valid["status"] == "False" and valid["reason"] == "InvalidSpec"
        assert path in valid["message"] and path in done["status"]["message"]
        events = wait_for(lambda n=name: cluster.events(n), lambda e: any(x.reason == "InvalidSpec" for x in e))
        assert [e.type for e in events if e.reason == "InvalidSpec"] == ["Warning"]
    assert runs_in(home) == []
    # The operator is alive: a valid TrainingRun next to them still runs.
    cluster.create(trainingrun("good"))
    assert wait_for(cluster.fetch("good"), phase("Succeeded"), deadline=90)
    assert runs_in(home) == [cluster.get("good")["status"]["pipeline"]["runName"]]


def test_schema_errors_are_refused_by_the_api_server(cluster):
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        cluster.create(trainingrun(data={"source": "builtin://iris", "testFraction": 1.5}))
    assert refused.value.status == 422
    assert "spec.data.testFraction" in refused.value.body
