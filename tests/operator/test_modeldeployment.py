"""The real operator over HTTP against the API emulator with KServe's real InferenceService CRD loaded,
KServe's webhook in admission and a fake KServe controller writing InferenceService status."""

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from mlcd.handlers.app import build_registry
from mlcd.handlers.config import OperatorConfig
from mlcd.storage import open_registry
from tests.k8s import ServedEmulator
from tests.operator.helpers import condition, phase, settings, trainingrun
from tests.operator.kserve_controller import GROUP, MODE, PLURAL, VERSION, FakeKServe, KServeEmulator

POLL = 0.2  # the operator's timer: how often a rollout is looked at again


@pytest.fixture
def k8s_emulator():
    with ServedEmulator(KServeEmulator()) as served:
        yield served


def config(home) -> OperatorConfig:
    """The local backend, with "default" as its development namespace: the registries here are file://."""
    return OperatorConfig(home=home, poll_seconds=POLL, local_namespace="default")


def client_for(kubeconfig):
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture
def kserve(cluster, kubeconfig):
    with client_for(kubeconfig) as client, FakeKServe(client) as controller:
        yield controller


@pytest.fixture
def operator(cluster, kserve, home, kubeconfig, run_operator):
    """The operator with its own Kubernetes client for the ModelDeployment handlers."""
    with client_for(kubeconfig) as client:
        yield run_operator(build_registry(config(home), kube_client=client), settings())


@pytest.fixture
def operator_with_worker_kubeconfig(cluster, kserve, home, kubeconfig, monkeypatch, run_operator):
    """The same, in the environment `mlcd operator` has: $KUBECONFIG names the cluster. The local
    backend's worker process, and so the pipeline's handoff step, inherit it."""
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with client_for(kubeconfig) as client:
        yield run_operator(build_registry(config(home), kube_client=client), settings())


@pytest.fixture
def registry(tmp_path):
    """A file:// registry holding versions 1 to 3 (the champion is set only by rollouts here)."""
    uri = (tmp_path / "registry" / "iris").as_uri()
    model = tmp_path / "model.joblib"
    model.write_bytes(b"not a real model: nothing unpickles it in these tests")
    reg = open_registry(uri)
    for _ in range(3):
        reg.register(model, {"metrics": {}})
    return reg


def modeldeployment(uri: str, name: str = "iris", **rollout) -> dict:
    return {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
            "spec": {"model": {"uri": uri},
                     "rollout": {"canaryTrafficPercent": 10, "stableSeconds": 0, **rollout}}}


def isvc(cluster, name: str = "iris") -> dict:
    return cluster.crs.get_namespaced_custom_object(GROUP, VERSION, cluster.namespace, PLURAL, name)


def predictor(cluster, name: str = "iris") -> dict:
    return isvc(cluster, name)["spec"]["predictor"]


def champion(registry) -> int | None:
    return (registry.champion() or {}).get("version")


def deployed(cluster, wait_for, uri: str, name: str = "iris", **rollout) -> dict:
    cluster.create(modeldeployment(uri, name, **rollout), plural="modeldeployments")
    return wait_for(cluster.fetch(name, "modeldeployments"), phase("Ready"), deadline=20)


def wait_reasons(cluster, wait_for, name: str, *reasons: str) -> list[str]:
    return wait_for(lambda: cluster.reasons(name), lambda found: set(reasons) <= set(found), deadline=10)


def test_first_deploy_creates_an_owned_inferenceservice_and_makes_the_champion(cluster, operator, registry, wait_for):
    v1 = registry.version_uri(1)
    md = deployed(cluster, wait_for, v1)
    status = md["status"]
    assert status["activeModel"] == v1 and "canaryModel" not in status
    assert status["url"] == "http://iris.default.example.com"
    assert status["traffic"] == {"active": 100, "canary": 0}
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True", "RolledOut": "True", "CanaryReady": "False", "CredentialsReady": "True",
        "ChampionRecorded": "True",
        "RuntimeCompatible": "Unknown"}  # these test versions record no scikit-learn version
    served = isvc(cluster)
    assert served["spec"]["predictor"]["model"]["storageUri"] == v1
    assert served["spec"]["predictor"]["model"]["modelFormat"] == {"name": "sklearn"}
    assert "canaryTrafficPercent" not in served["spec"]["predictor"]
    assert served["metadata"]["annotations"][MODE] == "Knative"  # renamed by the webhook
    assert served["metadata"]["ownerReferences"] == [{
        "apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "name": "iris", "uid": md["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True}]
    assert wait_for(lambda: champion(registry), lambda v: v == 1)
    assert wait_reasons(cluster, wait_for, "iris", "Deploying", "Deployed", "ChampionSet")


