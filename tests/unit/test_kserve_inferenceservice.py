"""The InferenceService mlcd builds: its shape, the real CRD schema, and no patch loop after defaulting."""

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from mlcd.kserve import (
    DEPLOYMENT_MODE_ANNOTATION,
    build_inferenceservice,
    merge_patch,
    needs_update,
    normalise_mode,
    supports_canary,
)
from mlcd.kserve.quantity import parse_quantity, same_quantity

CRD = Path(__file__).resolve().parents[1] / "fixtures" / "kserve" / "serving.kserve.io_inferenceservices.yaml"


@pytest.fixture(scope="module")
def validator():
    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


def modeldeployment(**serving) -> dict:
    return {
        "apiVersion": "mlcd.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "models", "uid": "0b9c-uid", "generation": 2},
        "spec": {"model": {"uri": "s3://models/iris/v3"},
                 "serving": {"serviceAccountName": "mlcd-models", **serving}},
    }


def webhook_defaulted(isvc: dict) -> dict:
    """What KServe 0.21's webhook and the API server hand back: renamed mode, added defaults,
    respelled quantities, server-owned metadata."""
    out = copy.deepcopy(isvc)
    annotations = out["metadata"]["annotations"]
    annotations[DEPLOYMENT_MODE_ANNOTATION] = normalise_mode(annotations[DEPLOYMENT_MODE_ANNOTATION])
    out["metadata"].update(generation=1, resourceVersion="42", uid="isvc-uid")
    out["metadata"]["labels"]["serving.kserve.io/extra"] = "x"
    model = out["spec"]["predictor"]["model"]
    model.setdefault("runtime", "kserve-sklearnserver")  # only when none is named, as KServe does
    model["name"] = ""
    limits = model["resources"]["limits"]
    limits["cpu"] = {"1": "1000m", "1000m": "1"}.get(limits["cpu"], limits["cpu"])
    limits["memory"] = {"1Gi": "1024Mi"}.get(limits["memory"], limits["memory"])
    return out


def test_shape_of_a_first_deployment():
    isvc = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    meta = isvc["metadata"]
    assert (meta["name"], meta["namespace"]) == ("iris", "models")
    assert meta["annotations"] == {DEPLOYMENT_MODE_ANNOTATION: "Serverless"}
    assert meta["ownerReferences"] == [{"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "name": "iris",
                                        "uid": "0b9c-uid", "controller": True, "blockOwnerDeletion": True}]
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    assert predictor["model"]["storageUri"] == "s3://models/iris/v3"
    assert predictor["model"]["protocolVersion"] == "v2"
    assert predictor["model"]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert predictor["serviceAccountName"] == "mlcd-models"
    assert "canaryTrafficPercent" not in predictor


