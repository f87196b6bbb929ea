"""CRDs loaded from YAML: discovery, validation, pruning and defaulting as the API server does them.

Kubernetes docs: "Extend the Kubernetes API with CustomResourceDefinitions" (sections
Validation, Pruning, Defaulting, Field selectors) and "API discovery".
"""

import json
import pathlib

import kubernetes
import pytest
import yaml
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.k8s import KSERVE_CRD, WIDGET_CRD, mlcd_crd_files
from tests.k8s.files import ROOT

GROUP, VERSION, PLURAL = "example.mlcd.io", "v1", "widgets"


@pytest.fixture
def crs(k8s_emulator, k8s_api_client) -> CustomObjectsApi:
    k8s_emulator.load_crds([WIDGET_CRD, KSERVE_CRD])
    return CustomObjectsApi(k8s_api_client)


def create_widget(crs: CustomObjectsApi, spec: dict, version: str = VERSION) -> dict:
    body = {"apiVersion": f"{GROUP}/{version}", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}
    return crs.create_namespaced_custom_object(GROUP, version, "default", PLURAL, body)


def rejection(call, *args) -> dict:
    with pytest.raises(ApiException) as info:
        call(*args)
    assert info.value.status == 422
    return json.loads(info.value.body)


def test_discovery_is_built_from_the_loaded_crds(crs, k8s_api_client):
    # API discovery: /apis lists the CRDs' groups; a group version lists its resources and subresources.
    dynamic = kubernetes.dynamic.DynamicClient(k8s_api_client)
    isvc = dynamic.resources.get(api_version="serving.kserve.io/v1beta1", kind="InferenceService")
    widget = dynamic.resources.get(api_version=f"{GROUP}/{VERSION}", kind="Widget")
    crd = dynamic.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    namespaces = dynamic.resources.get(api_version="v1", kind="Namespace")
    events = dynamic.resources.get(api_version="v1", kind="Event")
    assert (namespaces.namespaced, events.namespaced) == (False, True)  # kopf needs both to start
    assert (isvc.name, isvc.namespaced, isvc.short_names) == ("inferenceservices", True, ["isvc"])
    assert "status" in widget.subresources
    established = crd.get(name="widgets.example.mlcd.io").status.conditions
    assert {(c.type, c.status) for c in established} >= {("Established", "True")}


def test_invalid_objects_are_422_with_api_server_field_paths(crs):
    # CRD validation: every problem is a cause with the field path the API server reports.
    body = rejection(
        create_widget,
        crs,
        {
            "size": 30,
            "color": "pink",
            "name": "A1",
            "tags": ["a", "b", "c", "d"],
            "ports": [{"name": "x"}, {"name": "x", "port": 1.5}, {"port": 1}],
        },
    )
    fields = {cause["field"]: cause for cause in body["details"]["causes"]}
    assert body["reason"] == "Invalid"
    assert body["message"].startswith('Widget.example.mlcd.io "w" is invalid: [')
    assert fields["spec.size"]["message"] == "Invalid value: 30: spec.size in body should be less than or equal to 10"
    assert fields["spec.color"]["reason"] == "FieldValueNotSupported"
    assert fields["spec.name"]["message"] == "Invalid value: \"A1\": spec.name in body should match '^[a-z]+$'"
    assert fields["spec.tags"]["message"] == "Invalid value: 4: spec.tags in body should have at most 3 items"
    assert fields["spec.ports[1]"]["reason"] == "FieldValueDuplicate"
    assert fields["spec.ports[1].port"]["reason"] == "FieldValueTypeInvalid"
    assert fields["spec.ports[2].name"]["message"] == "Required value"


def test_required_and_type_errors(crs):
    # CRD validation: a missing required field is "Required value"; a wrong type names the type.
    missing = rejection(create_widget, crs, {})
    wrong = rejection(create_widget, crs, {"size": "three"})
    assert missing["message"] == 'Widget.example.mlcd.io "w" is invalid: spec.size: Required value'
    assert wrong["details"]["causes"][0]["message"] == (
        'Invalid value: "three": spec.size in body must be of type integer: "three"'
    )


def test_unknown_fields_are_pruned_unless_preserved(crs):
    # CRD pruning: unknown fields are dropped silently, except under x-kubernetes-preserve-unknown-fields.
    created = create_widget(crs, {"size": 2, "colour": "red", "params": {"anything": {"goes": 1}}})
    assert created["spec"] == {"size": 2, "color": "green", "params": {"anything": {"goes": 1}}}


def test_defaults_are_applied_on_create_and_update(crs):
    # CRD defaulting: default: values fill absent fields; a null for a non-nullable field is dropped first.
    create_widget(crs, {"size": 2, "color": "red"})
    updated = crs.patch_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "w", {"spec": {"color": None}})
    assert updated["spec"]["color"] == "green"