def test_no_patch_loop_after_the_webhook_renames_the_mode(cluster, operator, registry, k8s_emulator, wait_for):
    """Steady state: the operator keeps reading the InferenceService KServe's webhook respelt (Knative
    for Serverless, a defaulted runtime) and writes neither it nor the ModelDeployment's status again."""
    deployed(cluster, wait_for, registry.version_uri(1))
    emulator = k8s_emulator.emulator

    def requests(method: str, plural: str = PLURAL, subresource: str | None = None) -> int:
        def count():
            return sum(1 for r in emulator if r.method.value == method and r.resource is not None
                       and r.resource.plural == plural and r.name == "iris" and r.subresource == subresource)
        return k8s_emulator.call(count)

    settled = wait_for(cluster.fetch("iris", "modeldeployments"),
                       lambda md: condition(md, "Ready")["status"] == "True")
    patches, status_patches, reads = requests("PATCH"), requests("PATCH", "modeldeployments", "status"), \
        requests("GET")
    # Ten more reconciles (each reads the InferenceService once), without a fixed sleep.
    wait_for(lambda: requests("GET"), lambda n: n >= reads + 10, deadline=20)
    assert isvc(cluster)["metadata"]["annotations"][MODE] == "Knative"
    assert requests("PATCH") == patches, "the operator patched an InferenceService that was as it wanted"
    assert requests("PATCH", "modeldeployments", "status") == status_patches
    assert cluster.get("iris", "modeldeployments")["metadata"]["resourceVersion"] == \
        settled["metadata"]["resourceVersion"]


def test_a_canary_that_stays_ready_is_promoted_and_becomes_the_champion(cluster, operator, registry, wait_for):
    v1, v2 = registry.version_uri(1), registry.version_uri(2)
    deployed(cluster, wait_for, v1, stableSeconds=1)
    wait_for(lambda: champion(registry), lambda v: v == 1)
    cluster.patch_spec("iris", {"model": {"uri": v2}}, plural="modeldeployments")
    canary = wait_for(cluster.fetch("iris", "modeldeployments"),
                         lambda md: md["status"].get("canaryModel") == v2, deadline=10)["status"]
    assert canary["phase"] == "Progressing" and canary["activeModel"] == v1
    assert canary["traffic"] == {"active": 90, "canary": 10}
    assert champion(registry) == 1  # a canary in flight is not the champion
    done = wait_for(cluster.fetch("iris", "modeldeployments"),
                    lambda md: md["status"].get("activeModel") == v2, deadline=20)["status"]
    # RolledOut says Promoted, then RolledOut once settled: the Event is what stays.
    assert done["phase"] == "Ready" and condition({"status": done}, "RolledOut")["status"] == "True"
    served = predictor(cluster)
    assert served["model"]["storageUri"] == v2 and "canaryTrafficPercent" not in served
    assert wait_for(lambda: champion(registry), lambda v: v == 2)
    assert registry.champion()["reason"].startswith("ModelDeployment iris: promoted from canary")
    assert wait_reasons(cluster, wait_for, "iris", "CanaryStarted", "Promoted")


def test_a_canary_that_misses_its_deadline_is_rolled_back_and_the_champion_stays(cluster, operator, registry, kserve,
                                                                               wait_for):
    v1, v2 = registry.version_uri(1), registry.version_uri(2)
    deployed(cluster, wait_for, v1, progressDeadlineSeconds=2)
    wait_for(lambda: champion(registry), lambda v: v == 1)
    kserve.behave(v2, "pending")
    cluster.patch_spec("iris", {"model": {"uri": v2}}, plural="modeldeployments")
    done = wait_for(cluster.fetch("iris", "modeldeployments"), phase("RolledBack"), deadline=20)["status"]
    assert done["activeModel"] == v1 and done["canaryModel"] == v2
    assert condition({"status": done}, "RolledOut")["reason"] == "ProgressDeadlineExceeded"
    served = predictor(cluster)
    assert served["model"]["storageUri"] == v1 and served["canaryTrafficPercent"] == 0
    assert wait_reasons(cluster, wait_for, "iris", "CanaryStarted", "RolledBack")
    assert champion(registry) == 1


