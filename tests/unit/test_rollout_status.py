"""The whole status each step of a rollout writes, as `kubectl get modeldeployment -o yaml` shows it.

tests/unit/test_rollout.py drives the state machine through its paths; this file pins what a user reads
at each stop: phase, message, models and their digests, traffic, and every condition's status, reason,
message and observedGeneration.
"""

import copy
import logging
from datetime import timedelta

import pytest

from mlcd.reconcile import decide, not_applied
from mlcd.reconcile.runtime import RuntimeCheck
from tests.unit.test_rollout import T0, V1, V2, V3, FakeKServe, deployed, md, predictor, set_uri, step

SHA1, SHA2 = "a" * 64, "b" * 64
URL = "http://iris.models.example.com"
DEFAULT_ACCOUNT = ("True", "NoServiceAccount",
                   "no serviceAccountName: KServe uses the namespace's default ServiceAccount")
NO_CANARY = ("False", "NoCanary", "no canary in flight")
BEING_UPDATED = ("False", "UpdatePending", "the InferenceService is being updated")
BEING_CREATED = ("False", "UpdatePending", "the InferenceService is being created")
KSERVE_READY = ("True", "InferenceServiceReady", "KServe reports the InferenceService Ready")


def summary(obj) -> dict:
    """The status with each condition as (status, reason, message); every condition the rollout sets
    names the generation it was decided for."""
    status = dict(obj["status"])
    conditions = status.pop("conditions")
    generation = obj["metadata"]["generation"]
    assert {c["type"]: c.get("observedGeneration") for c in conditions if c["type"] != "ChampionRecorded"} == {
        c["type"]: generation for c in conditions if c["type"] != "ChampionRecorded"}
    status["conditions"] = {c["type"]: (c["status"], c["reason"], c.get("message", "")) for c in conditions}
    return status


def isvc(decision) -> tuple | None:
    """(storageUri, canaryTrafficPercent, MLCD_MODEL_SHA256) of the InferenceService the decision applies."""
    if decision.inferenceservice is None:
        return None
    predictor_ = decision.inferenceservice["spec"]["predictor"]
    env = {e["name"]: e["value"] for e in predictor_["model"].get("env", [])}
    return predictor_["model"]["storageUri"], predictor_.get("canaryTrafficPercent"), env.get("MLCD_MODEL_SHA256")


