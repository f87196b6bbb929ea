"""kopf's own client paths against the emulator: a minimal operator that patches status and posts
Events, in-process and as a subprocess, with and without injected faults.

kopf splits a patch into the main resource and the /status subresource when discovery lists
"status" (CRD docs, "Status subresource"), posts Events with generateName, lists then watches
from the list's resourceVersion (API concepts, "Efficient detection of changes"), retries 429
(honouring Retry-After) and 5xx, and resumes dropped watch streams.
"""

import sys
import textwrap

import kopf
import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi

from tests.k8s import WIDGET_CRD, quick_settings

GROUP, VERSION, PLURAL = "example.mlcd.io", "v1", "widgets"


def widget_operator() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    def reconcile(spec, meta, patch, body, **_):
        patch.status["phase"] = "Ready"
        patch.status["observedGeneration"] = meta["generation"]
        patch.metadata.labels["example.mlcd.io/size"] = str(spec["size"])
        kopf.info(body, reason="Reconciled", message=f"size {spec['size']}")

    return registry


def strict_settings() -> kopf.OperatorSettings:
    # The widget status schema has no room for kopf's own status.kopf (it would be pruned, as on a
    # real cluster), so kopf keeps its bookkeeping in annotations, as mlcd does.
    settings = quick_settings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="example.mlcd.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="example.mlcd.io")
    return settings


@pytest.fixture
def crs(k8s_emulator, k8s_api_client) -> CustomObjectsApi:
    k8s_emulator.load_crds([WIDGET_CRD])
    return CustomObjectsApi(k8s_api_client)


def create(crs: CustomObjectsApi, name: str, size: int = 3) -> dict:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size},
    }
    return crs.create_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, body)


def fetch(crs: CustomObjectsApi, name: str):
    return lambda: crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name)


def reconciled(generation: int):
    return lambda obj: obj.get("status", {}).get("observedGeneration") == generation


def test_kopf_patches_status_and_posts_events(crs, k8s_api_client, run_operator, wait_for):
    run_operator(widget_operator(), strict_settings())
    create(crs, "a")
    first = wait_for(fetch(crs, "a"), reconciled(1))
    crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", {"spec": {"size": 5}})
    second = wait_for(fetch(crs, "a"), reconciled(2))
    events = wait_for(
        lambda: (
            CoreV1Api(k8s_api_client)
            .list_namespaced_event("default", field_selector="involvedObject.name=a,reason=Reconciled")
            .items
        ),
        lambda items: len(items) == 2,
    )
    assert first["status"]["phase"] == "Ready"
    assert second["metadata"]["labels"]["example.mlcd.io/size"] == "5"
    assert second["metadata"]["generation"] == 2  # kopf's annotations and status did not bump it
    assert sorted(event.message for event in events) == ["size 3", "size 5"]
    assert all(event.metadata.name.startswith("kopf-event-") for event in events)


def test_kopf_converges_through_injected_faults(k8s_emulator, crs, run_operator, wait_for):
    faults = k8s_emulator.emulator.faults
    faults.error(429, limit=2, verbs={"patch"}, resource="widgets/status", retry_after=0)
    faults.error(500, limit=2, verbs={"patch"}, resource="widgets")
    faults.error(503, limit=1, verbs={"list"}, resource="widgets")
    faults.drop_watches(limit=3, after_events=(0, 2), resource="widgets")
    faults.latency(0.01, limit=20, share=0.5)
    run_operator(widget_operator(), strict_settings())
    for index in range(4):
        create(crs, f"w{index}")
    for index in range(4):
        wait_for(fetch(crs, f"w{index}"), reconciled(1), deadline=20)
    kinds = {(injection.what, injection.code) for injection in k8s_emulator.call(list, faults.injected)}
    assert {("error", 429), ("error", 500), ("error", 503), ("drop", 0)} <= kinds


OPERATOR_FILE = """
import kopf

@kopf.on.startup()
def configure(settings, **_):
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix='example.mlcd.io')
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix='example.mlcd.io')

@kopf.on.create('example.mlcd.io', 'v1', 'widgets')
def reconcile(meta, patch, **_):
    patch.status['phase'] = 'Ready'
    patch.status['observedGeneration'] = meta['generation']
"""


def test_operator_subprocess_uses_the_kubeconfig(crs, operator_process, tmp_path, wait_for):
    script = tmp_path / "operator.py"
    script.write_text(textwrap.dedent(OPERATOR_FILE), encoding="utf-8")
    operator = operator_process([sys.executable, "-m", "kopf", "run", "--standalone", "-A", str(script)])
    create(crs, "a")
    wait_for(fetch(crs, "a"), reconciled(1), deadline=30)
    assert operator.stop() == 0, operator.logs()