def test_canary_sets_the_traffic_share_and_owner_uid_can_be_given():
    md = modeldeployment()
    del md["metadata"]["uid"]
    isvc = build_inferenceservice(md, storage_uri="s3://models/iris/v4", canary_percent=10, owner_uid="u-1")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert isvc["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_builds_from_the_pydantic_model_too():
    from mlcd.api.v1alpha1 import ModelDeployment

    md = modeldeployment(protocolVersion="v1")
    md["metadata"] = {"name": "iris", "namespace": "models"}
    isvc = build_inferenceservice(ModelDeployment.model_validate(md), storage_uri="s3://m/iris/v1")
    assert isvc["spec"]["predictor"]["model"]["protocolVersion"] == "v1"
    assert "ownerReferences" not in isvc["metadata"]


@pytest.mark.parametrize("serving", [
    {}, {"protocolVersion": "v1", "deploymentMode": "RawDeployment", "minReplicas": 0, "maxReplicas": 1},
    {"resources": {"requests": {"cpu": "250m"}, "limits": {}}},
    {"deploymentMode": "Knative", "serviceAccountName": None},
])
@pytest.mark.parametrize("canary", [None, 0, 10, 100])
def test_every_inferenceservice_built_validates_against_kserves_crd(validator, serving, canary):
    isvc = build_inferenceservice(modeldeployment(**serving), storage_uri="s3://models/iris/v3",
                                  canary_percent=canary)
    errors = sorted(validator.iter_errors(isvc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_schema_check_is_not_vacuous(validator):
    isvc = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")
    isvc["spec"]["predictor"]["minReplicas"] = "one"
    assert list(validator.iter_errors(isvc))


@pytest.mark.parametrize(("given", "normal"), [
    ("Serverless", "Knative"), ("Knative", "Knative"), ("RawDeployment", "Standard"),
    ("Standard", "Standard"), ("ModelMesh", "ModelMesh"), (None, None)])
def test_mode_names_are_normalised(given, normal):
    assert normalise_mode(given) == normal


def test_only_knative_splits_traffic():
    assert supports_canary("Serverless") and supports_canary("Knative")
    assert not supports_canary("RawDeployment") and not supports_canary("Standard")


@pytest.mark.parametrize("mode", ["Serverless", "RawDeployment"])
def test_no_patch_loop_after_the_webhook_renames_and_defaults(mode):
    desired = build_inferenceservice(modeldeployment(deploymentMode=mode), storage_uri="s3://models/iris/v3")
    observed = webhook_defaulted(desired)
    assert observed["metadata"]["annotations"][DEPLOYMENT_MODE_ANNOTATION] != mode
    assert not needs_update(desired, observed)


@pytest.mark.parametrize("change", [
    lambda i: i["spec"]["predictor"]["model"].update(storageUri="s3://models/iris/v2"),
    lambda i: i["spec"]["predictor"].update(canaryTrafficPercent=10),
    lambda i: i["spec"]["predictor"].update(maxReplicas=9),
    lambda i: i["spec"]["predictor"].update(serviceAccountName="other"),
    lambda i: i["spec"]["predictor"]["model"].update(protocolVersion="v1"),
    lambda i: i["spec"]["predictor"]["model"]["resources"]["limits"].update(memory="2Gi"),
    lambda i: i["metadata"]["annotations"].update({DEPLOYMENT_MODE_ANNOTATION: "Standard"}),
    lambda i: i["metadata"].update(ownerReferences=[]),
    lambda i: i["metadata"]["labels"].pop("mlcd.io/model-deployment"),
])
def test_a_real_difference_is_an_update(change):
    desired = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")
    observed = webhook_defaulted(desired)
    change(observed)
    assert needs_update(desired, observed)


def test_missing_is_an_update_and_full_traffic_equals_no_canary():
    desired = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")
    assert needs_update(desired, None)
    observed = webhook_defaulted(desired)
    observed["spec"]["predictor"]["canaryTrafficPercent"] = 100
    assert not needs_update(desired, observed)


def test_merge_patch_drops_the_canary_explicitly_on_promotion():
    md = modeldeployment()
    canary = webhook_defaulted(build_inferenceservice(md, storage_uri="s3://m/iris/v4", canary_percent=10))
    promoted = build_inferenceservice(md, storage_uri="s3://m/iris/v4")
    patch = merge_patch(promoted, canary)
    assert patch["spec"]["predictor"]["canaryTrafficPercent"] is None
    assert "name" not in patch["metadata"]
    assert "canaryTrafficPercent" not in merge_patch(promoted, promoted)["spec"]["predictor"]


@pytest.mark.parametrize(("a", "b", "same"), [
    ("1", "1000m", True), ("1Gi", "1024Mi", True), ("500m", "0.5", True), ("1e3", "1k", True),
    ("1G", "1Gi", False), ("2", "1", False), ("weird", "weird", True), (" weird", "weird ", True),
    ("weird", "1", False), ("1", "weird", False), ("weird", "odd", False)])
def test_quantities_compare_by_value(a, b, same):
    assert same_quantity(a, b) is same


def test_parse_quantity():
    assert parse_quantity("256Mi") == 256 * 2**20
    assert parse_quantity("1.5") == parse_quantity("1500m")
    assert parse_quantity("") is None


def test_labels_environment_resources_and_autoscaling_are_exactly_mlcds():
    isvc = build_inferenceservice(modeldeployment(maxRequestBytes=65536, scaleTarget=10, scaleMetric="rps",
                                                  resources={"requests": {"cpu": "250m"}, "limits": {"cpu": "2"}}),
                                  storage_uri="s3://models/iris/v3", model_sha256="ab12")
    assert isvc["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "mlcd", "mlcd.io/model-deployment": "iris"}
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["env"] == [{"name": "MLCD_MODEL_SHA256", "value": "ab12"},
                                         {"name": "MLCD_MAX_REQUEST_BYTES", "value": "65536"}]
    assert predictor["model"]["resources"] == {"requests": {"cpu": "250m"}, "limits": {"cpu": "2"}}
    assert (predictor["scaleTarget"], predictor["scaleMetric"]) == (10, "rps")
    plain = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")["spec"]["predictor"]
    assert plain["model"]["env"] == [{"name": "MLCD_MAX_REQUEST_BYTES", "value": str(4 << 20)}]
    assert "scaleTarget" not in plain and "scaleMetric" not in plain


def test_the_owner_and_namespace_come_from_the_object():
    from mlcd.api.v1alpha1 import ModelDeployment

    md = modeldeployment()
    typed = build_inferenceservice(ModelDeployment.model_validate(md), storage_uri="s3://m/iris/v1")
    assert typed["metadata"]["ownerReferences"][0]["uid"] == "0b9c-uid"
    del md["metadata"]["namespace"]
    assert build_inferenceservice(md, storage_uri="s3://m/iris/v1")["metadata"]["namespace"] == "default"


@pytest.mark.parametrize("change", [
    lambda i: i["spec"]["predictor"]["model"].update(modelFormat={"name": "xgboost"}),
    lambda i: i["spec"]["predictor"]["model"].update(runtime="kserve-sklearnserver"),
    lambda i: i["spec"]["predictor"]["model"]["env"][0].update(value="other-digest"),
    lambda i: i["spec"]["predictor"]["model"]["env"][1].update(value="1024"),
    lambda i: i["spec"]["predictor"]["model"].update(env=[]),
    lambda i: i["spec"]["predictor"].update(minReplicas=0),
    lambda i: i["spec"]["predictor"].update(scaleTarget=20),
    lambda i: i["spec"]["predictor"].pop("scaleTarget"),
    lambda i: i["spec"]["predictor"].update(scaleMetric="cpu"),
])
def test_a_difference_in_what_the_server_is_told_is_an_update(change):
    desired = build_inferenceservice(modeldeployment(scaleTarget=10, scaleMetric="rps"),
                                     storage_uri="s3://models/iris/v3", model_sha256="ab12")
    observed = webhook_defaulted(desired)
    assert not needs_update(desired, observed)
    change(observed)
    assert needs_update(desired, observed)


@pytest.mark.parametrize("change", [
    lambda i: i["spec"]["predictor"]["model"].update(storageUri="s3://models/iris/v3/"),
    lambda i: i["spec"]["predictor"]["model"]["env"].append({"name": "KSERVE_ADDED", "value": "1"}),
    lambda i: i["spec"]["predictor"].update(scaleTarget=1, scaleMetric="concurrency"),  # KServe's defaults
])
def test_what_kserve_adds_or_respells_is_no_update(change):
    desired = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3", model_sha256="ab12")
    observed = webhook_defaulted(desired)
    change(observed)
    assert not needs_update(desired, observed)


def test_protocol_v1_is_kserves_default_when_unset():
    desired = build_inferenceservice(modeldeployment(protocolVersion="v1"), storage_uri="s3://models/iris/v3")
    observed = webhook_defaulted(desired)
    del observed["spec"]["predictor"]["model"]["protocolVersion"]
    assert not needs_update(desired, observed)
    v2 = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")
    assert needs_update(v2, observed)


def test_merge_patch_carries_what_mlcd_owns_and_nulls_an_autoscaling_knob_taken_out():
    md = modeldeployment(scaleTarget=10, scaleMetric="rps")
    observed = webhook_defaulted(build_inferenceservice(md, storage_uri="s3://m/iris/v4"))
    desired = build_inferenceservice(modeldeployment(), storage_uri="s3://m/iris/v4")
    patch = merge_patch(desired, observed)
    assert set(patch["metadata"]) == {"labels", "annotations", "ownerReferences"}
    assert (patch["spec"]["predictor"]["scaleTarget"], patch["spec"]["predictor"]["scaleMetric"]) == (None, None)
    assert "canaryTrafficPercent" not in patch["spec"]["predictor"]


def test_the_runtime_named_in_the_modeldeployment_reaches_the_predictor():
    default = build_inferenceservice(modeldeployment(), storage_uri="s3://models/iris/v3")
    assert default["spec"]["predictor"]["model"]["runtime"] == "mlcd-sklearn"  # the chart's runtime
    named = build_inferenceservice(modeldeployment(runtime="team-sklearn-1-5"), storage_uri="s3://models/iris/v3")
    assert named["spec"]["predictor"]["model"]["runtime"] == "team-sklearn-1-5"
