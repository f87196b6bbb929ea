"""spec.tuning: the space validated like params, candidates as scikit-learn draws them, chunks bounded."""

import copy
import json

import pytest
from sklearn.model_selection import ParameterGrid, ParameterSampler

from mlcd.api.v1alpha1.tuning import MAX_PARALLELISM, MAX_TRIALS
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.compiler import compile_trainingrun
from mlcd.compiler import tuning as plan
from mlcd_components import tune
from tests.unit.test_validation import BASE

pytestmark = pytest.mark.usefixtures("cold_compiler")  # each test sees the compiler build

GRID = {"max_depth": {"values": [2, 4, None]}, "min_samples_leaf": {"values": [1, 2, 4, 8]}}


def document(**tuning):
    doc = copy.deepcopy(BASE)
    doc["spec"]["tuning"] = tuning
    return doc


def problems(**tuning) -> dict[str, str]:
    return {p.path: p.message for p in validate_document(document(**tuning)).problems}


def resource(**tuning):
    result = validate_document(document(**tuning))
    assert result.ok, result.problems
    return result.resource


def test_an_unknown_parameter_a_value_sklearn_rejects_and_an_empty_range_are_refused_with_paths():
    found = problems(parameters={
        "max_dept": {"values": [2]},
        "max_depth": {"values": [3, -1]},
        "min_samples_split": {"distribution": "int", "low": 1, "high": 4},
        "max_features": {"distribution": "uniform", "low": 0.8, "high": 0.2},
        "ccp_alpha": {"distribution": "logUniform", "low": 0, "high": 1},
    }, metric="rmse")
    assert found["spec.tuning.parameters.max_dept"] == \
        "not a parameter of RandomForestClassifier; did you mean max_depth?"
    assert found["spec.tuning.parameters.max_depth.values[1]"].startswith(
        "The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf)")
    assert "min_samples_split" in found["spec.tuning.parameters.min_samples_split.low"]
    assert found["spec.tuning.parameters.max_features"] == "the range [0.8, 0.2] is empty"
    assert found["spec.tuning.parameters.ccp_alpha"] == "a logUniform range needs low > 0"
    assert found["spec.tuning.metric"].startswith("'rmse' does not apply to a classifier")


def test_too_many_trials_and_mismatched_searches_are_refused():
    assert problems(parameters={"max_depth": {"values": list(range(1, 9))},
                                "min_samples_leaf": {"values": list(range(1, 9))},
                                "n_estimators": {"values": list(range(1, 9))}}) == {
        "spec.tuning": f"the search has 512 trials, more than {MAX_TRIALS}"}
    assert "spec.tuning.trials" in problems(parameters={"max_depth": {"distribution": "int", "low": 1, "high": 9}},
                                            trials=MAX_TRIALS + 1)
    assert "spec.tuning.parallelism" in problems(parameters=GRID, parallelism=MAX_PARALLELISM + 1)
    assert problems(parameters=GRID, search="random", trials=13) == {
        "spec.tuning": "13 trials drawn from lists of 12 combinations; ask for at most that many, or use a grid"}
    assert problems(parameters={"max_depth": {"distribution": "int", "low": 1, "high": 9}}, search="grid") == {
        "spec.tuning": "a grid needs lists of values; max_depth is a range (use search: random)"}
    assert problems(parameters={"max_depth": {"values": []}})  # an empty list is no candidate


@pytest.mark.parametrize("high", [2**63, 1e300])
def test_an_int_range_numpy_cannot_draw_is_refused_in_validation(high):
    assert problems(parameters={"n_estimators": {"distribution": "int", "low": 1, "high": high}}) == {
        "spec.tuning.parameters.n_estimators": "an int range's ends must lie within ±9,223,372,036,854,775,807 "
                                               "(numpy draws 64-bit integers)"}


def test_the_grid_is_scikit_learns_grid_in_its_order_and_chunks_cover_it_once():
    spec = resource(parameters=GRID, parallelism=5).spec
    chunks = [json.loads(c) for c in plan.chunks(spec.tuning, spec.data.seed)]
    assert [c["chunk"] for c in chunks] == [1, 2, 3, 4, 5]
    trials = [t for c in chunks for t in c["trials"]]
    assert [t["trial"] for t in trials] == list(range(12))
    assert [t["params"] for t in trials] == list(ParameterGrid({k: v["values"] for k, v in GRID.items()}))
    assert sorted(len(c["trials"]) for c in chunks) == [2, 2, 2, 3, 3]