def test_a_first_deployment_and_a_promoted_canary_as_the_user_reads_them():
    obj, kserve = md(), FakeKServe()
    obj["spec"]["model"]["sha256"] = SHA1
    obj["spec"]["serving"]["serviceAccountName"] = "mlcd-models"
    account = ("True", "CredentialsFound", "ServiceAccount mlcd-models and its S3 Secret are usable by KServe")
    created = step(obj, kserve, T0)
    assert isvc(created) == (V1, None, SHA1)
    assert created.inferenceservice["metadata"]["ownerReferences"][0]["uid"] == "md-uid"
    assert summary(obj) == {
        "observedGeneration": 1, "phase": "Progressing", "message": f"deploying {V1}", "canaryModel": V1,
        "canaryModelSha256": SHA1, "traffic": {"active": 0, "canary": 100}, "canarySince": "2026-01-01T12:00:00Z",
        "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": account, "Ready": BEING_CREATED,
                       "RolledOut": ("False", "Deploying", f"first deployment of {V1}")}}

    kserve.controller()
    step(obj, kserve, T0 + timedelta(seconds=5))
    serving_v1 = {"observedGeneration": 1, "phase": "Ready", "message": f"serving {V1}", "url": URL,
                  "activeModel": V1, "activeModelSha256": SHA1, "traffic": {"active": 100, "canary": 0},
                  "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": account, "Ready": KSERVE_READY,
                                 "RolledOut": ("True", "RolledOut", f"{V1} takes all the traffic")}}
    assert summary(obj) == serving_v1

    set_uri(obj, V2)
    obj["spec"]["model"]["sha256"] = SHA2
    stale = copy.deepcopy(kserve.isvc)
    canary = step(obj, kserve, T0 + timedelta(minutes=1))
    assert isvc(canary) == (V2, 10, SHA2)
    started = f"canary {V2} takes 10% of the traffic; {V1} keeps 90%"
    in_flight = {"observedGeneration": 2, "phase": "Progressing", "message": started, "url": URL,
                 "activeModel": V1, "activeModelSha256": SHA1, "canaryModel": V2, "canaryModelSha256": SHA2,
                 "traffic": {"active": 90, "canary": 10}, "canarySince": "2026-01-01T12:01:00Z"}
    rolling = ("False", "CanaryInProgress", started)
    assert summary(obj) == {**in_flight, "conditions": {
        "CanaryReady": ("False", "CanaryNotReady", f"waiting for {V2} to become Ready"),
        "CredentialsReady": account, "Ready": BEING_UPDATED, "RolledOut": rolling}}

    # A read from before the patch still shows V1 Ready: that is not the canary's readiness.
    early = decide(obj, stale, T0 + timedelta(minutes=1, seconds=1)).status.condition("CanaryReady")
    assert (early.status, early.message) == ("False", "UpdatePending: the InferenceService is being updated")
    # Then KServe has not looked yet: the Ready it shows is the previous generation's.
    step(obj, kserve, T0 + timedelta(minutes=1, seconds=5))
    assert summary(obj)["conditions"]["CanaryReady"] == (
        "False", "CanaryNotReady", "GenerationNotObserved: KServe has observed generation 1, not yet 2")

    kserve.controller(ready=False)
    kserve.isvc["status"]["conditions"][0]["message"] = "Revision iris-predictor-00002 failed"
    assert step(obj, kserve, T0 + timedelta(minutes=2)).events == []
    why = "RevisionMissing: Revision iris-predictor-00002 failed"
    assert summary(obj) == {**in_flight, "conditions": {
        "CanaryReady": ("False", "CanaryNotReady", why), "CredentialsReady": account,
        "Ready": ("False", "RevisionMissing", why), "RolledOut": rolling}}

    kserve.controller()
    assert step(obj, kserve, T0 + timedelta(minutes=3)).events == []
    assert summary(obj) == {**in_flight, "canaryReadySince": "2026-01-01T12:03:00Z", "conditions": {
        "CanaryReady": ("True", "CanaryReady", "Ready since 2026-01-01T12:03:00Z; promoted after 60s"),
        "CredentialsReady": account, "Ready": KSERVE_READY, "RolledOut": rolling}}

    promoted = step(obj, kserve, T0 + timedelta(minutes=4))
    message = f"canary {V2} promoted: it takes all the traffic (was {V1})"
    assert promoted.events == [("Normal", "Promoted", message)]
    assert isvc(promoted) == (V2, None, SHA2)
    assert summary(obj) == {
        "observedGeneration": 2, "phase": "Ready", "message": f"serving {V2}", "url": URL, "activeModel": V2,
        "activeModelSha256": SHA2, "traffic": {"active": 100, "canary": 0},
        "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": account, "Ready": BEING_UPDATED,
                       "RolledOut": ("True", "Promoted", message)}}


