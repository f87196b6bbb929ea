"""The rollout state machine, driven against a fake KServe (webhook renaming, generations, status)."""

import copy
from datetime import UTC, datetime, timedelta

import pytest

from mlcd.api.v1alpha1 import ModelDeploymentStatus
from mlcd.kserve import DEPLOYMENT_MODE_ANNOTATION, merge_patch, normalise_mode
from mlcd.reconcile import ChampionSkip, champion_recorded, champion_step, decide, preflight

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
V1, V2, V3 = "s3://models/iris/v1", "s3://models/iris/v2", "s3://models/iris/v3"


def condition_of(conditions: list[dict], type_: str) -> dict:
    return next(c for c in conditions if c["type"] == type_)


def json_merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge(out.get(key), value)
    return out


class FakeKServe:
    """The API server (generation, merge patches) and KServe (webhook renames, controller status)."""

    def __init__(self):
        self.isvc = None
        self.writes = 0

    def apply(self, desired):
        if desired is None:
            return
        self.writes += 1
        if self.isvc is None:
            self.isvc = copy.deepcopy(desired)
            self.isvc["metadata"]["generation"] = 1
        else:
            status = self.isvc.get("status")
            self.isvc = json_merge(self.isvc, merge_patch(desired, self.isvc))
            self.isvc["metadata"]["generation"] += 1
            self.isvc["status"] = status  # the controller has not seen the new spec yet
        annotations = self.isvc["metadata"]["annotations"]
        annotations[DEPLOYMENT_MODE_ANNOTATION] = normalise_mode(annotations[DEPLOYMENT_MODE_ANNOTATION])
        self.isvc["spec"]["predictor"]["model"].setdefault("runtime", "kserve-sklearnserver")

    def controller(self, *, ready=True, failed=False):
        gen = self.isvc["metadata"]["generation"]
        canary = self.isvc["spec"]["predictor"].get("canaryTrafficPercent")
        latest = f"iris-predictor-{gen:05d}"
        traffic = [{"revisionName": latest, "latestRevision": True, "percent": 100 if canary is None else canary}]
        if canary is not None and canary < 100:
            traffic.append({"revisionName": "iris-predictor-00001", "latestRevision": False, "percent": 100 - canary})
        ok = ready and not failed
        self.isvc["status"] = {
            "observedGeneration": gen,
            "url": "http://iris.models.example.com",
            "conditions": [{"type": "Ready", "status": "True" if ok else "False",
                            "reason": None if ok else "RevisionMissing"}],
            "components": {"predictor": {"latestCreatedRevision": latest,
                                         "latestReadyRevision": latest if ok else None, "traffic": traffic}},
        }
        if failed:
            self.isvc["status"]["modelStatus"] = {
                "states": {"targetModelState": "FailedToLoad"}, "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "model.joblib: sha256 mismatch"}}


def md(uri=V1, **rollout_and_serving) -> dict:
    serving = {k: rollout_and_serving.pop(k) for k in ("deploymentMode",) if k in rollout_and_serving}
    return {"metadata": {"name": "iris", "namespace": "models", "uid": "md-uid", "generation": 1},
            "spec": {"model": {"uri": uri}, "serving": serving,
                     "rollout": {"canaryTrafficPercent": 10, "progressDeadlineSeconds": 600, "stableSeconds": 60,
                                 **rollout_and_serving}}}


def step(obj, kserve, now, problems=()):
    decision = decide(obj, kserve.isvc, now, credential_problems=list(problems))
    kserve.apply(decision.inferenceservice)
    obj["status"] = decision.status.to_wire()
    return decision


def typed(status: dict) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate(status)


def set_uri(obj, uri):
    obj["spec"]["model"]["uri"] = uri
    obj["metadata"]["generation"] += 1


def cond(obj, type_):
    return next((c for c in obj["status"]["conditions"] if c["type"] == type_), None)


def deployed(uri=V1, **kw):
    obj, kserve = md(uri, **kw), FakeKServe()
    step(obj, kserve, T0)
    kserve.controller()
    step(obj, kserve, T0 + timedelta(seconds=5))
    assert obj["status"]["phase"] == "Ready"
    return obj, kserve


def predictor(kserve):
    return kserve.isvc["spec"]["predictor"]


def test_first_deploy_then_steady_state_writes_nothing():
    obj, kserve = md(), FakeKServe()
    first = step(obj, kserve, T0)
    assert first.inferenceservice["spec"]["predictor"]["model"]["storageUri"] == V1
    assert "canaryTrafficPercent" not in first.inferenceservice["spec"]["predictor"]
    assert obj["status"]["phase"] == "Progressing" and obj["status"]["canaryModel"] == V1
    assert obj["status"]["traffic"] == {"active": 0, "canary": 100}
    assert first.events == [("Normal", "Deploying", f"first deployment of {V1}")]
    assert cond(obj, "Ready")["status"] == "False"

    kserve.controller()
    done = step(obj, kserve, T0 + timedelta(seconds=5))
    status = obj["status"]
    assert (status["phase"], status["activeModel"], status.get("canaryModel")) == ("Ready", V1, None)
    assert status["url"] == "http://iris.models.example.com" and status["observedGeneration"] == 1
    assert done.events == [("Normal", "Deployed", f"{V1} is Ready and takes all the traffic")]
    assert cond(obj, "Ready")["status"] == "True" and cond(obj, "RolledOut")["status"] == "True"
    assert {c["type"] for c in status["conditions"]} == {"Ready", "RolledOut", "CanaryReady", "CredentialsReady"}

    before, writes = copy.deepcopy(obj["status"]), kserve.writes
    again = step(obj, kserve, T0 + timedelta(hours=1))
    assert again.inferenceservice is None and kserve.writes == writes, "patched in a loop"
    assert again.events == [] and obj["status"] == before


def test_canary_then_promotion_after_stable_seconds():
    obj, kserve = deployed()
    set_uri(obj, V2)
    start = step(obj, kserve, T0 + timedelta(minutes=1))
    assert predictor(kserve)["model"]["storageUri"] == V2 and predictor(kserve)["canaryTrafficPercent"] == 10
    assert start.events[0][1] == "CanaryStarted"
    assert obj["status"]["traffic"] == {"active": 90, "canary": 10}
    assert (obj["status"]["activeModel"], obj["status"]["canaryModel"]) == (V1, V2)

    # KServe has not looked yet: the Ready it shows is the previous generation's.
    pending = step(obj, kserve, T0 + timedelta(minutes=1, seconds=2))
    assert pending.inferenceservice is None and cond(obj, "CanaryReady")["status"] == "False"
    assert "canaryReadySince" not in obj["status"]

    kserve.controller()
    ready_at = T0 + timedelta(minutes=2)
    watching = step(obj, kserve, ready_at)
    assert cond(obj, "CanaryReady")["status"] == "True" and obj["status"]["phase"] == "Progressing"
    assert watching.events == []
    step(obj, kserve, ready_at + timedelta(seconds=59))
    assert (obj["status"]["phase"], obj["status"]["activeModel"]) == ("Progressing", V1)

    promoted = step(obj, kserve, ready_at + timedelta(seconds=60))
    assert promoted.events[0][1] == "Promoted"
    assert "canaryTrafficPercent" not in predictor(kserve), "promotion must drop the canary share"
    status = obj["status"]
    assert (status["phase"], status["activeModel"], status.get("canaryModel")) == ("Ready", V2, None)
    assert status["traffic"] == {"active": 100, "canary": 0}
    assert cond(obj, "RolledOut")["reason"] == "Promoted"

    kserve.controller()
    writes = kserve.writes
    settled = step(obj, kserve, ready_at + timedelta(seconds=70))
    assert settled.inferenceservice is None and kserve.writes == writes and settled.events == []
    assert cond(obj, "Ready")["status"] == "True"


def test_canary_that_flaps_restarts_its_stability_clock():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller()
    step(obj, kserve, T0 + timedelta(minutes=2))
    kserve.controller(ready=False)
    step(obj, kserve, T0 + timedelta(minutes=2, seconds=30))
    assert "canaryReadySince" not in obj["status"]
    kserve.controller()
    step(obj, kserve, T0 + timedelta(minutes=3))
    step(obj, kserve, T0 + timedelta(minutes=3, seconds=30))
    assert obj["status"]["activeModel"] == V1
    step(obj, kserve, T0 + timedelta(minutes=4))
    assert obj["status"]["activeModel"] == V2


def test_canary_waits_for_its_traffic_share():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller()
    kserve.isvc["status"]["components"]["predictor"]["traffic"][0]["percent"] = 0
    step(obj, kserve, T0 + timedelta(minutes=2))
    assert cond(obj, "CanaryReady")["status"] == "False"


def test_rollback_on_progress_deadline_and_no_retry_of_the_same_model():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller(ready=False)
    assert step(obj, kserve, T0 + timedelta(minutes=5)).events == []
    previous = copy.deepcopy(obj["status"])
    rolled = step(obj, kserve, T0 + timedelta(minutes=11))
    assert rolled.events[0][:2] == ("Warning", "RolledBack")
    assert predictor(kserve)["model"]["storageUri"] == V1 and predictor(kserve)["canaryTrafficPercent"] == 0
    status = obj["status"]
    assert (status["phase"], status["activeModel"], status["canaryModel"]) == ("RolledBack", V1, V2)
    assert status["traffic"] == {"active": 100, "canary": 0}
    assert cond(obj, "RolledOut")["reason"] == "ProgressDeadlineExceeded"
    assert champion_step(typed({**status, "championModel": previous["activeModel"]}), deployment="iris") is None

    kserve.controller()
    writes = kserve.writes
    held = step(obj, kserve, T0 + timedelta(hours=2))
    assert held.inferenceservice is None and held.events == [] and kserve.writes == writes
    assert obj["status"]["phase"] == "RolledBack" and cond(obj, "Ready")["status"] == "True"

    set_uri(obj, V3)
    again = step(obj, kserve, T0 + timedelta(hours=3))
    assert again.events[0][1] == "CanaryStarted" and predictor(kserve)["model"]["storageUri"] == V3


def test_rollback_when_kserve_reports_the_model_failed_to_load():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller(failed=True)
    rolled = step(obj, kserve, T0 + timedelta(minutes=1, seconds=20))
    assert obj["status"]["phase"] == "RolledBack" and cond(obj, "RolledOut")["reason"] == "ModelLoadFailed"
    assert "sha256 mismatch" in rolled.events[0][2]


def test_without_rollback_a_failed_canary_stays_and_phase_is_failed():
    obj, kserve = deployed(rollbackOnFailure=False)
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    kserve.controller(failed=True)
    failed = step(obj, kserve, T0 + timedelta(minutes=2))
    assert failed.events[0][:2] == ("Warning", "CanaryFailed")
    assert obj["status"]["phase"] == "Failed" and predictor(kserve)["model"]["storageUri"] == V2
    assert obj["status"]["traffic"] == {"active": 90, "canary": 10}
    assert step(obj, kserve, T0 + timedelta(minutes=3)).events == []


@pytest.mark.parametrize("mode", ["RawDeployment", "Standard"])
def test_canary_in_standard_mode_is_refused_not_sent_all_traffic(mode):
    obj, kserve = deployed(deploymentMode=mode)
    set_uri(obj, V2)
    refused = step(obj, kserve, T0 + timedelta(minutes=1))
    assert refused.inferenceservice is None and predictor(kserve)["model"]["storageUri"] == V1
    assert refused.events[0][:2] == ("Warning", "CanaryNotSupported")
    assert obj["status"]["phase"] == "Failed" and obj["status"]["activeModel"] == V1
    rolled_out = cond(obj, "RolledOut")
    assert rolled_out["reason"] == "CanaryNotSupported" and "canaryTrafficPercent: 100" in rolled_out["message"]
    assert step(obj, kserve, T0 + timedelta(minutes=2)).events == []


def test_standard_mode_with_full_traffic_replaces_and_is_still_watched():
    obj, kserve = deployed(deploymentMode="RawDeployment", canaryTrafficPercent=100)
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    assert predictor(kserve)["model"]["storageUri"] == V2 and "canaryTrafficPercent" not in predictor(kserve)
    kserve.controller(failed=True)
    step(obj, kserve, T0 + timedelta(minutes=2))
    assert obj["status"]["phase"] == "RolledBack" and predictor(kserve)["model"]["storageUri"] == V1
    assert "canaryTrafficPercent" not in predictor(kserve)


def test_first_deploy_that_never_gets_ready_fails_then_recovers():
    obj, kserve = md(), FakeKServe()
    step(obj, kserve, T0)
    kserve.controller(ready=False)
    failed = step(obj, kserve, T0 + timedelta(minutes=10))
    assert obj["status"]["phase"] == "Failed" and failed.events[0][1] == "ProgressDeadlineExceeded"
    assert "no earlier model" in obj["status"]["message"]
    assert step(obj, kserve, T0 + timedelta(minutes=11)).events == []
    kserve.controller()
    recovered = step(obj, kserve, T0 + timedelta(minutes=12))
    assert obj["status"]["phase"] == "Ready" and recovered.events[0][1] == "Deployed"


def test_credentials_problems_block_a_deployment_until_fixed():
    obj, kserve = md(), FakeKServe()
    problem = ["spec.serving.serviceAccountName: ServiceAccount 'mlcd-models' does not exist in the namespace"]
    blocked = step(obj, kserve, T0, problems=problem)
    assert kserve.isvc is None and obj["status"]["phase"] == "Pending"
    credentials = cond(obj, "CredentialsReady")
    assert credentials["status"] == "False" and "does not exist" in credentials["message"]
    assert blocked.events[0][:2] == ("Warning", "CredentialsNotReady")
    assert step(obj, kserve, T0 + timedelta(seconds=30), problems=problem).events == []
    step(obj, kserve, T0 + timedelta(minutes=1))
    assert kserve.isvc is not None and cond(obj, "CredentialsReady")["status"] == "True"


def test_credentials_problems_hold_a_new_canary_but_keep_serving():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1), problems=["bad secret"])
    assert predictor(kserve)["model"]["storageUri"] == V1 and obj["status"]["phase"] == "Ready"
    assert cond(obj, "RolledOut")["reason"] == "CredentialsNotReady"


