"""The gate step's judgement: bounds are inclusive, and the champion comparison knows which way is better."""

import pytest

from mlcd.storage import open_registry
from mlcd_components.gate import champion_metrics, judge, summary


def one(metrics: dict, gate: dict, champion: dict | None = None) -> dict:
    (result,) = judge(metrics, [gate], champion, "v3")
    return result


@pytest.mark.parametrize(("value", "passed"), [(0.9, True), (0.95, True), (0.8999, False)])
def test_min_is_inclusive_with_no_slack(value, passed):
    result = one({"accuracy": value}, {"metric": "accuracy", "min": 0.9})
    assert result == {"metric": "accuracy", "passed": passed, "value": value, "threshold": 0.9,
                      "message": f"accuracy {value:.4g} {'passes' if passed else 'fails'} >= 0.9"}


@pytest.mark.parametrize(("value", "passed"), [(0.5, True), (0.4, True), (0.5001, False)])
def test_max_is_inclusive_with_no_slack(value, passed):
    result = one({"rmse": value}, {"metric": "rmse", "max": 0.5})
    assert (result["passed"], result["threshold"]) == (passed, 0.5)
    assert result["message"] == f"rmse {value:.4g} {'passes' if passed else 'fails'} <= 0.5"


def test_min_and_max_are_two_results():
    results = judge({"r2": 0.7}, [{"metric": "r2", "min": 0.5, "max": 0.8}], None, "")
    assert [(r["threshold"], r["passed"]) for r in results] == [(0.5, True), (0.8, True)]


def test_a_metric_not_computed_fails_its_gate():
    assert one({"accuracy": 0.9}, {"metric": "roc_auc", "min": 0.5}) == {
        "metric": "roc_auc", "passed": False, "message": "roc_auc was not computed for this model"}


@pytest.mark.parametrize(("value", "passed"), [(0.88, True), (0.90, True), (0.879, False)])
def test_higher_is_better_against_the_champion(value, passed):
    result = one({"accuracy": value}, {"metric": "accuracy", "vsChampion": {"maxRegression": 0.02}},
                 {"accuracy": 0.9})
    assert (result["passed"], result["threshold"], result["value"]) == (passed, 0.88, value)
    assert result["message"] == (f"accuracy {value:.4g} {'passes' if passed else 'fails'} against champion v3 "
                                 f"(0.9, max regression 0.02)")


@pytest.mark.parametrize("metric", ["rmse", "mae", "log_loss"])
@pytest.mark.parametrize(("value", "passed"), [(0.30, True), (0.32, True), (0.20, True), (0.321, False)])
def test_lower_is_better_against_the_champion(metric, value, passed):
    # For an error metric a larger value is worse: the champion's 0.30 plus 0.02 of regression is the limit.
    result = one({metric: value}, {"metric": metric, "vsChampion": {"maxRegression": 0.02}}, {metric: 0.30})
    assert (result["passed"], result["threshold"]) == (passed, 0.32)


def test_lower_is_better_with_no_regression_allowed():
    worse = one({"rmse": 0.31}, {"metric": "rmse", "vsChampion": {}}, {"rmse": 0.30})
    better = one({"rmse": 0.29}, {"metric": "rmse", "vsChampion": {}}, {"rmse": 0.30})
    assert (worse["passed"], better["passed"]) == (False, True)
    assert worse["threshold"] == better["threshold"] == 0.3


def test_no_champion_passes_and_says_so():
    for champion in (None, {"f1_macro": 0.9}):
        result = one({"accuracy": 0.5}, {"metric": "accuracy", "vsChampion": {}}, champion)
        assert result == {"metric": "accuracy", "passed": True, "value": 0.5,
                          "message": "no champion with accuracy yet: the gate passes"}


def test_threshold_is_rounded_to_six_places():
    result = one({"accuracy": 0.5}, {"metric": "accuracy", "vsChampion": {"maxRegression": 0.1}},
                 {"accuracy": 0.7})
    assert result["threshold"] == 0.6


def test_every_test_of_every_gate_is_judged_in_order():
    results = judge({"accuracy": 0.9, "log_loss": 0.4},
                    [{"metric": "accuracy", "min": 0.8, "vsChampion": {}}, {"metric": "log_loss", "max": 0.3}],
                    {"accuracy": 0.95}, "v1")
    assert [(r["metric"], r["passed"]) for r in results] == [("accuracy", True), ("accuracy", False),
                                                             ("log_loss", False)]


def test_summary_tables_gates_and_metrics():
    results = judge({"accuracy": 0.91234}, [{"metric": "accuracy", "min": 0.95}], None, "")
    assert summary({"accuracy": 0.91234}, results) == (
        "## Gates\n\n| metric | value | threshold | result |\n|---|---|---|---|\n"
        "| accuracy | 0.91234 | 0.95 | **FAIL**: accuracy 0.9123 fails >= 0.95 |\n\n"
        "## Metrics\n\n| metric | value |\n|---|---|\n| accuracy | 0.9123 |\n")
    passed = judge({"r2": 0.5}, [{"metric": "r2", "vsChampion": {}}], None, "")
    assert "| r2 | 0.5 |  | pass: no champion with r2 yet: the gate passes |" in summary({"r2": 0.5}, passed)


def test_threshold_keeps_six_decimals_not_seven():
    result = one({"accuracy": 0.2}, {"metric": "accuracy", "vsChampion": {}}, {"accuracy": 0.1234567})
    assert result["threshold"] == 0.123457


def test_a_missing_metric_does_not_stop_the_gates_after_it():
    results = judge({"accuracy": 0.9}, [{"metric": "roc_auc", "min": 0.5}, {"metric": "accuracy", "min": 0.95}],
                    None, "")
    assert [(r["metric"], r["passed"]) for r in results] == [("roc_auc", False), ("accuracy", False)]


def test_summary_leaves_the_value_of_an_uncomputed_metric_empty():
    results = judge({}, [{"metric": "f1_macro", "min": 0.5}], None, "")
    assert "| f1_macro |  |  | **FAIL**: f1_macro was not computed for this model |" in summary({}, results)


def registry_with(tmp_path, metrics: list[dict | None], champion: int | None) -> str:
    """A file registry holding one version per entry of ``metrics`` (None: its metadata has no metrics)."""
    uri = (tmp_path / "registry").as_uri()
    registry = open_registry(uri)
    model = tmp_path / "model.joblib"
    model.write_bytes(b"a model")
    for entry in metrics:
        registry.register(model, {} if entry is None else {"metrics": entry})
    if champion is not None:
        registry.set_champion(champion, "test")
    return uri


def test_champion_metrics_are_those_of_the_version_serving(tmp_path):
    uri = registry_with(tmp_path, [{"accuracy": 0.8}, {"accuracy": 0.9, "f1_macro": 0.85}, {"accuracy": 0.7}],
                        champion=2)
    assert champion_metrics(uri) == ({"accuracy": 0.9, "f1_macro": 0.85}, "v2")


def test_no_champion_yet_is_none_and_no_name(tmp_path):
    assert champion_metrics(registry_with(tmp_path, [{"accuracy": 0.8}], champion=None)) == (None, "")


def test_a_champion_registered_without_metrics_has_none_to_compare(tmp_path):
    uri = registry_with(tmp_path, [{"accuracy": 0.8}, None], champion=2)
    metrics, name = champion_metrics(uri)
    assert (metrics, name) == ({}, "v2")
    # and so a vsChampion gate passes, saying why
    assert one({"accuracy": 0.5}, {"metric": "accuracy", "vsChampion": {}}, metrics)["message"] == (
        "no champion with accuracy yet: the gate passes")