def test_a_canary_rolled_back_stays_rolled_back_and_a_deleted_inferenceservice_comes_back_as_it_was():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller(ready=False)
    kserve.isvc["status"]["conditions"][0]["message"] = "Revision iris-predictor-00002 failed"
    rolled = step(obj, kserve, T0 + timedelta(minutes=11))
    message = (f"canary {V2} rolled back, {V1} takes all the traffic again: not Ready within 600s "
               "(RevisionMissing: Revision iris-predictor-00002 failed)")
    assert rolled.events == [("Warning", "RolledBack", message)]
    assert isvc(rolled) == (V1, 0, None)
    rolled_back = {"observedGeneration": 2, "phase": "RolledBack", "message": message, "url": URL,
                   "activeModel": V1, "canaryModel": V2, "traffic": {"active": 100, "canary": 0}}
    conditions = {"CanaryReady": NO_CANARY, "CredentialsReady": DEFAULT_ACCOUNT, "Ready": BEING_UPDATED,
                  "RolledOut": ("False", "ProgressDeadlineExceeded", message)}
    assert summary(obj) == {**rolled_back, "conditions": conditions}

    kserve.controller()
    held = step(obj, kserve, T0 + timedelta(minutes=12))
    assert (held.inferenceservice, held.events) == (None, [])
    assert summary(obj) == {**rolled_back, "conditions": {**conditions, "Ready": KSERVE_READY}}

    kserve.isvc = None
    recreated = step(obj, kserve, T0 + timedelta(minutes=13))
    assert isvc(recreated) == (V1, 0, None) and recreated.events == []
    assert summary(obj) == {**rolled_back, "conditions": {**conditions, "Ready": BEING_CREATED}}

    # A newer model that waits for credentials: the active model keeps serving, the phase stays what it was.
    kserve.controller()
    set_uri(obj, V3)
    blocked = step(obj, kserve, T0 + timedelta(minutes=14), problems=["p1", "p2"])
    waits = f"{V3} waits for usable credentials: p1; p2"
    assert blocked.events == [("Warning", "CredentialsNotReady", "p1; p2")]
    assert isvc(blocked) == (V1, None, None)
    assert summary(obj) == {
        "observedGeneration": 3, "phase": "RolledBack", "message": waits, "url": URL, "activeModel": V1,
        "traffic": {"active": 100, "canary": 0},
        "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": ("False", "CredentialsInvalid", "p1; p2"),
                       "Ready": BEING_UPDATED, "RolledOut": ("False", "CredentialsNotReady", waits)}}


def test_a_failed_canary_without_rollback_keeps_its_share_even_when_its_inferenceservice_is_recreated():
    obj, kserve = deployed(rollbackOnFailure=False)
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller(failed=True)
    failed = step(obj, kserve, T0 + timedelta(minutes=2))
    message = (f"canary {V2} failed and rollbackOnFailure is false, so it keeps 10%: KServe could not load the "
               "model: ModelLoadFailed: model.joblib: sha256 mismatch")
    assert failed.events == [("Warning", "CanaryFailed", message)] and failed.inferenceservice is None
    expected = {"observedGeneration": 2, "phase": "Failed", "message": message, "url": URL, "activeModel": V1,
                "canaryModel": V2, "traffic": {"active": 90, "canary": 10},
                "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": DEFAULT_ACCOUNT,
                               "Ready": ("False", "RevisionMissing", "RevisionMissing"),
                               "RolledOut": ("False", "ModelLoadFailed", message)}}
    assert summary(obj) == expected
    kserve.isvc = None
    recreated = step(obj, kserve, T0 + timedelta(minutes=3))
    assert isvc(recreated) == (V2, 10, None) and recreated.events == []
    assert summary(obj) == {**expected, "conditions": {**expected["conditions"], "Ready": BEING_CREATED}}


def test_a_first_deployment_that_fails_says_so_and_keeps_saying_it():
    obj, kserve = md(), FakeKServe()
    step(obj, kserve, T0)
    kserve.controller(ready=False)
    failed = step(obj, kserve, T0 + timedelta(minutes=10))
    message = (f"{V1} could not be deployed and there is no earlier model to fall back to: not Ready within 600s "
               "(RevisionMissing)")
    assert failed.events == [("Warning", "ProgressDeadlineExceeded", message)]
    expected = {"observedGeneration": 1, "phase": "Failed", "message": message, "url": URL, "canaryModel": V1,
                "traffic": {"active": 0, "canary": 100}, "canarySince": "2026-01-01T12:00:00Z",
                "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": DEFAULT_ACCOUNT,
                               "Ready": ("False", "RevisionMissing", "RevisionMissing"),
                               "RolledOut": ("False", "ProgressDeadlineExceeded", message)}}
    assert summary(obj) == expected
    again = step(obj, kserve, T0 + timedelta(minutes=11))
    assert (again.inferenceservice, again.events) == (None, []) and summary(obj) == expected