def test_a_newer_model_supersedes_a_canary_in_flight_and_going_back_cancels_it():
    obj, kserve = deployed()
    set_uri(obj, V2)
    step(obj, kserve, T0 + timedelta(minutes=1))
    set_uri(obj, V3)
    superseded = step(obj, kserve, T0 + timedelta(minutes=2))
    assert [e[1] for e in superseded.events] == ["CanarySuperseded", "CanaryStarted"]
    assert predictor(kserve)["model"]["storageUri"] == V3
    set_uri(obj, V1)
    cancelled = step(obj, kserve, T0 + timedelta(minutes=3))
    assert cancelled.events[0][1] == "CanaryCancelled" and obj["status"]["phase"] == "Ready"
    assert predictor(kserve)["model"]["storageUri"] == V1 and "canaryTrafficPercent" not in predictor(kserve)


def test_a_deleted_inferenceservice_is_recreated_with_the_active_model():
    obj, kserve = deployed()
    kserve.isvc = None
    recreated = step(obj, kserve, T0 + timedelta(minutes=5))
    assert recreated.inferenceservice["spec"]["predictor"]["model"]["storageUri"] == V1
    assert recreated.inferenceservice["metadata"]["ownerReferences"][0]["uid"] == "md-uid"


def test_lasttransitiontime_only_moves_when_a_condition_changes():
    obj, kserve = deployed()
    stamp = cond(obj, "RolledOut")["lastTransitionTime"]
    step(obj, kserve, T0 + timedelta(hours=5))
    assert cond(obj, "RolledOut")["lastTransitionTime"] == stamp


