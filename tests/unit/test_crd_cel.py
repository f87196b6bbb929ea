"""The rules the models enforce reach the CRDs as CEL, so the API server refuses them at `kubectl apply`.

Each rule is evaluated by cel-python over ``self``, typed by the schema, after the API server's pruning
and defaulting (tests/k8s/schema.py, tests/k8s/cel.py); every rule in the CRDs has a case here that it
accepts and one that it refuses, and the pydantic models refuse the same document.
"""

import copy

import pytest
from pydantic import ValidationError

from mlcd.api.crd import all_crds
from mlcd.api.v1alpha1.tuning import MAX_PARAMETERS, TuningSpec
from mlcd.api.v1alpha1.validation import validate_document
from tests.k8s import schema

TRAININGRUN = {
    "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "iris"},
    "spec": {"data": {"source": "builtin://iris"}, "model": {"estimator": "RandomForestClassifier"},
             "gates": [{"metric": "accuracy", "min": 0.8, "max": 1}]},
}
MODELDEPLOYMENT = {
    "apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
    "spec": {"model": {"uri": "s3://models/iris/v3"}, "serving": {"minReplicas": 1, "maxReplicas": 3}},
}
DOCS = {"TrainingRun": TRAININGRUN, "ModelDeployment": MODELDEPLOYMENT}
ROOTS = {crd["spec"]["names"]["kind"]: crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] for crd in all_crds()}


def _with(kind: str, path: str, value) -> dict:
    doc = copy.deepcopy(DOCS[kind])
    node = doc
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


def admitted(doc: dict) -> list[dict]:
    _, causes = schema.admit(doc, ROOTS[doc["kind"]])
    return causes