def test_a_first_deployment_the_runtime_cannot_load_is_refused_and_withdrawn_once_in_flight():
    check = RuntimeCheck(False, "RuntimeIncompatible", f"{V1} was trained with scikit-learn 0.24")
    obj, kserve = md(), FakeKServe()
    step(obj, kserve, T0)
    decision = decide(obj, kserve.isvc, T0 + timedelta(seconds=5), runtime=check)
    message = f"{V1} was trained with scikit-learn 0.24; nothing is deployed"
    assert decision.events == [("Warning", "RuntimeIncompatible", message)]
    status = decision.status.to_wire()
    assert (status["phase"], status["message"], status["traffic"]) == ("Failed", message, {"active": 100, "canary": 0})
    assert "activeModel" not in status and "canaryModel" not in status


def test_a_model_the_runtime_cannot_load_never_gets_traffic_and_the_active_model_keeps_serving():
    obj, kserve = deployed()
    set_uri(obj, V2)
    kserve.isvc = None
    check = RuntimeCheck(False, "RuntimeIncompatible", f"{V2} was trained with scikit-learn 0.24")
    decision = decide(obj, kserve.isvc, T0 + timedelta(minutes=1), runtime=check)
    obj["status"] = decision.status.to_wire()
    message = f"{V2} was trained with scikit-learn 0.24; {V1} keeps serving"
    assert decision.events == [("Warning", "RuntimeIncompatible", message)]
    assert isvc(decision) == (V1, None, None)
    incompatible = ("False", "RuntimeIncompatible", message)
    assert summary(obj) == {
        "observedGeneration": 2, "phase": "Failed", "message": message, "url": URL, "activeModel": V1,
        "traffic": {"active": 100, "canary": 0},
        "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": DEFAULT_ACCOUNT, "Ready": incompatible,
                       "RolledOut": incompatible, "RuntimeCompatible": ("False", "RuntimeIncompatible", check.message)}}


@pytest.mark.parametrize(("compatible", "word"), [(True, "True"), (None, "Unknown")])
def test_the_runtime_verdict_is_a_condition(compatible, word):
    obj, kserve = deployed()
    check = RuntimeCheck(compatible, "SomeReason", "what the check found")
    decision = decide(obj, kserve.isvc, T0 + timedelta(minutes=1), runtime=check)
    obj["status"] = decision.status.to_wire()
    assert summary(obj)["conditions"]["RuntimeCompatible"] == (word, "SomeReason", "what the check found")
    assert summary(obj)["phase"] == "Ready" and decision.events == []


def test_a_canary_refused_in_standard_mode_keeps_the_active_model_in_a_recreated_inferenceservice():
    obj, kserve = deployed(deploymentMode="Standard")
    set_uri(obj, V2)
    kserve.isvc = None
    refused = step(obj, kserve, T0 + timedelta(minutes=1))
    message = (f"spec.serving.deploymentMode: Standard cannot split traffic, so a 10% canary of {V2} would take all "
               f"of it; {V1} keeps serving. Use Serverless (Knative) for canaries, or set "
               "spec.rollout.canaryTrafficPercent: 100 to replace the model at once")
    assert refused.events == [("Warning", "CanaryNotSupported", message)]
    assert isvc(refused) == (V1, None, None)
    assert summary(obj) == {
        "observedGeneration": 2, "phase": "Failed", "message": message, "url": URL, "activeModel": V1,
        "traffic": {"active": 100, "canary": 0},
        "conditions": {"CanaryReady": NO_CANARY, "CredentialsReady": DEFAULT_ACCOUNT, "Ready": BEING_CREATED,
                       "RolledOut": ("False", "CanaryNotSupported", message)}}