def test_champion_follows_the_active_model_only():
    assert champion_step(typed({"phase": "Ready", "activeModel": V1}), deployment="iris").version == 1
    update = champion_step(typed({"phase": "Ready", "activeModel": V2, "championModel": V1}), deployment="iris")
    assert (update.registry_uri, update.version, update.model_uri) == ("s3://models/iris", 2, V2)
    assert "was s3://models/iris/v1" in update.reason
    # A rollback keeps the active model, which is the champion already.
    assert champion_step(typed({"phase": "RolledBack", "activeModel": V1, "championModel": V1}), deployment="i") is None
    assert champion_step(typed({"phase": "Progressing", "canaryModel": V2, "activeModel": V1, "championModel": V1}),
                         deployment="i") is None


@pytest.mark.parametrize("uri", ["gs://models/iris/v1", "https://example.com/iris/v1", "pvc://models/iris/v1",
                                 "s3://models/iris", "file:///models/iris/v1"])
def test_a_model_outside_an_mlcd_registry_is_skipped_with_a_reason(uri):
    served = typed({"phase": "Ready", "activeModel": uri})
    step_ = champion_step(served, deployment="iris")
    assert isinstance(step_, ChampionSkip) and uri in step_.message
    status = champion_recorded(served, step_, None, generation=1, now="2026-01-01T12:00:00Z").to_wire()
    found = condition_of(status["conditions"], "ChampionRecorded")
    assert (found["status"], found["reason"]) == ("False", "NotInRegistry") and "championModel" not in status
    assert status["phase"] == "Ready"