def test_a_canary_whose_model_fails_to_load_is_rolled_back(cluster, operator, registry, kserve, wait_for):
    v1, v3 = registry.version_uri(1), registry.version_uri(3)
    deployed(cluster, wait_for, v1)
    wait_for(lambda: champion(registry), lambda v: v == 1)
    kserve.behave(v3, "fail")
    cluster.patch_spec("iris", {"model": {"uri": v3}}, plural="modeldeployments")
    done = wait_for(cluster.fetch("iris", "modeldeployments"), phase("RolledBack"), deadline=20)["status"]
    rolled_out = condition({"status": done}, "RolledOut")
    assert rolled_out["reason"] == "ModelLoadFailed" and "cannot unpickle" in rolled_out["message"]
    assert predictor(cluster)["model"]["storageUri"] == v1
    assert champion(registry) == 1


def test_ownership_and_deletion(cluster, operator, registry, wait_for):
    """The InferenceService goes with its ModelDeployment by Kubernetes' garbage collection (the
    ownerReference checked in the first test); the emulator has no collector, so the test deletes it
    as the collector would and checks that the operator does not bring it back."""
    v1 = registry.version_uri(1)
    uid = deployed(cluster, wait_for, v1)["metadata"]["uid"]
    # While the ModelDeployment lives, a deleted InferenceService is drift: it is re-created, owned.
    cluster.crs.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "iris")
    owners = wait_for(lambda: isvc(cluster)["metadata"]["ownerReferences"], lambda refs: refs)
    assert [(o["kind"], o["uid"], o["controller"], o["blockOwnerDeletion"]) for o in owners] == [
        ("ModelDeployment", uid, True, True)]
    cluster.delete("iris", plural="modeldeployments")
    wait_for(lambda: _exists(cluster, "iris", "modeldeployments"), lambda e: not e, deadline=10)
    cluster.crs.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "iris")
    # Another ModelDeployment going Ready shows the operator has carried on past the deletion.
    deployed(cluster, wait_for, v1, name="other")
    assert not _exists(cluster, "iris", PLURAL)


def test_deletion_waits_for_a_slow_reconcile_not_a_minute(cluster, operator, registry, wait_for, monkeypatch):
    """A ModelDeployment deleted while its timer is inside a reconcile goes once that reconcile ends:
    kopf removes its finalizer after the timer stops, and by default it looks again only after 60 s."""
    import threading
    import time

    from mlcd.handlers.modeldeployment import ModelDeploymentReconciler

    deployed(cluster, wait_for, registry.version_uri(1))
    inside, slow = threading.Event(), threading.Event()
    preflight = ModelDeploymentReconciler._preflight

    def slow_preflight(self, md):
        if slow.is_set():
            inside.set()
            time.sleep(3)  # a slow API server or storage: bounded by the call timeouts in the operator
        return preflight(self, md)

    monkeypatch.setattr(ModelDeploymentReconciler, "_preflight", slow_preflight)
    slow.set()
    assert inside.wait(10), "the timer did not reconcile"
    cluster.delete("iris", plural="modeldeployments")
    wait_for(lambda: _exists(cluster, "iris", "modeldeployments"), lambda e: not e, deadline=15)


