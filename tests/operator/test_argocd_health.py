"""Argo CD's health of TrainingRuns and ModelDeployments: the shipped Lua checks, run by a real Lua 5.1
runtime (Argo CD runs gopher-lua, a Lua 5.1) with ``obj`` set as Argo CD sets it, against the statuses
the operator writes in these tests (real runs on iris, rollouts with the fake KServe controller)."""

import copy
import pathlib

import pytest
import yaml

from tests.argocd_health import CUSTOMIZATIONS, health
from tests.k8s.files import ROOT
from tests.operator.helpers import phase, trainingrun
from tests.operator.test_modeldeployment import (  # noqa: F401  (fixtures)
    deployed,
    k8s_emulator,
    kserve,
    operator,
    registry,
)

FINAL = ("Succeeded", "Rejected", "Failed", "Invalid")


def bumped(obj: dict) -> dict:
    """The object right after a spec change: the API server moved generation, the operator has not seen it."""
    changed = copy.deepcopy(obj)
    changed["metadata"]["generation"] += 1
    return changed


def test_trainingrun_health_follows_the_run(cluster, operator, tmp_path, wait_for):  # noqa: F811
    registry_uri = (tmp_path / "registry" / "iris").as_uri()
    cluster.create(trainingrun("good", registry={"uri": registry_uri}))
    cluster.create(
        trainingrun("strict", gates=[{"metric": "accuracy", "min": 0.999}], registry={"uri": registry_uri + "-strict"})
    )
    cluster.create(trainingrun("typo", model={"estimator": "RandomForestClasifier"}))

    assert health("TrainingRun", cluster.get("good"))["status"] == "Progressing"
    good = wait_for(cluster.fetch("good"), phase(*FINAL), deadline=120)
    strict = wait_for(cluster.fetch("strict"), phase(*FINAL), deadline=120)
    typo = wait_for(cluster.fetch("typo"), phase(*FINAL), deadline=30)

    assert good["status"]["phase"] == "Succeeded"
    assert health("TrainingRun", good) == {
        "status": "Healthy",
        "message": f"Model version 1 registered ({good['status']['keyMetric']})",
    }
    assert health("TrainingRun", bumped(good)) == {
        "status": "Progressing",
        "message": "Waiting for the operator to observe generation 2",
    }

    assert strict["status"]["phase"] == "Rejected"
    failing = [gate["message"] for gate in strict["status"]["gates"] if not gate["passed"]]
    assert failing and "0.999" in failing[0]
    assert health("TrainingRun", strict) == {"status": "Degraded", "message": f"Rejected by its gates: {failing[0]}"}

    assert typo["status"]["phase"] == "Invalid"
    verdict = health("TrainingRun", typo)
    assert verdict["status"] == "Degraded" and "spec.model.estimator" in verdict["message"]


def test_trainingrun_waiting_for_its_storage_secret_is_suspended():
    # The tenancy condition (DESIGN.md, "Tenancy and identity"): no run until the namespace's Secret exists.
    waiting = {
        "metadata": {"name": "iris", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "phase": "Pending",
            "conditions": [
                {
                    "type": "StorageReady",
                    "status": "False",
                    "reason": "SecretMissing",
                    "message": "Secret default/mlcd-storage not found",
                }
            ],
        },
    }
    assert health("TrainingRun", waiting) == {"status": "Suspended", "message": "Secret default/mlcd-storage not found"}


def test_modeldeployment_health_follows_the_rollout(cluster, operator, registry, kserve, wait_for):  # noqa: F811
    v1, v2, v3 = (registry.version_uri(v) for v in (1, 2, 3))
    ready = deployed(cluster, wait_for, v1)
    assert health("ModelDeployment", ready) == {
        "status": "Healthy",
        "message": f"Serving {v1} at {ready['status']['url']}",
    }
    assert health("ModelDeployment", bumped(ready))["status"] == "Progressing"

    kserve.behave(v2, "pending")
    cluster.patch_spec(
        "iris", {"model": {"uri": v2}, "rollout": {"progressDeadlineSeconds": 600}}, plural="modeldeployments"
    )
    canary = wait_for(
        cluster.fetch("iris", "modeldeployments"), lambda md: md.get("status", {}).get("canaryModel") == v2, deadline=20
    )
    verdict = health("ModelDeployment", canary)
    assert verdict["status"] == "Progressing" and verdict["message"] == canary["status"]["message"]

    kserve.behave(v3, "fail")
    cluster.patch_spec("iris", {"model": {"uri": v3}}, plural="modeldeployments")
    rolled_back = wait_for(cluster.fetch("iris", "modeldeployments"), phase("RolledBack"), deadline=20)
    assert health("ModelDeployment", rolled_back) == {"status": "Degraded", "message": rolled_back["status"]["message"]}
    assert v1 in rolled_back["status"]["message"] or v3 in rolled_back["status"]["message"]


def test_modeldeployment_waiting_for_credentials_is_suspended():
    waiting = {
        "metadata": {"name": "iris", "generation": 2},
        "status": {
            "observedGeneration": 2,
            "phase": "Ready",
            "activeModel": "s3://models/iris/v1",
            "conditions": [
                {
                    "type": "CredentialsReady",
                    "status": "False",
                    "reason": "CredentialsNotReady",
                    "message": "s3://models/iris/v2 waits for usable credentials: no Secret lists an S3 endpoint",
                }
            ],
        },
    }
    verdict = health("ModelDeployment", waiting)
    assert verdict == {"status": "Suspended", "message": waiting["status"]["conditions"][0]["message"]}


@pytest.mark.parametrize("kind", ["TrainingRun", "ModelDeployment"])
def test_no_status_yet_is_progressing(kind):
    assert health(kind, {"metadata": {"name": "x", "generation": 1}}) == {
        "status": "Progressing",
        "message": "Waiting for the mlcd operator",
    }


def test_the_argocd_cm_snippet_carries_the_shipped_scripts():
    snippet = yaml.safe_load((ROOT / "manifests" / "argocd" / "argocd-cm.yaml").read_text(encoding="utf-8"))
    assert snippet["kind"] == "ConfigMap" and snippet["metadata"]["name"] == "argocd-cm"
    for kind in ("TrainingRun", "ModelDeployment"):
        script = (CUSTOMIZATIONS / kind / "health.lua").read_text(encoding="utf-8")
        assert snippet["data"][f"resource.customizations.health.mlcd.io_{kind}"] == script
    assert pathlib.Path(CUSTOMIZATIONS).is_dir()


def test_a_failed_run_is_degraded_with_its_message():
    failed = {"metadata": {"name": "iris", "generation": 1},
              "status": {"observedGeneration": 1, "phase": "Failed",
                         "message": "run exceeded spec.limits.runTimeout (3600 s)",
                         "conditions": [{"type": "Trained", "status": "False", "reason": "DeadlineExceeded",
                                         "message": "run exceeded spec.limits.runTimeout (3600 s)"}]}}
    assert health("TrainingRun", failed) == {"status": "Degraded",
                                             "message": "run exceeded spec.limits.runTimeout (3600 s)"}
    del failed["status"]["message"]  # no summary: the first False condition says why
    assert health("TrainingRun", failed) == {"status": "Degraded",
                                             "message": "run exceeded spec.limits.runTimeout (3600 s)"}
