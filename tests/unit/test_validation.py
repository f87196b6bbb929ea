"""Spec validation: every problem at once, each naming its field, nothing imported from a spec."""

import copy
import json
import sys

import pytest

from mlcd.api.v1alpha1.validation import validate_document

BASE = {
    "apiVersion": "mlcd.io/v1alpha1",
    "kind": "TrainingRun",
    "metadata": {"name": "iris"},
    "spec": {
        "data": {"source": "builtin://iris", "target": "target", "testFraction": 0.2, "seed": 42},
        "model": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 10, "max_depth": 3}},
        "gates": [{"metric": "accuracy", "min": 0.9}, {"metric": "accuracy", "vsChampion": {"maxRegression": 0}}],
    },
}


def problems_of(mutate) -> dict[str, str]:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    result = validate_document(doc)
    return {p.path: p.message for p in result.problems}


def test_the_base_document_is_valid_and_defaults_are_filled():
    result = validate_document(copy.deepcopy(BASE))
    assert result.ok, result.problems
    spec = result.resource.spec
    assert spec.data.checks.min_rows == 10
    assert spec.model.preprocessing.impute == "none"
    assert spec.registry.uri is None


def test_unknown_estimator_is_refused_with_a_suggestion():
    found = problems_of(lambda d: d["spec"]["model"].update(estimator="RandomForestClasifier"))
    assert found == {"spec.model.estimator": "'RandomForestClasifier' is not a scikit-learn classifier or "
                                             "regressor; did you mean RandomForestClassifier?"}


def test_a_transformer_is_not_an_estimator_mlcd_trains():
    found = problems_of(lambda d: d["spec"]["model"].update(estimator="StandardScaler"))
    assert "is not a scikit-learn classifier or regressor" in found["spec.model.estimator"]


@pytest.mark.parametrize("path", ["os.system", "sklearn.ensemble.RandomForestClassifier", "mlcd_evil_module",
                                  "__import__('os')"])
def test_an_import_path_is_refused_and_never_imported(path, tmp_path, monkeypatch):
    # A module that would leave a mark if anything imported it.
    marker = tmp_path / "imported"
    (tmp_path / "mlcd_evil_module.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = problems_of(lambda d: d["spec"]["model"].update(estimator=path))
    assert list(found) == ["spec.model.estimator"]
    assert "scikit-learn" in found["spec.model.estimator"]
    assert not marker.exists()
    assert "mlcd_evil_module" not in sys.modules


def test_a_misspelt_parameter_names_the_closest():
    found = problems_of(lambda d: d["spec"]["model"]["params"].update(n_estimatorz=5))
    assert found == {"spec.model.params.n_estimatorz":
                     "not a parameter of RandomForestClassifier; did you mean n_estimators?"}


def test_parameter_values_are_checked_with_scikit_learns_constraints():
    found = problems_of(lambda d: d["spec"]["model"]["params"].update(max_depth=-4, criterion="purity"))
    assert "must be an int in the range [1, inf) or None. Got -4" in found["spec.model.params.max_depth"]
    assert "criterion" in found["spec.model.params.criterion"] and "'purity'" in found["spec.model.params.criterion"]


def test_a_metric_of_the_wrong_kind_is_invalid():
    def regressor(d):
        d["spec"]["model"] = {"estimator": "Ridge"}
    found = problems_of(regressor)
    assert found["spec.gates[0].metric"] == (
        "'accuracy' does not apply to a regressor; expected one of r2, rmse, mae")
    assert "spec.gates[1].metric" in found


@pytest.mark.parametrize("path,value,expected", [
    (("data", "testFraction"), 1.5, "less than 1"),
    (("data", "testFraction"), 0, "greater than 0"),
    (("data", "checks"), {"minRows": 0}, "greater than or equal to 1"),
    (("data", "checks"), {"maxMissingFraction": 2}, "less than or equal to 1"),
    (("data", "seed"), -1, "greater than or equal to 0"),
])
def test_out_of_range_numbers(path, value, expected):
    found = problems_of(lambda d: d["spec"][path[0]].update({path[1]: value}))
    assert any(expected in message for message in found.values()), found


def test_canary_percent_is_0_to_100():
    doc = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
           "spec": {"model": {"uri": "s3://models/iris/v1"}, "rollout": {"canaryTrafficPercent": 150}}}
    result = validate_document(doc)
    assert [str(p) for p in result.problems] == [
        "spec.rollout.canaryTrafficPercent: Input should be less than or equal to 100"]