def _exists(cluster, name: str, plural: str) -> bool:
    group, version = (GROUP, VERSION) if plural == PLURAL else ("mlcd.io", "v1alpha1")
    try:
        cluster.crs.get_namespaced_custom_object(group, version, cluster.namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def s3_secret(name: str, annotations: dict) -> dict:
    return {"metadata": {"name": name, "annotations": annotations},
            "data": {"AWS_ACCESS_KEY_ID": "a2V5", "AWS_SECRET_ACCESS_KEY": "c2VjcmV0"}}


def with_account(uri: str, account: str = "mlcd-models") -> dict:
    body = modeldeployment(uri)
    body["spec"]["serving"] = {"serviceAccountName": account}
    return body


def test_preflight_a_missing_service_account_holds_the_deployment(cluster, operator, registry, wait_for):
    cluster.create(with_account(registry.version_uri(1)), plural="modeldeployments")
    held = wait_for(cluster.fetch("iris", "modeldeployments"), phase("Pending"))
    credentials = condition(held, "CredentialsReady")
    assert credentials["status"] == "False" and credentials["reason"] == "CredentialsInvalid"
    assert "ServiceAccount 'mlcd-models' does not exist" in credentials["message"]
    assert wait_reasons(cluster, wait_for, "iris", "CredentialsNotReady")
    assert not _exists(cluster, "iris", PLURAL)
    # Once the account and its Secret exist, the deployment goes ahead on its own.
    cluster.core.create_namespaced_secret("default", s3_secret("s3", {"serving.kserve.io/s3-endpoint": "minio:9000"}))
    cluster.core.create_namespaced_service_account("default", {"metadata": {"name": "mlcd-models"},
                                                               "secrets": [{"name": "s3"}]})
    ready = wait_for(cluster.fetch("iris", "modeldeployments"), phase("Ready"), deadline=20)
    assert condition(ready, "CredentialsReady")["status"] == "True"
    assert predictor(cluster)["serviceAccountName"] == "mlcd-models"


def test_preflight_a_misspelt_annotation_is_named_with_its_fix(cluster, operator, registry, wait_for):
    cluster.core.create_namespaced_secret("default", s3_secret("s3", {"serving.kserve.io/s3-endpiont": "minio:9000"}))
    cluster.core.create_namespaced_service_account("default", {"metadata": {"name": "mlcd-models"},
                                                               "secrets": [{"name": "s3"}]})
    cluster.create(with_account(registry.version_uri(1)), plural="modeldeployments")
    held = wait_for(cluster.fetch("iris", "modeldeployments"), phase("Pending"))
    message = condition(held, "CredentialsReady")["message"]
    assert "'serving.kserve.io/s3-endpiont'" in message and "did you mean 'serving.kserve.io/s3-endpoint'" in message
    assert not _exists(cluster, "iris", PLURAL)


def test_a_trainingrun_hands_off_to_a_promoted_deployment_and_champion(cluster, kserve, home, tmp_path, kubeconfig,
                                                                      operator_with_worker_kubeconfig, wait_for):
    """The local backend's worker runs the pipeline with the operator's environment: its handoff step
    finds the emulator through $KUBECONFIG, as `mlcd operator` would find a cluster."""
    uri = (tmp_path / "registry" / "iris").as_uri()
    registry = open_registry(uri)
    kserve.behave(f"{uri}/v1", "pending")  # held, to see the champion is not set before the rollout
    cluster.create(trainingrun(registry={"uri": uri}, deploy={"modelDeployment": "iris"}))
    run = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected", "Invalid"), deadline=60)
    assert run["status"]["phase"] == "Succeeded", run["status"].get("message")
    handed = condition(run, "HandedOff")
    assert handed["status"] == "True" and f"{uri}/v1" in handed["message"]
    md = wait_for(cluster.fetch("iris", "modeldeployments"), lambda m: m.get("status"), deadline=10)
    assert md["spec"]["model"]["uri"] == f"{uri}/v1"
    # The digest recorded at registration, carried by the objects: TrainingRun status -> hand-off ->
    # ModelDeployment spec -> the predictor's environment.
    digest = registry.metadata(1)["model"]["sha256"]
    assert run["status"]["model"]["sha256"] == md["spec"]["model"]["sha256"] == digest
    assert {"name": "MLCD_MODEL_SHA256", "value": digest} in predictor(cluster)["model"]["env"]
    assert md["metadata"]["annotations"]["mlcd.io/handed-off-by"] == "TrainingRun/iris"
    assert md["spec"]["rollout"]["canaryTrafficPercent"] == 10  # created with the defaults, spelt out
    assert md["spec"]["serving"]["deploymentMode"] == "Serverless"
    assert registry.champion() is None  # registered, not promoted: the rollout decides
    kserve.behave(f"{uri}/v1", "ready")
    wait_for(cluster.fetch("iris", "modeldeployments"), phase("Ready"), deadline=20)
    assert wait_for(lambda: champion(registry), lambda v: v == 1)
    assert wait_reasons(cluster, wait_for, "iris", "HandedOff", "ChampionSet")
    # A second version: handed off as a canary, promoted, then the champion.
    cluster.patch_spec("iris", {"rollout": {"stableSeconds": 0}}, plural="modeldeployments")
    cluster.patch_spec("iris", {"data": {**trainingrun()["spec"]["data"], "seed": 7}})
    again = wait_for(cluster.fetch("iris"), lambda r: r["status"].get("observedGeneration") == 2
                     and r["status"]["phase"] in ("Succeeded", "Failed"), deadline=60)
    assert again["status"]["model"]["version"] == 2, again["status"].get("message")
    promoted = wait_for(cluster.fetch("iris", "modeldeployments"),
                        lambda m: m["status"].get("activeModel") == f"{uri}/v2", deadline=20)
    assert promoted["status"]["phase"] == "Ready"
    assert promoted["status"]["activeModelSha256"] == registry.metadata(2)["model"]["sha256"]
    assert "Promoted" in wait_reasons(cluster, wait_for, "iris", "CanaryStarted", "Promoted")
    assert wait_for(lambda: champion(registry), lambda v: v == 2)



def test_a_rejected_trainingrun_hands_nothing_off(cluster, tmp_path, operator_with_worker_kubeconfig, wait_for):
    uri = (tmp_path / "registry" / "iris").as_uri()
    cluster.create(trainingrun(registry={"uri": uri}, deploy={"modelDeployment": "iris"},
                               gates=[{"metric": "accuracy", "min": 0.999}]))
    run = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected", "Invalid"), deadline=60)
    assert run["status"]["phase"] == "Rejected", run["status"].get("message")
    handed = condition(run, "HandedOff")
    assert handed["status"] == "False" and handed["reason"] == "GateFailed"
    assert not _exists(cluster, "iris", "modeldeployments")


def test_the_inferenceservice_names_mlcds_runtime_and_carries_the_handed_off_digest(cluster, operator, registry,
                                                                                    wait_for):
    v1 = registry.version_uri(1)
    digest = registry.metadata(1)["model"]["sha256"]
    body = modeldeployment(v1)
    body["spec"]["model"]["sha256"] = digest
    body["spec"]["serving"] = {"scaleTarget": 5, "scaleMetric": "concurrency", "maxRequestBytes": 65536}
    cluster.create(body, plural="modeldeployments")
    md = wait_for(cluster.fetch("iris", "modeldeployments"), phase("Ready"), deadline=20)
    assert md["status"]["activeModelSha256"] == digest
    served = predictor(cluster)
    assert served["model"]["runtime"] == "mlcd-sklearn"
    assert served["model"]["env"] == [{"name": "MLCD_MODEL_SHA256", "value": digest},
                                      {"name": "MLCD_MAX_REQUEST_BYTES", "value": "65536"}]
    assert (served["scaleTarget"], served["scaleMetric"]) == (5, "concurrency")


def test_a_version_trained_with_another_scikit_learn_never_gets_traffic(cluster, operator, registry, tmp_path,
                                                                       wait_for):
    import sklearn

    v1 = registry.version_uri(1)
    deployed(cluster, wait_for, v1)
    model = tmp_path / "old.joblib"
    model.write_bytes(b"pickled by an old scikit-learn")
    old = registry.register(model, {"metrics": {}, "versions": {"sklearn": "0.24.2", "mlcd": "0.0.1"}})
    cluster.patch_spec("iris", {"model": {"uri": old.uri}}, plural="modeldeployments")
    md = wait_for(cluster.fetch("iris", "modeldeployments"), phase("Failed"), deadline=20)
    ready = condition(md, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RuntimeIncompatible")
    assert "scikit-learn 0.24.2" in ready["message"] and f"scikit-learn {sklearn.__version__}" in ready["message"]
    assert f"{v1} keeps serving" in ready["message"]
    assert condition(md, "RuntimeCompatible")["status"] == "False"
    assert md["status"]["activeModel"] == v1 and "canaryModel" not in md["status"]
    assert predictor(cluster)["model"]["storageUri"] == v1 and "canaryTrafficPercent" not in predictor(cluster)
    assert wait_reasons(cluster, wait_for, "iris", "RuntimeIncompatible")
