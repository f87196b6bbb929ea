"""The emulator's API-server semantics, checked over HTTP with the official ``kubernetes`` client.

Each test names the Kubernetes API concept (kubernetes.io/docs/reference/using-api/api-concepts/
and the object-management pages) whose behaviour it mirrors.
"""

import itertools
import json
import threading

import kubernetes
import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.k8s import WIDGET_CRD, Emulator, ServedEmulator

GROUP, VERSION, PLURAL = "example.mlcd.io", "v1", "widgets"


def widget(name: str, size: int = 3, **spec: object) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


@pytest.fixture
def crs(k8s_emulator, k8s_api_client) -> CustomObjectsApi:
    k8s_emulator.load_crds([WIDGET_CRD])
    return CustomObjectsApi(k8s_api_client)


def create(crs: CustomObjectsApi, body: dict, namespace: str = "default") -> dict:
    return crs.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def patch(crs: CustomObjectsApi, name: str, body: dict) -> dict:
    return crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, name, body)


def patch_status(crs: CustomObjectsApi, name: str, body: dict) -> dict:
    return crs.patch_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, name, body)


def failure(call, *args) -> tuple[int, dict]:
    with pytest.raises(ApiException) as info:
        call(*args)
    return info.value.status, json.loads(info.value.body)


def test_create_sets_server_metadata_and_answers_201(crs):
    # API concepts: "Object metadata" (uid, resourceVersion, generation, creationTimestamp set by the
    # server) and "Create": POST answers 201 Created.
    _, status, _ = crs.create_namespaced_custom_object_with_http_info(GROUP, VERSION, "default", PLURAL, widget("a"))
    second = create(crs, widget("b"))
    first = crs.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    assert status == 201
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert first["metadata"]["generation"] == 1
    assert first["metadata"]["creationTimestamp"].endswith("Z")
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert failure(create, crs, widget("a"))[0] == 409  # AlreadyExists


def test_generate_name_makes_a_unique_name(crs):
    # Object names and IDs: "generateName" is a prefix; the server appends a random suffix.
    names = {create(crs, {**widget(""), "metadata": {"generateName": "w-"}})["metadata"]["name"] for _ in range(5)}
    assert len(names) == 5 and all(name.startswith("w-") and len(name) == 7 for name in names)


def test_events_with_generate_name(k8s_api_client):
    # Events are posted with generateName (kopf, kubectl); the core API fills apiVersion/kind.
    core = CoreV1Api(k8s_api_client)
    body = {
        "metadata": {"generateName": "mlcd-"},
        "reason": "Tested",
        "message": "hello",
        "type": "Normal",
        "involvedObject": {"kind": "Widget", "name": "a", "namespace": "default"},
    }
    first = core.create_namespaced_event("default", body)
    second = core.create_namespaced_event("default", body)
    assert first.metadata.name != second.metadata.name
    listed = core.list_namespaced_event("default", field_selector="involvedObject.name=a,reason=Tested")
    assert [event.message for event in listed.items] == ["hello", "hello"]


def test_generation_counts_spec_changes_only(crs):
    # CRD docs, "Status subresource": metadata.generation is incremented for changes to everything
    # but .metadata and .status; a no-op patch does not even bump resourceVersion.
    created = create(crs, widget("a"))
    labelled = patch(crs, "a", {"metadata": {"labels": {"tier": "gold"}}})
    resized = patch(crs, "a", {"spec": {"size": 4}})
    same = patch(crs, "a", {"spec": {"size": 4}})
    assert labelled["metadata"]["generation"] == 1
    assert resized["metadata"]["generation"] == 2
    assert same["metadata"]["resourceVersion"] == resized["metadata"]["resourceVersion"]
    assert created["metadata"]["uid"] == resized["metadata"]["uid"]


def test_status_subresource_is_isolated_both_ways(crs):
    # CRD docs, "Status subresource": the main resource ignores .status; /status takes only .status.
    create(crs, {**widget("a"), "status": {"phase": "Ready"}})
    after_main = patch(crs, "a", {"spec": {"size": 5}, "status": {"phase": "Ready"}})
    after_status = patch_status(crs, "a", {"spec": {"size": 9}, "status": {"phase": "Pending"}})
    assert "status" not in after_main
    assert after_status["spec"]["size"] == 5
    assert after_status["status"] == {"phase": "Pending"}
    assert after_status["metadata"]["generation"] == 2


def test_stale_resource_version_conflicts(crs):
    # API concepts: "Resource versions" / optimistic concurrency: a write naming an old
    # resourceVersion answers 409 Conflict, for a patch and for a replace.
    old = create(crs, widget("a"))
    patch(crs, "a", {"spec": {"size": 4}})
    stale = {"metadata": {"resourceVersion": old["metadata"]["resourceVersion"]}, "spec": {"size": 6}}
    assert failure(patch, crs, "a", stale)[0] == 409
    code, body = failure(
        crs.replace_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        {**old, "spec": {"size": 7}},
    )
    assert (code, body["reason"]) == (409, "Conflict")


def test_put_replaces_the_object(crs):
    # Object management: PUT replaces the whole object (fields left out are removed); custom
    # resources require the resourceVersion the object was read at.
    current = create(crs, widget("a", tags=["x"]))
    current["spec"] = {"size": 8}
    replaced = crs.replace_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a", current)
    del current["metadata"]["resourceVersion"]
    code, body = failure(crs.replace_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "a", current)
    assert replaced["spec"] == {"size": 8, "color": "green"}
    assert replaced["metadata"]["generation"] == 2
    assert (code, body["details"]["causes"][0]["field"]) == (422, "metadata.resourceVersion")