def test_going_back_to_the_active_model_withdraws_the_canary():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    set_uri(obj, V1)
    cancelled = step(obj, kserve, T0 + timedelta(minutes=2))
    assert cancelled.events == [("Normal", "CanaryCancelled", f"spec.model.uri is back to {V1}: canary {V2} withdrawn")]
    assert isvc(cancelled) == (V1, None, None)
    # Settled already: no second Event.
    kserve.controller()
    assert step(obj, kserve, T0 + timedelta(minutes=3)).events == []


def test_an_inferenceservice_someone_else_owns_fails_the_deployment_and_keeps_the_champion():
    obj = md()
    recorded = {"type": "ChampionRecorded", "status": "True", "reason": "ChampionRecorded", "message": "v1",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}
    obj["status"] = {"phase": "Ready", "activeModel": V1, "championModel": V1, "conditions": [recorded]}
    theirs = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
              "metadata": {"name": "iris", "namespace": "models"}, "spec": {}}
    decision = decide(obj, theirs, T0)
    message = ("InferenceService iris exists and is not owned by this ModelDeployment, so mlcd leaves it untouched: "
               "delete it, or give the ModelDeployment another name")
    assert decision.events == [("Warning", "InferenceServiceConflict", message)] and decision.inferenceservice is None
    obj["status"] = decision.status.to_wire()
    conflict = ("False", "InferenceServiceConflict", message)
    assert summary(obj) == {
        "observedGeneration": 1, "phase": "Failed", "message": message, "traffic": {"active": 0, "canary": 0},
        "championModel": V1, "conditions": {"ChampionRecorded": ("True", "ChampionRecorded", "v1"),
                                            "Ready": conflict, "RolledOut": conflict}}


def test_a_spec_that_cannot_become_an_inferenceservice_fails_with_one_event_per_message():
    obj = md()
    obj["metadata"]["generation"] = 3
    first = not_applied(obj, "InvalidSpec", "spec.model.uri: bad", T0)
    assert (first.inferenceservice, first.events) == (None, [("Warning", "InvalidSpec", "spec.model.uri: bad")])
    obj["status"] = first.status.to_wire()
    invalid = ("False", "InvalidSpec", "spec.model.uri: bad")
    assert summary(obj) == {"observedGeneration": 3, "phase": "Failed", "message": "spec.model.uri: bad",
                            "conditions": {"Ready": invalid, "RolledOut": invalid}}
    stamp = obj["status"]["conditions"][0]["lastTransitionTime"]
    assert stamp == "2026-01-01T12:00:00Z"

    assert not_applied(obj, "InvalidSpec", "spec.model.uri: bad", T0 + timedelta(minutes=1)).events == []
    other = not_applied(obj, "InvalidSpec", "spec.model.uri: worse", T0 + timedelta(minutes=1))
    assert other.events == [("Warning", "InvalidSpec", "spec.model.uri: worse")]
    refused = not_applied(obj, "RefusedByApiServer", "spec.model.uri: bad", T0 + timedelta(minutes=1))
    assert refused.events == [("Warning", "RefusedByApiServer", "spec.model.uri: bad")]

    long = not_applied(obj, "InvalidSpec", "x" * 40_000, T0)
    assert len(long.status.message) == len(long.events[0][2]) == len(long.status.conditions[0].message) < 40_000


def test_a_spec_refused_after_a_deployment_keeps_what_status_knew():
    obj, _ = deployed()
    set_uri(obj, V2)
    decision = not_applied(obj, "RefusedByApiServer", "the API server refused InferenceService iris: no", T0)
    status = decision.status.to_wire()
    assert (status["phase"], status["activeModel"], status["observedGeneration"]) == ("Failed", V1, 2)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == ("False", "RefusedByApiServer",
                                                                               "2026-01-01T12:00:00Z")