def test_random_candidates_are_scikit_learns_draws_with_the_seed_and_never_more_chunks_than_trials():
    from scipy import stats

    spec = resource(parameters={"max_depth": {"distribution": "int", "low": 2, "high": 8},
                                "max_features": {"distribution": "uniform", "low": 0.2, "high": 0.9},
                                "ccp_alpha": {"distribution": "logUniform", "low": 1e-4, "high": 1e-1},
                                "criterion": {"values": ["gini", "entropy"]}},
                    trials=3, parallelism=8).spec
    drawn = plan.candidates(spec.tuning, 42)
    expected = ParameterSampler({"max_depth": stats.randint(2, 9), "max_features": stats.uniform(0.2, 0.7),
                                 "ccp_alpha": stats.loguniform(1e-4, 1e-1), "criterion": ["gini", "entropy"]},
                                n_iter=3, random_state=42)
    assert drawn == [{k: (v.item() if hasattr(v, "item") else v) for k, v in c.items()} for c in expected]
    assert all(type(c["max_depth"]) is int for c in drawn)
    assert len(plan.chunks(spec.tuning, 42)) == 3


def test_the_metric_defaults_to_the_first_gate_and_the_compiled_loop_is_as_wide_as_parallelism():
    compiled = compile_trainingrun(resource(parameters=GRID, parallelism=3))
    assert compiled.arguments["tuning_metric"] == "accuracy"
    assert len(compiled.arguments["tuning_chunks"]) == 3
    loops = [t for c in compiled.ir["components"].values() for t in c.get("dag", {}).get("tasks", {}).values()
             if "parameterIterator" in t] + [t for t in compiled.ir["root"]["dag"]["tasks"].values()
                                             if "parameterIterator" in t]
    assert [loop["iteratorPolicy"]["parallelismLimit"] for loop in loops] == [3]
    outputs = compiled.ir["root"]["outputDefinitions"]["parameters"]
    assert set(outputs) == {"metrics", "gates", "model_uri", "version", "model_sha256", "tuning"}


def test_the_best_trial_is_the_first_of_the_best_score_and_lower_is_better_metrics_are_minimised():
    rows = [{"trial": 2, "params": {"a": 3}, "mean": 0.9}, {"trial": 0, "params": {"a": 1}, "mean": 0.9},
            {"trial": 1, "params": {"a": 2}, "mean": None, "error": "boom"}]
    assert tune.best(rows, "accuracy")["trial"] == 0
    errors = [{"trial": 0, "params": {}, "mean": 0.5}, {"trial": 1, "params": {}, "mean": 0.2}]
    assert tune.best(errors, "rmse")["trial"] == 1
    assert tune.best(errors, "r2")["trial"] == 0


def test_the_trial_table_has_one_row_per_trial_in_markdown_and_html():
    summary, params = tune.collect(
        [json.dumps([{"trial": 1, "params": {"max_depth": 4}, "mean": 0.95, "std": 0.01, "fitSeconds": 0.2}]),
         json.dumps([{"trial": 0, "params": {"max_depth": 2}, "mean": 0.9, "std": 0.02, "fitSeconds": 0.1}])],
        "accuracy", {"n_estimators": 10, "max_depth": 3})
    assert json.loads(params) == {"n_estimators": 10, "max_depth": 4}
    assert summary["best"] == {"max_depth": 4} and summary["score"] == 0.95
    markdown, page = tune.table(summary)
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert lines[0] == "| trial | max_depth | mean accuracy | std | fit seconds | best |"
    assert lines[1:] == ["| 0 | 2 | 0.9 | 0.02 | 0.1 |  |", "| 1 | 4 | 0.95 | 0.01 | 0.2 | ✔ |"]
    assert page.count("<tr>") == 3


@pytest.mark.parametrize("metric", ["accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc",
                                    "log_loss", "r2", "rmse", "mae"])
def test_every_gate_metric_can_be_optimised(metric):
    assert tune.scorer(metric, 3) is not None


def test_status_carries_the_best_candidate_and_the_number_of_trials():
    from mlcd.reconcile.trainingrun import RunSeen
    from tests.unit.test_trainingrun_plan import drive, in_flight, observe

    rows = [{"trial": i, "params": {"max_depth": i + 1}, "mean": 0.5 + i / 10} for i in range(3)]
    result = {"phase": "Succeeded", "metrics": {"accuracy": 0.9}, "gates": [],
              "model": {"uri": "s3://m/iris/v1", "version": 1},
              "tuning": {"best": {"max_depth": 3}, "score": 0.7, "metric": "accuracy", "trials": rows}}
    step, _ = drive(observe(in_flight()), Poll=RunSeen("SUCCEEDED", True, result=result))
    assert step.status.to_wire()["tuning"] == {"best": {"max_depth": 3}, "score": 0.7, "metric": "accuracy",
                                               "trials": 3}
