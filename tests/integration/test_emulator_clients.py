"""What real clients (kubectl, helm) need from the emulator, checked piece by piece over HTTP.

The whole path with the real binaries is tests/integration/test_kubectl_user_path.py; these pin the
shapes it depends on, each against the Kubernetes source it follows.
"""

import json
import urllib.request

import pytest
from kubernetes.client import AppsV1Api, CustomObjectsApi

from tests.k8s import mlcd_crd_files
from tests.k8s.tables import human_duration

TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


def http(
    emulator,
    path: str,
    method: str = "GET",
    body: object = None,
    content_type: str = "application/json",
    accept: str = "application/json",
) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        f"{emulator.url}{path}", data=data, method=method, headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def mlcd(k8s_emulator):
    k8s_emulator.load_crds(mlcd_crd_files())
    return k8s_emulator


def test_discovery_lists_status_subresources_without_names_of_their_own(mlcd):
    # customresource_discovery_controller.go: the main resource carries short names and categories;
    # plural/status has the parent's kind, verbs get/patch/update and nothing else.
    _, doc = http(mlcd, "/apis/mlcd.io/v1alpha1")
    by_name = {resource["name"]: resource for resource in doc["resources"]}
    assert by_name["trainingruns"]["shortNames"] == ["tr"] and by_name["trainingruns"]["categories"] == ["mlcd"]
    assert by_name["trainingruns"]["verbs"] == [
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "create",
        "update",
        "watch",
    ]
    status = by_name["trainingruns/status"]
    assert status == {
        "name": "trainingruns/status",
        "singularName": "",
        "namespaced": True,
        "kind": "TrainingRun",
        "verbs": ["get", "patch", "update"],
    }
    _, groups = http(mlcd, "/apis")
    mlcd_group = next(group for group in groups["groups"] if group["name"] == "mlcd.io")
    assert mlcd_group["preferredVersion"] == {"groupVersion": "mlcd.io/v1alpha1", "version": "v1alpha1"}
    _, version = http(mlcd, "/version")
    assert (version["major"], version["minor"]) == ("1", "33")


def test_openapi_v3_tells_kubectl_the_server_validates_fields(mlcd):
    # query_param_verifier_v3.go: the PATCH of the kind's path lists fieldValidation.
    _, root = http(mlcd, "/openapi/v3")
    url = root["paths"]["apis/mlcd.io/v1alpha1"]["serverRelativeURL"]
    _, doc = http(mlcd, url)
    item = doc["paths"]["/apis/mlcd.io/v1alpha1/namespaces/{namespace}/trainingruns/{name}"]
    assert item["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "mlcd.io",
        "version": "v1alpha1",
        "kind": "TrainingRun",
    }
    assert "fieldValidation" in [param["name"] for param in item["patch"]["parameters"]]
    schema = doc["components"]["schemas"]["io.mlcd.v1alpha1.TrainingRun"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "mlcd.io", "version": "v1alpha1", "kind": "TrainingRun"}
    ]
    assert "retrain" in schema["properties"]["spec"]["properties"]
    _, v2 = http(mlcd, "/openapi/v2")
    assert "io.mlcd.v1alpha1.ModelDeployment" in v2["definitions"]


def test_strict_field_validation_refuses_unknown_fields(mlcd):
    body = {
        "apiVersion": "mlcd.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "typo"},
        "spec": {"data": {"source": "builtin://iris", "sed": 3}, "model": {"estimator": "Ridge"}},
    }
    code, status = http(
        mlcd, "/apis/mlcd.io/v1alpha1/namespaces/default/trainingruns?fieldValidation=Strict", "POST", body
    )
    assert code == 400 and status["reason"] == "BadRequest"
    assert status["message"] == (
        'TrainingRun in version "v1alpha1" cannot be handled as a TrainingRun: '
        'strict decoding error: unknown field "spec.data.sed"'
    )
    code, created = http(mlcd, "/apis/mlcd.io/v1alpha1/namespaces/default/trainingruns", "POST", body)
    assert code == 201 and "sed" not in created["spec"]["data"]  # without it, pruned as before