def test_a_failed_champion_write_is_its_own_condition_and_is_tried_again():
    served = typed({"phase": "Ready", "activeModel": V1})
    first = champion_step(served, deployment="iris")
    failed = champion_recorded(served, first, "s3://models/iris/champion.json: access denied (AccessDenied)",
                               generation=1, now="2026-01-01T12:00:00Z")
    wire = failed.to_wire()
    assert wire["phase"] == "Ready" and "championModel" not in wire
    found = condition_of(wire["conditions"], "ChampionRecorded")
    assert (found["status"], found["reason"]) == ("False", "ChampionWriteFailed") and "AccessDenied" in found["message"]
    again = champion_step(failed, deployment="iris")
    assert again == first  # still due: the handler retries it with a backoff
    done = champion_recorded(failed, again, None, generation=1, now="2026-01-01T12:01:00Z")
    assert done.champion_model == V1 and done.condition("ChampionRecorded").status == "True"
    assert champion_step(done, deployment="iris") is None
    moved = done.model_copy(update={"active_model": "file:///r/iris/v1"})
    assert champion_step(moved, deployment="i", file_allowed=True).version == 1


def test_an_inferenceservice_owned_by_someone_else_is_never_touched():
    obj = md()
    theirs = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
              "metadata": {"name": "iris", "namespace": "models", "generation": 4,
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "x",
                                                "uid": "other-uid", "controller": True}]},
              "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://theirs"}}},
              "status": {"observedGeneration": 4, "conditions": [{"type": "Ready", "status": "True"}]}}
    decision = decide(obj, theirs, T0)
    status = decision.status.to_wire()
    assert decision.inferenceservice is None
    assert status["phase"] == "Failed" and "not owned" in status["message"]
    assert "activeModel" not in status
    ready = condition_of(status["conditions"], "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InferenceServiceConflict")
    assert [e[:2] for e in decision.events] == [("Warning", "InferenceServiceConflict")]
    obj["status"] = status
    assert decide(obj, theirs, T0 + timedelta(minutes=1)).events == []  # said once
    unowned = {**theirs, "metadata": {k: v for k, v in theirs["metadata"].items() if k != "ownerReferences"}}
    assert decide(obj, unowned, T0).inferenceservice is None


