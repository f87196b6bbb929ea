"""Readiness read from an InferenceService status, shaped as KServe's CRD defines it."""

from mlcd.kserve import readiness


def isvc(*, generation=3, observed=3, ready="True", traffic=None, model_status=None, **predictor) -> dict:
    status = {
        "observedGeneration": observed,
        "url": "http://iris.models.example.com",
        "deploymentMode": "Knative",
        "conditions": [{"type": "PredictorReady", "status": ready},
                       {"type": "Ready", "status": ready, "reason": None if ready == "True" else "RevisionMissing",
                        "message": "" if ready == "True" else "Revision iris-predictor-00002 not ready"}],
        "components": {"predictor": {"latestCreatedRevision": "iris-predictor-00002",
                                     "latestReadyRevision": "iris-predictor-00002", **predictor,
                                     "traffic": traffic or []}},
    }
    if model_status:
        status["modelStatus"] = model_status
    return {"metadata": {"name": "iris", "generation": generation}, "status": status}


def test_ready_needs_the_condition_and_the_generation_caught_up():
    r = readiness(isvc())
    assert r.ready and r.generation_current and r.url == "http://iris.models.example.com"
    assert r.deployment_mode == "Knative"
    stale = readiness(isvc(generation=4, observed=3))
    assert not stale.ready and not stale.generation_current
    assert stale.reason == "GenerationNotObserved" and "3, not yet 4" in stale.message


def test_not_ready_carries_kserves_reason():
    r = readiness(isvc(ready="False"))
    assert not r.ready
    assert (r.reason, r.message) == ("RevisionMissing", "Revision iris-predictor-00002 not ready")


def test_missing_object_or_status():
    assert readiness(None).reason == "NotFound"
    r = readiness({"metadata": {"generation": 1}})
    assert not r.ready and r.reason == "GenerationNotObserved"
    r = readiness({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}})
    assert not r.ready and r.reason == "NoReadyCondition"


def test_latest_revision_share():
    traffic = [{"revisionName": "iris-predictor-00001", "percent": 90, "latestRevision": False},
               {"revisionName": "iris-predictor-00002", "percent": 10, "latestRevision": True, "tag": "latest"}]
    r = readiness(isvc(traffic=traffic))
    assert r.latest_revision_percent == 10 and r.serves_share(10) and not r.serves_share(100)
    assert r.latest_revision_ready


def test_latest_revision_not_ready_yet():
    r = readiness(isvc(latestReadyRevision="iris-predictor-00001"))
    assert not r.latest_revision_ready


def test_without_traffic_list_the_single_revision_serves_everything():
    r = readiness(isvc())
    assert r.latest_revision_percent is None and r.serves_share(100) and not r.serves_share(10)


def test_model_load_failure_is_detected():
    failed = {"states": {"activeModelState": "Loaded", "targetModelState": "FailedToLoad"},
              "transitionStatus": "BlockedByFailedLoad",
              "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "sha256 mismatch"}}
    r = readiness(isvc(model_status=failed))
    assert r.model_failed and not r.ready
    assert r.failure == "ModelLoadFailed: sha256 mismatch"


def test_invalid_spec_counts_as_failure_and_loaded_does_not():
    r = readiness(isvc(model_status={"transitionStatus": "InvalidSpec"}))
    assert r.model_failed and r.failure == "ModelLoadFailed: InvalidSpec"
    loaded = {"states": {"targetModelState": "Loaded"}, "transitionStatus": "UpToDate",
              "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "an old failure"}}
    assert not readiness(isvc(model_status=loaded)).model_failed


def test_a_missing_object_is_not_found_and_nothing_more():
    from mlcd.kserve import Readiness

    assert readiness(None) == Readiness(False, False, "NotFound", "the InferenceService does not exist")


def test_the_url_is_read_from_the_address_when_kserve_writes_no_url():
    obj = isvc()
    del obj["status"]["url"]
    obj["status"]["address"] = {"url": "http://iris-predictor.models.svc.cluster.local"}
    assert readiness(obj).url == "http://iris-predictor.models.svc.cluster.local"
    del obj["status"]["address"]
    assert readiness(obj).url is None


def test_reason_and_message_without_kserves_words():
    r = readiness({"metadata": {"generation": 1}, "status": {"observedGeneration": 1}})
    assert r.message == "KServe has not reported a Ready condition yet"
    cases = (("True", "Ready", True), ("False", "NotReady", False), ("Unknown", "NotReady", False))
    for status, reason, ready in cases:
        obj = {"metadata": {"generation": 1},
               "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": status}]}}
        r = readiness(obj)
        assert (r.ready, r.reason, r.message) == (ready, reason, "")


def test_a_latest_revision_listed_without_a_percent_takes_none():
    # Knative leaves out a traffic target's percent when it is 0 (a canary rolled back to 0 %).
    traffic = [{"revisionName": "iris-predictor-00001", "percent": 100, "latestRevision": False},
               {"revisionName": "iris-predictor-00002", "latestRevision": True, "tag": "latest"}]
    r = readiness(isvc(traffic=traffic))
    assert r.latest_revision_percent == 0 and r.serves_share(0)


def test_a_model_that_failed_to_load_is_named_by_its_state_or_its_reason():
    from mlcd.kserve import model_load_failure

    assert model_load_failure({}) == (False, "")
    assert model_load_failure({"modelStatus": {"states": {"targetModelState": "FailedToLoad"}}}) == (
        True, "ModelLoadFailed: FailedToLoad")
    reason_only = {"modelStatus": {"transitionStatus": "InvalidSpec",
                                   "lastFailureInfo": {"reason": "NoSupportingRuntime"}}}
    assert model_load_failure(reason_only) == (True, "NoSupportingRuntime: NoSupportingRuntime")
    both = {"modelStatus": {"states": {"targetModelState": "FailedToLoad"},
                            "lastFailureInfo": {"reason": "RuntimeUnhealthy", "message": "OOMKilled"}}}
    assert readiness(isvc(model_status=both["modelStatus"])).failure == "RuntimeUnhealthy: OOMKilled"