# (kind, where the rule sits, its message) -> (the field set, a value it accepts, one it refuses, field refused)
CASES = {
    ("TrainingRun", "spec.gates[]", "min must not be above max"):
        ("spec.gates", [{"metric": "accuracy", "min": 0.5, "max": 0.5}],
         [{"metric": "accuracy", "min": 0.9, "max": 0.5}], "spec.gates[0].min"),
    ("TrainingRun", "spec.gates[]", "a gate needs min, max or vsChampion"):
        ("spec.gates", [{"metric": "accuracy", "vsChampion": {}}], [{"metric": "accuracy"}], "spec.gates[0]"),
    ("TrainingRun", "spec.data.source", "must be a builtin://, file:// or s3:// URI"):
        ("spec.data.source", "s3://data/iris.csv", "https://example.com/iris.csv", "spec.data.source"),
    ("TrainingRun", "spec.registry.uri", "must be a file:// or s3:// URI"):
        ("spec.registry.uri", "file:///tmp/registry", "gs://models/iris", "spec.registry.uri"),
    ("TrainingRun", "spec.retrain.drift.current", "must be a file:// or s3:// URI"):
        ("spec.retrain", {"drift": {"current": "s3://data/today.csv"}},
         {"drift": {"current": "builtin://iris"}}, "spec.retrain.drift.current"),
    ("TrainingRun", "spec.retrain.schedule", "must be a cron schedule of five fields (minute hour day month weekday)"):
        ("spec.retrain", {"schedule": "0 3 * * 1-5"}, {"schedule": "0 3 * *"}, "spec.retrain.schedule"),
    ("TrainingRun", "spec.deploy.modelDeployment",
     "must be a Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit"):
        ("spec.deploy", {"modelDeployment": "iris-prod"}, {"modelDeployment": "Iris_Prod"},
         "spec.deploy.modelDeployment"),
    ("TrainingRun", "spec.serviceAccountName",
     "must be a Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit"):
        ("spec.serviceAccountName", "pipeline-runner", "Pipeline.Runner", "spec.serviceAccountName"),
    ("TrainingRun", "spec.tolerations[]", "a toleration without a key needs operator Exists"):
        ("spec.tolerations", [{"operator": "Exists"}], [{"operator": "Equal", "value": "x"}],
         "spec.tolerations[0]"),
    ("TrainingRun", "spec.tolerations[]", "a toleration with operator Exists takes no value"):
        ("spec.tolerations", [{"key": "gpu", "operator": "Exists"}], [{"key": "gpu", "operator": "Exists",
                                                                       "value": "x"}], "spec.tolerations[0].value"),
    ("TrainingRun", "spec.tolerations[]", "tolerationSeconds applies to effect NoExecute only"):
        ("spec.tolerations", [{"key": "gpu", "effect": "NoExecute", "tolerationSeconds": 30, "value": "a"}],
         [{"key": "gpu", "effect": "NoSchedule", "tolerationSeconds": 30, "value": "a"}],
         "spec.tolerations[0].tolerationSeconds"),
    ("TrainingRun", "spec.tuning", "a grid needs lists of values"):
        ("spec.tuning", {"parameters": {"max_depth": {"values": [2, 4]}}, "search": "grid"},
         {"parameters": {"max_depth": {"distribution": "int", "low": 2, "high": 4}}, "search": "grid"},
         "spec.tuning.search"),
    ("TrainingRun", "spec.tuning", "trials applies to a random search; a grid tries every combination"):
        ("spec.tuning", {"parameters": {"max_depth": {"distribution": "int", "low": 2, "high": 4}}, "trials": 3},
         {"parameters": {"max_depth": {"values": [2, 4]}}, "trials": 2}, "spec.tuning.trials"),
    ("TrainingRun", "spec.tuning.parameters{}", "give either values or a distribution with low and high"):
        ("spec.tuning", {"parameters": {"max_depth": {"values": [2, 4]}}},
         {"parameters": {"max_depth": {"low": 2, "high": 4}}}, "spec.tuning.parameters.max_depth"),
    ("TrainingRun", "spec.tuning.parameters{}", "a range needs low and high, low not above high"):
        ("spec.tuning", {"parameters": {"max_depth": {"distribution": "int", "low": 4, "high": 4}}},
         {"parameters": {"max_depth": {"distribution": "int", "low": 4}}}, "spec.tuning.parameters.max_depth"),
    ("TrainingRun", "spec.tuning.parameters{}", "low and high belong to a distribution, not to values"):
        ("spec.tuning", {"parameters": {"max_depth": {"values": [2, 4]}}},
         {"parameters": {"max_depth": {"values": [2, 4], "low": 2}}}, "spec.tuning.parameters.max_depth"),
    ("TrainingRun", "spec.tuning.parameters{}", "a uniform or logUniform range needs low below high"):
        ("spec.tuning", {"parameters": {"max_features": {"distribution": "uniform", "low": 0.2, "high": 0.8}}},
         {"parameters": {"max_features": {"distribution": "uniform", "low": 0.5, "high": 0.5}}},
         "spec.tuning.parameters.max_features"),
    ("TrainingRun", "spec.tuning.parameters{}", "a logUniform range needs low > 0"):
        ("spec.tuning", {"parameters": {"ccp_alpha": {"distribution": "logUniform", "low": 0.001, "high": 0.1}}},
         {"parameters": {"ccp_alpha": {"distribution": "logUniform", "low": 0, "high": 0.1}}},
         "spec.tuning.parameters.ccp_alpha.low"),
    ("TrainingRun", "spec.tuning.parameters{}", "an int range has whole-number ends"):
        ("spec.tuning", {"parameters": {"max_depth": {"distribution": "int", "low": 2, "high": 8.0}}},
         {"parameters": {"max_depth": {"distribution": "int", "low": 2, "high": 8.5}}},
         "spec.tuning.parameters.max_depth"),
    ("TrainingRun", "spec.tuning.parameters{}",
     "an int range's ends must lie within ±9,223,372,036,854,775,807 (numpy draws 64-bit integers)"):
        ("spec.tuning", {"parameters": {"n_estimators": {"distribution": "int", "low": 10, "high": 9.2e18}}},
         {"parameters": {"n_estimators": {"distribution": "int", "low": 10, "high": 2.0 ** 63}}},
         "spec.tuning.parameters.n_estimators"),
    ("TrainingRun", "spec.resources.train.requests",
     "only cpu and memory are requested; an accelerator goes under limits"):
        ("spec.resources", {"train": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
         {"train": {"requests": {"cpu": "500m", "nvidia.com/gpu": "1"}}}, "spec.resources.train.requests"),
    ("TrainingRun", "spec.resources.steps.limits", "one accelerator per step"):
        ("spec.resources", {"steps": {"limits": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}}},
         {"steps": {"limits": {"cpu": "1", "nvidia.com/gpu": "1", "amd.com/gpu": "1"}}},
         "spec.resources.steps.limits"),
    ("ModelDeployment", "spec.serving", "minReplicas must not be above maxReplicas"):
        ("spec.serving", {"minReplicas": 3, "maxReplicas": 3}, {"minReplicas": 4, "maxReplicas": 3},
         "spec.serving.minReplicas"),
    ("ModelDeployment", "spec.serving.serviceAccountName",
     "must be a Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit"):
        ("spec.serving", {"serviceAccountName": "s3-reader"}, {"serviceAccountName": "-s3"},
         "spec.serving.serviceAccountName"),
    ("ModelDeployment", "spec.model.uri", "must be a file://, s3://, gs://, pvc:// or https:// URI"):
        ("spec.model.uri", "gs://models/iris/v3", "ftp://models/iris/v3", "spec.model.uri"),
}


