"""Every scikit-learn estimator, with and without params: validation answers, never raises (issue 15)."""

import copy

import pytest
import yaml
from sklearn.utils.discovery import all_estimators

from mlcd import catalog, catalog_build
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.cli import main

BASE = {
    "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "meta"},
    "spec": {"data": {"source": "builtin://iris"}, "model": {"estimator": "RandomForestClassifier"}},
}
META = {"ClassifierChain", "FixedThresholdClassifier", "MultiOutputClassifier", "OneVsOneClassifier",
        "OneVsRestClassifier", "OutputCodeClassifier", "StackingClassifier", "TunedThresholdClassifierCV",
        "VotingClassifier", "MultiOutputRegressor", "RegressorChain", "StackingRegressor", "VotingRegressor"}
WRAPPED = {"estimator": "RandomForestClassifier", "estimators": [["rf", "RandomForestClassifier"]]}


def validate(estimator: str, params=None):
    doc = copy.deepcopy(BASE)
    doc["spec"]["model"]["estimator"] = estimator
    if params is not None:
        doc["spec"]["model"]["params"] = params
    return validate_document(doc)


def hostile_params(cls) -> list[dict]:
    """Every parameter of the estimator given values no spec should carry."""
    names = [p.name for p in catalog_build._init_params(cls)]
    return [WRAPPED, dict.fromkeys(names, "x"), dict.fromkeys(names, [1, {"a": None}]), dict.fromkeys(names, -1),
            dict.fromkeys(names, None)]


@pytest.mark.parametrize("name", sorted(META))
@pytest.mark.parametrize("params", [None, WRAPPED], ids=["without-params", "with-params"])
def test_meta_estimators_are_refused_with_a_reason(name, params):
    result = validate(name, params)
    assert [p.path for p in result.problems] == ["spec.model.estimator"]
    assert result.problems[0].message.startswith(f"{name} is a meta-estimator: it needs other estimators as "
                                                 "parameters (estimator")


def test_the_catalog_finds_exactly_the_thirteen_meta_estimators():
    assert {name for name, info in catalog.estimator_catalog().items() if info.is_meta} == META


def test_no_estimator_of_scikit_learn_makes_validation_raise(figures):
    counts = {"valid": 0, "refused": 0}
    trainable = {n for n, info in catalog.estimator_catalog().items() if not info.is_meta}
    for name, cls in all_estimators():
        assert validate(name).ok == (name in trainable), name
        for params in hostile_params(cls):
            result = validate(name, params)  # any exception fails the test here
            assert all(p.path and p.message for p in result.problems), (name, params, result.problems)
            counts["valid" if result.ok else "refused"] += 1
            if catalog.estimator_kind(name) is None:
                assert "is not a scikit-learn classifier or regressor" in result.problems[0].message
    figures(f"{len(all_estimators())} estimators, {len(trainable)} trainable; with hostile params: {counts}")
    assert len(trainable) == len(catalog.estimator_catalog()) - len(META)


def test_mlcd_validate_refuses_a_stacking_classifier_with_params_with_exit_2(tmp_path, capsys):
    """The issue's symptom: a TypeError traceback and exit 1 from the CLI. Now exit 2 and the field's path."""
    doc = copy.deepcopy(BASE)
    doc["spec"]["model"].update(estimator="StackingClassifier",
                                params={"estimators": [["rf", "RandomForestClassifier"]]})
    spec = tmp_path / "stacking.yaml"
    spec.write_text(yaml.safe_dump(doc))
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err == (f"{spec}: spec.model.estimator: StackingClassifier is a meta-estimator: it needs other "
                   "estimators as parameters (estimators), which a spec cannot give; choose an estimator that "
                   "trains on its own\n")