def test_ready_while_the_inferenceservice_is_being_created_says_so():
    ready = condition_of(decide(md(), None, T0).status.to_wire()["conditions"], "Ready")
    assert (ready["reason"], ready["message"]) == ("UpdatePending", "the InferenceService is being created")


def service_account(*secrets, annotations=None):
    return {"metadata": {"name": "mlcd-models", "annotations": annotations or {}},
            "secrets": [{"name": s} for s in secrets]}


def secret(name="s3creds", annotations=None, **data):
    data = data or {"AWS_ACCESS_KEY_ID": "a2V5", "AWS_SECRET_ACCESS_KEY": "c2VjcmV0"}
    return {"metadata": {"name": name, "annotations": annotations or {}}, "data": data}


GOOD = {"serving.kserve.io/s3-endpoint": "minio:9000", "serving.kserve.io/s3-usehttps": "0",
        "serving.kserve.io/s3-region": "us-east-1", "serving.kserve.io/s3-verifyssl": "0"}


def test_preflight_passes_a_correct_setup():
    assert preflight(service_account("s3creds"), [secret(annotations=GOOD)]) == []
    assert preflight(service_account(annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}), []) == []
    anonymous = secret(annotations={"serving.kserve.io/s3-useanoncredential": "true"}, other="eA==")
    assert preflight(service_account("s3creds"), [anonymous]) == []