def test_tables_print_the_crd_columns(mlcd, k8s_api_client):
    crs = CustomObjectsApi(k8s_api_client)
    body = {
        "apiVersion": "mlcd.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "iris"},
        "spec": {"data": {"source": "builtin://iris"}, "model": {"estimator": "RandomForestClassifier"}},
    }
    crs.create_namespaced_custom_object("mlcd.io", "v1alpha1", "default", "trainingruns", body)
    crs.patch_namespaced_custom_object_status(
        "mlcd.io",
        "v1alpha1",
        "default",
        "trainingruns",
        "iris",
        {
            "status": {
                "phase": "Succeeded",
                "keyMetric": "accuracy=0.9667",
                "model": {"uri": "s3://m/iris/v2", "version": 2},
            }
        },
    )
    _, table = http(mlcd, "/apis/mlcd.io/v1alpha1/namespaces/default/trainingruns", accept=TABLE)
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    names = [column["name"] for column in table["columnDefinitions"]]
    assert names[:4] == ["Name", "Phase", "Metric", "Version"] and names[-1] == "Age"
    assert table["columnDefinitions"][0]["format"] == "name"
    (row,) = table["rows"]
    cells = dict(zip(names, row["cells"], strict=True))
    assert cells["Name"] == "iris" and cells["Phase"] == "Succeeded" and cells["Metric"] == "accuracy=0.9667"
    assert cells["Version"] == 2 and cells["Estimator"] == "RandomForestClassifier" and cells["Run"] is None
    assert cells["Age"].endswith("s")
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["name"] == "iris"
    _, one = http(mlcd, "/apis/mlcd.io/v1alpha1/namespaces/default/trainingruns/iris?includeObject=None", accept=TABLE)
    assert [r["cells"][0] for r in one["rows"]] == ["iris"] and "object" not in one["rows"][0]


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (5, "5s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (400 * 86400, "400d"),
        (-5, "<invalid>"),
    ],
)
def test_ages_as_kubectl_prints_them(seconds, shown):
    assert human_duration(seconds) == shown


def deployment(image: str, env: list[dict]) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "op"},
        "spec": {
            "selector": {"matchLabels": {"app": "op"}},
            "template": {
                "metadata": {"labels": {"app": "op"}},
                "spec": {
                    "containers": [
                        {"name": "operator", "image": image, "env": env},
                        {"name": "sidecar", "image": "busybox"},
                    ]
                },
            },
        },
    }


def test_strategic_merge_patch_merges_lists_by_their_keys(k8s_api_client):
    apps = AppsV1Api(k8s_api_client)
    apps.create_namespaced_deployment("default", deployment("mlcd:1", [{"name": "A", "value": "1"}]))
    # What kubectl apply computes for a changed image and one more variable (strategicpatch, merge key "name").
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "operator"}, {"name": "sidecar"}],
                    "containers": [
                        {
                            "name": "operator",
                            "image": "mlcd:2",
                            "env": [{"name": "B", "value": "2"}],
                            "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                        }
                    ],
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment("op", "default", patch)
    containers = patched.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("operator", "mlcd:2"), ("sidecar", "busybox")]
    assert [(e.name, e.value) for e in containers[0].env] == [("A", "1"), ("B", "2")]
    removed = apps.patch_namespaced_deployment(
        "op", "default", {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    )
    assert [c.name for c in removed.spec.template.spec.containers] == ["operator"]


def test_server_side_apply_creates_then_drops_what_the_manager_no_longer_applies(k8s_emulator):
    path = "/api/v1/namespaces/default/configmaps/cfg?fieldManager=helm"
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"a": "1", "b": "2"}},
        "data": {"x": "1"},
    }
    code, created = http(k8s_emulator, path, "PATCH", applied, "application/apply-patch+yaml")
    assert code == 201 and created["data"] == {"x": "1"}
    # Another writer adds a label; the manager then stops applying label b.
    http(
        k8s_emulator,
        "/api/v1/namespaces/default/configmaps/cfg",
        "PATCH",
        {"metadata": {"labels": {"other": "yes"}}},
        "application/merge-patch+json",
    )
    again = {**applied, "metadata": {"name": "cfg", "labels": {"a": "1"}}, "data": {"x": "2"}}
    code, updated = http(k8s_emulator, path, "PATCH", again, "application/apply-patch+yaml")
    assert code == 200 and updated["data"] == {"x": "2"}
    assert updated["metadata"]["labels"] == {"a": "1", "other": "yes"}
    code, status = http(
        k8s_emulator, "/api/v1/namespaces/default/configmaps/cfg", "PATCH", again, "application/apply-patch+yaml"
    )
    assert code == 400 and "fieldManager" in status["message"]