def test_status_is_validated_on_the_status_subresource(crs):
    # CRD validation applies to /status writes too.
    create_widget(crs, {"size": 2})
    body = rejection(
        crs.patch_namespaced_custom_object_status,
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "w",
        {"status": {"phase": "Lost"}},
    )
    assert body["details"]["causes"][0]["field"] == "status.phase"


def test_versions_share_one_storage(crs):
    # CRD versioning (conversion strategy None): one object, served under every version.
    create_widget(crs, {"size": 2}, version="v1beta1")
    as_v1 = crs.get_namespaced_custom_object(GROUP, "v1", "default", PLURAL, "w")
    assert as_v1["apiVersion"] == f"{GROUP}/v1"


def test_metadata_name_must_be_a_dns_subdomain(crs):
    # Object names: custom resource names are DNS subdomains.
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Widget",
        "metadata": {"name": "Not_Valid"},
        "spec": {"size": 1},
    }
    rejected = rejection(crs.create_namespaced_custom_object, GROUP, VERSION, "default", PLURAL, body)
    assert rejected["details"]["causes"][0]["field"] == "metadata.name"


def inference_service(**predictor: object) -> dict:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris"},
        "spec": {"predictor": predictor},
    }


def test_kserve_inference_service_is_admitted_and_checked(crs):
    # KServe's real CRD: a valid InferenceService is stored; a malformed one gets KServe's field paths.
    good = inference_service(
        model={"modelFormat": {"name": "sklearn"}, "storageUri": "s3://models/iris/v1"},
        canaryTrafficPercent=10,
        minReplicas=1,
    )
    created = crs.create_namespaced_custom_object("serving.kserve.io", "v1beta1", "default", "inferenceservices", good)
    bad = inference_service(model={"modelFormat": {}}, minReplicas="one")
    rejected = rejection(
        crs.create_namespaced_custom_object,
        "serving.kserve.io",
        "v1beta1",
        "default",
        "inferenceservices",
        {**bad, "metadata": {"name": "bad"}},
    )
    fields = {cause["field"] for cause in rejected["details"]["causes"]}
    assert created["spec"]["predictor"]["model"]["storageUri"] == "s3://models/iris/v1"
    assert {"spec.predictor.model.modelFormat.name", "spec.predictor.minReplicas"} <= fields


def test_every_mlcd_crd_loads(k8s_emulator, k8s_api_client):
    # mlcd's generated CRDs (manifests/crd/) are served, and the shipped samples pass their schemas.
    files = mlcd_crd_files()
    if not files:
        pytest.skip("no CRDs under manifests/crd/ yet (make manifests generates them)")
    crds = k8s_emulator.load_crds(files)
    crs = CustomObjectsApi(k8s_api_client)
    for crd in crds:
        spec = crd["spec"]
        version = spec["versions"][0]["name"]
        listed = crs.list_cluster_custom_object(spec["group"], version, spec["names"]["plural"])
        assert listed["kind"] == spec["names"]["listKind"]
    for sample in _samples_of({crd["spec"]["names"]["kind"]: crd for crd in crds}):
        group, version = sample["apiVersion"].split("/")
        plural = next(c for c in crds if c["spec"]["names"]["kind"] == sample["kind"])["spec"]["names"]["plural"]
        crs.create_namespaced_custom_object(group, version, "default", plural, sample)


def test_mlcd_cel_rules_refuse_at_create_time(k8s_emulator, k8s_api_client):
    # x-kubernetes-validations: a gate with min above max is a 422 naming the field, as `kubectl apply` shows it.
    k8s_emulator.load_crds(mlcd_crd_files())
    crs = CustomObjectsApi(k8s_api_client)
    body = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "iris"},
            "spec": {"data": {"source": "builtin://iris"}, "model": {"estimator": "RandomForestClassifier"},
                     "gates": [{"metric": "accuracy", "min": 0.9, "max": 0.5}, {"metric": "f1_macro"}]}}
    rejected = rejection(crs.create_namespaced_custom_object, "mlcd.io", "v1alpha1", "default", "trainingruns", body)
    assert rejected["message"].startswith('TrainingRun.mlcd.io "iris" is invalid: [')
    assert {(c["field"], c["message"]) for c in rejected["details"]["causes"]} == {
        ("spec.gates[0].min", "Invalid value: min must not be above max"),
        ("spec.gates[1]", "Invalid value: a gate needs min, max or vsChampion"),
    }
    body["spec"]["gates"] = [{"metric": "accuracy", "min": 0.5, "max": 0.9}]
    created = crs.create_namespaced_custom_object("mlcd.io", "v1alpha1", "default", "trainingruns", body)
    assert created["spec"]["gates"] == [{"metric": "accuracy", "min": 0.5, "max": 0.9}]


def _samples_of(crds_by_kind: dict) -> list[dict]:
    docs = [
        doc
        for path in sorted(pathlib.Path(ROOT, "manifests", "samples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
    ]
    return [doc for doc in docs if isinstance(doc, dict) and doc.get("kind") in crds_by_kind]