def test_strategic_merge_patch_is_refused_for_custom_resources(crs, k8s_api_client):
    # API concepts, "Patch": custom resources do not support strategic merge patch (415).
    create(crs, widget("a"))
    dynamic = kubernetes.dynamic.DynamicClient(k8s_api_client)
    widgets = dynamic.resources.get(api_version=f"{GROUP}/{VERSION}", kind="Widget")
    with pytest.raises(ApiException) as info:
        widgets.patch(name="a", namespace="default", body={"spec": {"size": 2}})
    merged = widgets.patch(
        name="a", namespace="default", body={"spec": {"size": 2}}, content_type="application/merge-patch+json"
    )
    assert info.value.status == 415
    assert merged.spec.size == 2


def test_delete_with_finalizers_waits_for_them(crs):
    # "Finalizers": DELETE only sets deletionTimestamp; removing the last finalizer deletes.
    create(crs, {**widget("a"), "metadata": {"name": "a", "finalizers": ["example.mlcd.io/cleanup"]}})
    marked = crs.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    code, _ = failure(patch, crs, "a", {"metadata": {"finalizers": ["example.mlcd.io/cleanup", "another"]}})
    patch(crs, "a", {"metadata": {"finalizers": None}})
    assert marked["metadata"]["deletionTimestamp"]
    assert code == 422  # no new finalizers once deletion started
    assert failure(crs.get_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, "a")[0] == 404


def test_label_and_field_selectors_on_list(crs, k8s_api_client):
    # "Labels and Selectors" (equality- and set-based) and "Field Selectors" (metadata.name/namespace).
    CoreV1Api(k8s_api_client).create_namespace({"metadata": {"name": "other"}})
    create(crs, {**widget("a"), "metadata": {"name": "a", "labels": {"tier": "gold", "env": "prod"}}})
    create(crs, {**widget("b"), "metadata": {"name": "b", "labels": {"tier": "silver"}}})
    create(crs, {**widget("a"), "metadata": {"name": "a", "labels": {"tier": "gold"}}}, namespace="other")

    def names(**selectors: str) -> list[str]:
        items = crs.list_cluster_custom_object(GROUP, VERSION, PLURAL, **selectors)["items"]
        return [f"{item['metadata']['namespace']}/{item['metadata']['name']}" for item in items]

    assert names(label_selector="tier=gold") == ["default/a", "other/a"]
    assert names(label_selector="tier in (gold,silver),!env") == ["default/b", "other/a"]
    assert names(label_selector="tier!=gold") == ["default/b"]
    assert names(field_selector="metadata.namespace=other") == ["other/a"]
    assert names(field_selector="metadata.name!=a") == ["default/b"]
    with pytest.raises(ApiException) as info:
        crs.list_cluster_custom_object(GROUP, VERSION, PLURAL, field_selector="spec.size=3")
    assert info.value.status == 400


def test_watch_filters_by_selector_and_resumes_from_resource_version(crs, k8s_api_client):
    # API concepts, "Efficient detection of changes": a watch from a resourceVersion sees exactly
    # the later changes; an object leaving the selector is DELETED for that watcher.
    listed = crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    create(crs, {**widget("a"), "metadata": {"name": "a", "labels": {"tier": "gold"}}})
    create(crs, widget("b"))
    patch(crs, "a", {"metadata": {"labels": {"tier": "silver"}}})
    watch = kubernetes.watch.Watch()
    stream = watch.stream(
        crs.list_namespaced_custom_object,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        label_selector="tier=gold",
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=5,
    )
    seen = [(event["type"], event["object"]["metadata"]["name"]) for event in itertools.islice(stream, 2)]
    watch.stop()
    assert seen == [("ADDED", "a"), ("DELETED", "a")]


def test_watch_from_a_forgotten_version_is_410_gone(tmp_path):
    # API concepts, "410 Gone responses": history is bounded; clients must relist.
    with ServedEmulator(Emulator(watch_history=2)) as served:
        served.load_crds([WIDGET_CRD])
        config = served.write_kubeconfig(tmp_path / "kubeconfig")
        with kubernetes.config.new_client_from_config(config_file=str(config)) as client:
            crs = CustomObjectsApi(client)
            for name in "abcd":
                create(crs, widget(name))
            stream = kubernetes.watch.Watch().stream(
                crs.list_namespaced_custom_object,
                GROUP,
                VERSION,
                "default",
                PLURAL,
                resource_version="1",
                timeout_seconds=5,
            )
            with pytest.raises(ApiException) as info:
                next(stream)
    assert info.value.status == 410


def test_the_namespaces_resource_is_addressable(k8s_api_client):
    # The core API routes /api/v1/namespaces/NAME to the Namespace itself (kmock 0.8 cannot).
    core = CoreV1Api(k8s_api_client)
    core.create_namespace({"metadata": {"name": "team-a"}})
    assert core.read_namespace("team-a").status.phase == "Active"
    assert {ns.metadata.name for ns in core.list_namespace().items} == {"default", "team-a"}


def test_many_writers_get_monotonic_resource_versions(crs):
    # API concepts, "Resource versions": every write gets a new, larger resourceVersion.
    versions: list[int] = []

    def write(index: int) -> None:
        versions.append(int(create(crs, widget(f"w{index}"))["metadata"]["resourceVersion"]))

    threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(versions)) == 8