def _rules(node: dict, path: str):
    for rule in node.get("x-kubernetes-validations") or []:
        yield path, rule
    for name, child in (node.get("properties") or {}).items():
        yield from _rules(child, f"{path}.{name}" if path else name)
    if isinstance(node.get("items"), dict):
        yield from _rules(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _rules(node["additionalProperties"], f"{path}{{}}")


def test_every_rule_in_the_crds_has_a_case():
    # A rule is covered once: a new field of a type that already has its rule (a URI, a name) needs no case.
    placed = {(kind, path, rule["message"]): rule["rule"] for kind, root in ROOTS.items()
              for path, rule in _rules(root, "")}
    assert set(CASES) - set(placed) == set(), "a case for a rule the CRDs no longer have at that place"
    uncovered = {key for key, rule in placed.items() if rule not in {placed[case] for case in CASES}}
    assert uncovered == set(), "a CRD rule without a test case here: add one to CASES"


@pytest.mark.parametrize("key", CASES, ids=lambda k: f"{k[0]}:{k[1]}:{k[2][:30]}")
def test_rule_accepts_the_valid_and_refuses_the_invalid(key):
    kind, _, message = key
    field, good, bad, refused_at = CASES[key]
    assert admitted(_with(kind, field, good)) == []
    assert validate_document(_with(kind, field, good)).ok
    causes = admitted(_with(kind, field, bad))
    assert [(c["field"], c["reason"]) for c in causes] == [(refused_at, "FieldValueInvalid")]
    assert causes[0]["message"].endswith(f": {message}")
    assert not validate_document(_with(kind, field, bad)).ok


def test_a_search_dimension_is_values_or_a_range_with_its_ends():
    def dimension(value) -> dict:
        return _with("TrainingRun", "spec.tuning", {"parameters": {"max_depth": value}})

    assert admitted(dimension({"values": [2]})) == []
    assert admitted(dimension({"distribution": "int", "low": 2, "high": 4})) == []
    refused = {"give either values or a distribution with low and high":
               [{"values": [2], "distribution": "int", "low": 1, "high": 2}, {"low": 1}],
               "a range needs low and high, low not above high":
               [{"distribution": "int", "low": 5, "high": 4}, {"distribution": "uniform", "low": 1}]}
    for message, values in refused.items():
        for value in values:
            causes = admitted(dimension(value))
            assert [(c["field"], c["message"]) for c in causes] == [
                ("spec.tuning.parameters.max_depth", f"Invalid value: {message}")], value
            assert not validate_document(dimension(value)).ok


def test_a_search_space_is_bounded_so_its_rules_fit_the_cost_budget():
    # The API server costs a rule under a map once per entry the map may hold; unbounded, that is about a
    # million SearchDimensions in a 3 MiB request, and a rule dearer than 9 would exceed its 10 million budget.
    assert ROOTS["TrainingRun"]["properties"]["spec"]["properties"]["tuning"]["properties"]["parameters"][
        "maxProperties"] == MAX_PARAMETERS
    space = {f"p{i}": {"values": [1]} for i in range(MAX_PARAMETERS + 1)}
    causes = admitted(_with("TrainingRun", "spec.tuning", {"parameters": space}))
    assert [c["field"] for c in causes] == ["spec.tuning.parameters"]
    with pytest.raises(ValidationError, match=f"at most {MAX_PARAMETERS} items"):
        TuningSpec.model_validate({"parameters": space})


def test_min_above_max_is_refused_by_the_crd_rule():
    doc = _with("TrainingRun", "spec.gates", [{"metric": "accuracy", "min": 0.9, "max": 0.5}])
    assert admitted(doc) == [{"reason": "FieldValueInvalid", "field": "spec.gates[0].min",
                              "message": "Invalid value: min must not be above max"}]


def test_gate_bounds_are_numbers_even_when_written_as_integers():
    # The schema types min and max as number: CEL sees doubles (1 and 0.5), as on the API server.
    assert admitted(_with("TrainingRun", "spec.gates", [{"metric": "r2", "min": 0.5, "max": 1}])) == []
    assert admitted(_with("TrainingRun", "spec.gates", [{"metric": "r2", "min": 1, "max": 0.5}]))[0]["field"] \
        == "spec.gates[0].min"


def test_replica_rule_sees_the_defaults():
    # Defaults are applied before the rules run: maxReplicas 3 applies to a spec that gives only minReplicas.
    causes = admitted(_with("ModelDeployment", "spec.serving", {"minReplicas": 5}))
    assert [c["field"] for c in causes] == ["spec.serving.minReplicas"]
    assert admitted(_with("ModelDeployment", "spec.serving", {"minReplicas": 2})) == []


def test_rules_are_skipped_when_the_schema_already_refused_the_shape():
    doc = _with("TrainingRun", "spec.gates", [{"metric": "accuracy", "min": "high", "max": 0.5}])
    causes = admitted(doc)
    assert [c["reason"] for c in causes] == ["FieldValueTypeInvalid", "FieldValueInvalid"]
    assert causes[1]["field"] == "<nil>" and "some validation rules were not checked" in causes[1]["message"]
