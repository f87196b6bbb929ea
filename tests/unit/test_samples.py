"""Every sample is accepted by the API server's schema (without losing a field to pruning) and by mlcd."""

import jsonschema
import pytest
import yaml

from mlcd.api.crd import all_crds
from mlcd.api.v1alpha1.validation import validate_document
from tests.kube_checks import ROOT, openapi_to_jsonschema

SAMPLES = sorted((ROOT / "manifests" / "samples").glob("*.yaml"))


def _schemas() -> dict[tuple[str, str], dict]:
    schemas = {}
    for crd in all_crds():
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = openapi_to_jsonschema(version["schema"]["openAPIV3Schema"])
    return schemas


SCHEMAS = _schemas()


def test_there_are_samples_of_every_kind():
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in SAMPLES}
    assert kinds == {kind for _, kind in SCHEMAS}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_matches_crd_schema(path):
    doc = yaml.safe_load(path.read_text())
    schema = SCHEMAS[(doc["apiVersion"], doc["kind"])]
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    assert errors == []


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_passes_mlcd_validation(path):
    result = validate_document(yaml.safe_load(path.read_text()))
    assert [str(p) for p in result.problems] == []


def test_converted_schema_rejects_what_the_api_server_would_prune_or_refuse():
    doc = yaml.safe_load((ROOT / "manifests" / "samples" / "iris-trainingrun.yaml").read_text())
    validator = jsonschema.Draft202012Validator(SCHEMAS[("mlcd.io/v1alpha1", "TrainingRun")])
    doc["spec"]["data"]["testFractoin"] = 0.2
    doc["spec"]["data"]["testFraction"] = 1.0
    messages = sorted(e.message for e in validator.iter_errors(doc))
    assert any("testFractoin" in m for m in messages), messages
    assert any("1.0 is greater than or equal to the maximum" in m for m in messages), messages