def test_each_event_is_logged_with_its_deployment(caplog):
    caplog.set_level(logging.INFO, logger="mlcd.reconcile.rollout")
    obj, kserve = md(), FakeKServe()
    step(obj, kserve, T0)
    assert [r.getMessage() for r in caplog.records] == [
        f"rollout event modeldeployment=iris type=Normal reason=Deploying message='first deployment of {V1}'"]


def test_a_canary_is_promoted_exactly_when_it_has_been_stable_long_enough():
    obj, kserve = deployed(stableSeconds=30)
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller()
    step(obj, kserve, T0 + timedelta(minutes=2))
    assert step(obj, kserve, T0 + timedelta(minutes=2, seconds=29)).events == []
    assert [e[1] for e in step(obj, kserve, T0 + timedelta(minutes=2, seconds=30)).events] == ["Promoted"]
    assert predictor(kserve)["model"]["storageUri"] == V2


def test_going_back_to_the_active_model_after_a_rollback_is_no_cancellation():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller(failed=True)
    step(obj, kserve, T0 + timedelta(minutes=2))
    assert obj["status"]["phase"] == "RolledBack"
    set_uri(obj, V1)
    back = step(obj, kserve, T0 + timedelta(minutes=3))
    assert back.events == [] and obj["status"]["phase"] == "Ready" and "canaryModel" not in obj["status"]


def test_an_inferenceservice_deleted_under_a_canary_comes_back_with_the_canary():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.isvc = None
    again = step(obj, kserve, T0 + timedelta(minutes=2))
    assert isvc(again) == (V2, 10, None) and again.events == []
    assert (obj["status"]["phase"], obj["status"]["canaryModel"]) == ("Progressing", V2)


def test_a_canary_that_fails_without_rollback_while_its_inferenceservice_is_gone_is_recreated_at_its_share():
    obj, kserve = deployed(rollbackOnFailure=False)
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.isvc = None
    failed = step(obj, kserve, T0 + timedelta(minutes=12))
    assert [e[1] for e in failed.events] == ["CanaryFailed"] and isvc(failed) == (V2, 10, None)


@pytest.mark.parametrize("phase", ["Progressing", "RolledBack"])
def test_a_status_without_a_message_stays_without_one(phase):
    # As an older operator, or a person editing status, may have left it.
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    obj["status"] = {**{k: v for k, v in obj["status"].items() if k != "message"}, "phase": phase}
    decision = decide(obj, kserve.isvc, T0 + timedelta(minutes=2))
    assert decision.status.message == "" and decision.status.condition("RolledOut").message == ""


def test_a_first_deployment_failed_without_a_message_stays_without_one():
    obj, kserve = md(), FakeKServe()
    step(obj, kserve, T0)
    kserve.controller(ready=False)
    step(obj, kserve, T0 + timedelta(minutes=10))
    obj["status"] = {k: v for k, v in obj["status"].items() if k != "message"}
    decision = decide(obj, kserve.isvc, T0 + timedelta(minutes=11))
    assert decision.status.message == "" and decision.status.condition("RolledOut").message == ""


def test_another_model_named_during_a_first_deployment_starts_that_one_afresh():
    obj, kserve = md(), FakeKServe()
    step(obj, kserve, T0)
    set_uri(obj, V2)
    again = step(obj, kserve, T0 + timedelta(minutes=5))
    assert again.events == [("Normal", "Deploying", f"first deployment of {V2}")] and isvc(again) == (V2, None, None)
    assert (obj["status"]["canaryModel"], obj["status"]["canarySince"]) == (V2, "2026-01-01T12:05:00Z")


def test_the_champion_the_handler_recorded_stays_in_status():
    obj, kserve = deployed()
    obj["status"]["championModel"] = V1
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    assert obj["status"]["championModel"] == V1
