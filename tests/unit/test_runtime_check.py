"""Compatibility before traffic: the operator's verdict on a version for a runtime, and what decide() does with it."""

from datetime import UTC, datetime

import pytest

from mlcd.reconcile import decide
from mlcd.reconcile.runtime import check_runtime

OWN = {"sklearn": "1.7.2", "mlcd": "0.1.0"}
URI = "s3://models/iris/v4"


@pytest.mark.parametrize(("recorded", "compatible", "reason"), [
    ({"sklearn": "1.7.2"}, True, "RuntimeCompatible"),
    ({"sklearn": "1.6.1"}, True, "RuntimeCompatible"),  # an older minor of the same major unpickles
    ({"sklearn": "1.8.0"}, False, "RuntimeIncompatible"),
    ({"sklearn": "0.24.2"}, False, "RuntimeIncompatible"),
    ({}, None, "VersionsNotRecorded"),
    (None, None, "MetadataUnreadable"),
])
def test_the_verdict_names_both_versions(recorded, compatible, reason):
    check = check_runtime("mlcd-sklearn", URI, recorded, OWN, problem="timed out")
    assert (check.compatible, check.reason) == (compatible, reason)
    if compatible is not None:
        assert f"scikit-learn {recorded['sklearn']}" in check.message and "1.7.2" in check.message


def test_another_runtime_is_not_judged():
    check = check_runtime("kserve-sklearnserver", URI, {"sklearn": "0.24.2"}, OWN)
    assert (check.compatible, check.reason) == (None, "OtherRuntime")


def md(uri: str, status: dict | None = None) -> dict:
    return {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment",
            "metadata": {"name": "iris", "namespace": "models", "uid": "u1", "generation": 2},
            "spec": {"model": {"uri": uri}}, "status": status or {}}


def test_an_incompatible_first_version_creates_no_inferenceservice():
    check = check_runtime("mlcd-sklearn", URI, {"sklearn": "0.24.2"}, OWN)
    decision = decide(md(URI), None, datetime(2030, 1, 1, tzinfo=UTC), runtime=check)
    assert decision.inferenceservice is None
    status = decision.status.to_wire()
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RuntimeIncompatible")
    assert "0.24.2" in ready["message"] and "1.7.2" in ready["message"] and "nothing is deployed" in ready["message"]
    compatible = next(c for c in status["conditions"] if c["type"] == "RuntimeCompatible")
    assert (compatible["status"], compatible["reason"]) == ("False", "RuntimeIncompatible")
    assert status["phase"] == "Failed"
    assert [e[1] for e in decision.events] == ["RuntimeIncompatible"]
    again = decide(md(URI, status), None, datetime(2030, 1, 1, tzinfo=UTC), runtime=check)
    assert again.events == [] and again.status.to_wire() == status


def test_each_verdict_says_what_was_compared():
    assert check_runtime("mlcd-sklearn", URI, {"sklearn": "1.7.2"}, OWN).message == (
        f"{URI} was trained with scikit-learn 1.7.2; runtime mlcd-sklearn serves with 1.7.2")
    assert check_runtime("mlcd-sklearn", URI, {"sklearn": "1.8.0"}, OWN).message == (
        f"{URI} was trained with scikit-learn 1.8.0, runtime mlcd-sklearn serves with scikit-learn 1.7.2: "
        "model.joblib was pickled by scikit-learn 1.8.0, which scikit-learn 1.7.2 (runtime mlcd-sklearn) cannot "
        "load safely; install scikit-learn~=1.8.0 to serve it, or retrain it with 1.7.2")
    assert check_runtime("mlcd-sklearn", URI, {}, OWN).message == (
        f"{URI}: metadata.json records no scikit-learn version; runtime mlcd-sklearn serves with 1.7.2")
    assert check_runtime("mlcd-sklearn", URI, None, OWN, problem="timed out").message == (
        f"{URI}: the versions that trained it could not be read (timed out); the server checks them as it loads it")
    assert check_runtime("kserve-sklearnserver", URI, None, OWN).message == (
        "runtime kserve-sklearnserver is not mlcd's mlcd-sklearn: the operator does not know its library versions "
        "and cannot check them")
