"""mlcd on kind: the chart installs, a sample TrainingRun trains, and its model reaches KServe.

There is no KServe controller in the cluster, only its CRD: the test stops where mlcd's work ends,
at an InferenceService that the API server accepted. hack/e2e.sh builds and loads the image.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

import helm_python as helm
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RELEASE, SYSTEM = "mlcd", "mlcd-system"
SAMPLES = "mlcd-e2e"
GROUP, VERSION = "mlcd.io", "v1alpha1"
FINAL = {"Succeeded", "Rejected", "Failed", "Invalid"}


def wait_for(what: str, probe: Callable[[], object], timeout: float, every: float = 3.0):
    """Poll until probe() returns something truthy; on timeout, fail with the last thing seen."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")


def get_or_none(read: Callable[[], object]):
    try:
        return read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


@pytest.fixture(scope="module")
def api(kind_context):
    return config.new_client_from_config(context=kind_context)


@pytest.fixture(scope="module")
def kserve_crd(api):
    """KServe's InferenceService CRD, and its ClusterServingRuntime CRD for the chart's mlcd-sklearn runtime."""
    ext = client.ApiextensionsV1Api(api)
    for file in ("serving.kserve.io_inferenceservices.yaml", "serving.kserve.io_clusterservingruntimes.yaml"):
        crd = yaml.safe_load((ROOT / "tests" / "fixtures" / "kserve" / file).read_text())
        name = crd["metadata"]["name"]
        # Created, not applied: the CRD is larger than the last-applied annotation allows.
        if get_or_none(lambda name=name: ext.read_custom_resource_definition(name)) is None:
            ext.create_custom_resource_definition(crd)

        def established(name=name):
            status = ext.read_custom_resource_definition(name).status
            return any(c.type == "Established" and c.status == "True" for c in status.conditions or [])

        wait_for(f"the {crd['spec']['names']['kind']} CRD to be established", established, 60)


@pytest.fixture(scope="module")
def release(kind_context, kserve_crd):
    repository, tag = os.environ.get("MLCD_E2E_IMAGE", "ghcr.io/mlcd-io/mlcd-components:0.1.0").rsplit(":", 1)
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "operator": {"backend": "local", "localNamespace": SAMPLES},  # the development mode, on one namespace
    }
    with helm.Config(kube_context=kind_context, namespace=SYSTEM) as helm_config:
        helm_config.uninstall(RELEASE, ignore_not_found=True, wait="watcher", timeout=120)
        installed = helm_config.install(ROOT / "charts" / "mlcd", RELEASE, values, namespace=SYSTEM,
                                        create_namespace=True, wait="watcher", timeout=300)
        yield installed
        helm_config.uninstall(RELEASE, wait="watcher", timeout=120)


@pytest.fixture(scope="module")
def samples(api, release):
    core = client.CoreV1Api(api)
    if get_or_none(lambda: core.read_namespace(SAMPLES)) is not None:
        core.delete_namespace(SAMPLES)
        wait_for(f"namespace {SAMPLES} to go", lambda: get_or_none(lambda: core.read_namespace(SAMPLES)) is None,
                 120)
    core.create_namespace({"metadata": {"name": SAMPLES}})
    # The ModelDeployment sample serves with ServiceAccount mlcd-models, and the operator's preflight
    # wants it to list a Secret KServe can read S3 settings from. Anonymous access: no object store
    # runs here and no model is downloaded, so no credential is needed, fake or real.
    core.create_namespaced_secret(SAMPLES, {"metadata": {"name": "mlcd-models-s3", "annotations": {
        "serving.kserve.io/s3-endpoint": f"minio.{SAMPLES}.svc:9000",
        "serving.kserve.io/s3-usehttps": "0",
        "serving.kserve.io/s3-useanoncredential": "true",
    }}})
    core.create_namespaced_service_account(SAMPLES, {"metadata": {"name": "mlcd-models"},
                                                     "secrets": [{"name": "mlcd-models-s3"}]})
    custom = client.CustomObjectsApi(api)
    applied = []
    for path in sorted((ROOT / "manifests" / "samples").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        plural = doc["kind"].lower() + "s"
        custom.create_namespaced_custom_object(GROUP, VERSION, SAMPLES, plural, doc)
        applied.append(doc)
    yield applied
    core.delete_namespace(SAMPLES)


def test_operator_is_ready(api, release):
    deployments = client.AppsV1Api(api).list_namespaced_deployment(
        SYSTEM, label_selector=f"app.kubernetes.io/instance={RELEASE}").items
    assert [d.status.ready_replicas for d in deployments] == [1]


def test_samples_train_and_hand_off_to_kserve(api, samples):
    custom = client.CustomObjectsApi(api)

    def phase(name: str):
        tr = custom.get_namespaced_custom_object(GROUP, VERSION, SAMPLES, "trainingruns", name)
        status = tr.get("status", {})
        return status if status.get("phase") in FINAL else None

    runs = {doc["metadata"]["name"]: doc for doc in samples if doc["kind"] == "TrainingRun"}
    for name in runs:
        status = wait_for(f"TrainingRun {name} to finish", lambda n=name: phase(n), 900, every=5)
        assert status["phase"] == "Succeeded", status

    for name, doc in runs.items():
        target = doc["spec"].get("deploy", {}).get("modelDeployment")
        if not target:
            continue
        model_uri = custom.get_namespaced_custom_object(
            GROUP, VERSION, SAMPLES, "trainingruns", name)["status"]["model"]["uri"]

        def handed_off_to(target=target, model_uri=model_uri):
            md = custom.get_namespaced_custom_object(GROUP, VERSION, SAMPLES, "modeldeployments", target)
            return md if md["spec"]["model"]["uri"] == model_uri else None

        deployment = wait_for(f"ModelDeployment {target} to get the model of TrainingRun {name}", handed_off_to, 120)
        isvc = wait_for(
            f"InferenceService {target}",
            lambda t=target: get_or_none(lambda: custom.get_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", SAMPLES, "inferenceservices", t)),
            180)
        owners = [(o["kind"], o["name"], o["uid"]) for o in isvc["metadata"].get("ownerReferences", [])]
        assert owners == [("ModelDeployment", target, deployment["metadata"]["uid"])]
        model = isvc["spec"]["predictor"]["model"]
        assert model["modelFormat"]["name"] == "sklearn"
        assert model["storageUri"]