@pytest.mark.parametrize("uri,expected", [
    ("http://example.com/x.csv", "not a supported URI"),
    ("s3://Bad_Bucket/x.csv", "not a valid S3 bucket name"),
    ("s3://data", "an object key is missing"),
    ("file://relative/x.csv", "absolute path"),
    ("builtin://mnist", "unknown built-in dataset"),
])
def test_malformed_uris(uri, expected):
    found = problems_of(lambda d: d["spec"]["data"].update(source=uri))
    assert expected in found["spec.data.source"]


def test_cron_and_time_zone_must_parse():
    found = problems_of(lambda d: d["spec"].update(retrain={"schedule": "0 3 * *", "timeZone": "Mars/Base"}))
    assert "not a cron schedule" in found["spec.retrain.schedule"]
    assert "not an IANA time zone" in found["spec.retrain.timeZone"]


def test_all_problems_are_reported_at_once():
    def many(d):
        d["spec"]["data"]["testFraction"] = 3
        d["spec"]["model"]["params"]["n_estimatorz"] = 1
        d["spec"]["gates"].append({"metric": "r2", "min": 0.5})
        d["spec"]["registry"] = {"uri": "ftp://x"}
        d["spec"]["colour"] = "blue"
    found = problems_of(many)
    assert set(found) == {"spec.data.testFraction", "spec.model.params.n_estimatorz", "spec.gates[2].metric",
                          "spec.registry.uri", "spec.colour"}
    assert found["spec.colour"] == "unknown field"


def test_a_wrong_kind_is_named():
    result = validate_document({**copy.deepcopy(BASE), "kind": "Deployment"})
    assert [str(p) for p in result.problems] == [
        "kind: 'Deployment' is not an mlcd resource; expected TrainingRun or ModelDeployment"]


def test_a_gate_needs_a_test():
    found = problems_of(lambda d: d["spec"]["gates"].append({"metric": "accuracy"}))
    assert found == {"spec.gates[2]": "a gate needs min, max or vsChampion"}


WIDE = [f"feature_with_a_long_name_{i:05d}" for i in range(4000)]


def test_4000_listed_features_are_refused_as_too_long_for_a_command_line():
    found = problems_of(lambda d: d["spec"]["data"].update(features=WIDE))
    assert found == {"spec.data.features": "4,000 columns listed (133 KiB); KFP passes them to steps on their "
                                           "command line, which holds at most 32 KiB of them: leave "
                                           "spec.data.features empty to use every column but the target"}


def test_4000_one_hot_columns_are_refused_as_too_long_for_a_command_line():
    found = problems_of(lambda d: d["spec"]["model"].update(preprocessing={"oneHot": WIDE}))
    assert found == {"spec.model.preprocessing.oneHot": "4,000 columns listed (133 KiB); KFP passes them to steps "
                                                        "on their command line, which holds at most 32 KiB of "
                                                        "them: one-hot encode fewer columns, or encode them in the "
                                                        "data"}


def test_the_column_lists_share_the_limit_and_a_list_within_it_is_fine():
    from mlcd.api.v1alpha1.validation import MAX_LISTED_COLUMNS_BYTES

    def listed(features, one_hot):
        return lambda d: (d["spec"]["data"].update(features=features),
                          d["spec"]["model"].update(preprocessing={"oneHot": one_hot}))

    # 900 names of 34 bytes each (quotes, comma and space included): 30 KiB alone, 60 KiB twice.
    assert len(json.dumps(WIDE[:900])) <= MAX_LISTED_COLUMNS_BYTES
    assert problems_of(listed(WIDE[:900], [])) == {}
    assert problems_of(listed(WIDE[:900], WIDE[:900])) == {
        "spec.data.features": "900 columns listed (60 KiB with spec.model.preprocessing.oneHot); KFP passes them to "
                              "steps on their command line, which holds at most 32 KiB of them: leave "
                              "spec.data.features empty to use every column but the target"}