@pytest.mark.parametrize(("key", "suggested"), [
    ("serving.kubeflow.org/s3-endpoint", "serving.kserve.io/s3-endpoint"),
    ("serving.kserve.io/s3_endpoint", "serving.kserve.io/s3-endpoint"),
    ("serving.kserve.io/s3-useHttps", "serving.kserve.io/s3-usehttps"),
    ("serving.kserv.io/s3-region", "serving.kserve.io/s3-region"),
    ("serving.kserve.io/s3-verifySSL", "serving.kserve.io/s3-verifyssl"),
    ("serving.kserve.io/s3-useanoncredentials", "serving.kserve.io/s3-useanoncredential"),
])
def test_preflight_catches_misspelt_annotations(key, suggested):
    problems = preflight(service_account("s3creds"), [secret(annotations={key: "x"})])
    assert len(problems) == 1
    assert problems[0].startswith("spec.serving.serviceAccountName: Secret 's3creds': annotation")
    assert f"did you mean {suggested!r}?" in problems[0]


def test_preflight_ignores_unrelated_annotations():
    annotations = {**GOOD, "kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "ml"}
    assert preflight(service_account("s3creds"), [secret(annotations=annotations)]) == []


def test_preflight_missing_pieces():
    assert "does not exist" in preflight(None, [], name="mlcd-models")[0]
    assert "lists no secrets" in preflight(service_account(), [])[0]
    missing = preflight(service_account("s3creds", "gone"), [secret()])
    assert missing == ["spec.serving.serviceAccountName: Secret 'gone', listed by ServiceAccount 'mlcd-models', "
                       "does not exist"]
    no_keys = preflight(service_account("s3creds"), [secret(annotations=GOOD, token="eA==")])
    assert len(no_keys) == 2 and "AWS_ACCESS_KEY_ID is missing" in no_keys[0]
    unrelated = preflight(service_account("pull"), [secret("pull", **{".dockerconfigjson": "e30="})])
    assert "holds S3 credentials" in unrelated[0]


def test_every_status_written_fits_the_modeldeployment_status_schema():
    obj, kserve = deployed()
    statuses = [copy.deepcopy(obj["status"])]
    set_uri(obj, V2)
    for minutes, ready in ((1, None), (2, True), (4, True), (5, True)):
        if ready is not None:
            kserve.controller(ready=ready)
        step(obj, kserve, T0 + timedelta(minutes=minutes))
        statuses.append(copy.deepcopy(obj["status"]))
    set_uri(obj, V3)
    step(obj, kserve, T0 + timedelta(minutes=6))
    kserve.controller(failed=True)
    step(obj, kserve, T0 + timedelta(minutes=7))
    statuses.append(copy.deepcopy(obj["status"]))
    assert {s["phase"] for s in statuses} == {"Ready", "Progressing", "RolledBack"}
    for status in statuses:
        assert ModelDeploymentStatus.model_validate(status).to_wire() == status
