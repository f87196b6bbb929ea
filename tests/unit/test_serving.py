"""`mlcd serve` without a server: the signature checks, the predictor's paths, the version rule."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlcd.serving import InputError, Signature, sklearn_problem
from mlcd.serving.predictor import Predictor
from mlcd_components import train

NUMERIC = Signature.from_metadata({"signature": {"features": [{"name": "a", "dtype": "float64"},
                                                              {"name": "b", "dtype": "int64"}]}})
MIXED = Signature.from_metadata({"signature": {"features": [{"name": "size", "dtype": "float64"},
                                                            {"name": "colour", "dtype": "object"}]}})


def tensor(name, shape, data, datatype="FP64"):
    return SimpleNamespace(name=name, shape=shape, data=data, datatype=datatype)


def test_v1_rows_in_order_or_by_name():
    assert NUMERIC.rows_from_v1({"instances": [[1.5, 2], [3, None]]})[1][0] == 3
    assert np.isnan(NUMERIC.rows_from_v1({"instances": [[3, None]]})[0][1])
    assert NUMERIC.rows_from_v1({"instances": [{"b": 2, "a": 1.5}]}) == [[1.5, 2]]
    assert MIXED.rows_from_v1({"instances": [[1.0, "red"]]}) == [[1.0, "red"]]


@pytest.mark.parametrize(("payload", "says"), [
    ({"instances": [[1.0]]}, "instance 0 has 1 values; expected 2 features in this order: 'a' (float64), 'b'"),
    ({"instances": [{"a": 1, "c": 2}]}, "unknown features ['c']; missing features ['b']"),
    ({"instances": [[1.0, "2"]]}, "feature 'b': expected a number, got '2'"),
    ({"instances": ["1,2"]}, "instance 0 has a str"),
    ({"instances": {"a": 1}}, '{"instances": [[...], ...]}'),
    ("[[1, 2]]", '{"instances": [[...], ...]}'),
])
def test_v1_mistakes_name_the_features(payload, says):
    with pytest.raises(InputError, match=None) as caught:
        NUMERIC.rows_from_v1(payload)
    assert says in str(caught.value)


def test_text_features_need_text():
    with pytest.raises(InputError, match="feature 'colour': expected text"):
        MIXED.rows_from_v1({"instances": [[1.0, 3]]})


def test_v2_one_tensor_nested_or_flat_and_one_input_per_feature():
    assert NUMERIC.rows_from_v2([tensor("x", [2, 2], [1, 2, 3, 4])]) == [[1, 2], [3, 4]]
    assert NUMERIC.rows_from_v2([tensor("x", [2, 2], [[1, 2], [3, 4]], "INT64")]) == [[1, 2], [3, 4]]
    named = [tensor("b", [2], [2, 4], "INT32"), tensor("a", [2, 1], [[1.0], [3.0]])]
    assert NUMERIC.rows_from_v2(named) == [[1.0, 2], [3.0, 4]]
    mixed = [tensor("size", [1], [1.0]), tensor("colour", [1], ["red"], "BYTES")]
    assert MIXED.rows_from_v2(mixed) == [[1.0, "red"]]


@pytest.mark.parametrize(("inputs", "says"), [
    ([], "no inputs"),
    ([tensor("x", [4], [1, 2, 3, 4])], "shape [4]; expected [N, 2]"),
    ([tensor("x", [1, 2], [1])], "needs 2 values, got 1"),
    ([tensor("x", [1, 2], None)], "has no data list"),
    ([tensor("x", [1, 2], ["a", "b"], "BYTES")], "datatype BYTES"),
    ([tensor("a", [1], [1]), tensor("c", [1], [2])], "unknown ['c'], missing ['b']"),
    ([tensor("a", [1], [1]), tensor("b", [2], [2, 3])], "different numbers of rows"),
    ([tensor("a", [1, 2], [1, 2]), tensor("b", [1], [2])], "input 'a' has shape [1, 2]; expected [N] or [N, 1]"),
])
def test_v2_mistakes(inputs, says):
    with pytest.raises(InputError) as caught:
        NUMERIC.rows_from_v2(inputs)
    assert says in str(caught.value)


def test_a_signature_is_required():
    with pytest.raises(ValueError, match="no input signature"):
        Signature.from_metadata({})


@pytest.fixture(scope="module")
def iris():
    frame = load_iris(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    signature = Signature.from_metadata({"signature": {"features": [{"name": n, "dtype": "float64"}
                                                                    for n in features]}})
    return frame, features, signature


@pytest.mark.parametrize("by_name", [False, True], ids=["fitted-on-array", "fitted-on-dataframe"])
@pytest.mark.parametrize("preprocessing", [{}, {"scale": True, "impute": "mean"}])
def test_predictor_paths_agree_with_the_pipeline(iris, preprocessing, by_name):
    frame, features, signature = iris
    model = train.build_pipeline("RandomForestClassifier", {"n_estimators": 5}, preprocessing, features, seed=1)
    if by_name:  # how models were fitted before the train step moved to arrays; old versions stay servable
        model.set_params(preprocess__transformers=[(n, t, [features[i] for i in c])
                                                   for n, t, c in model[0].transformers])
        model.fit(frame[features], frame["target"])
    else:
        model.fit(train.as_array(frame[features]), frame["target"])
    predictor = Predictor(model, signature)
    assert (predictor._direct is not None) == (not preprocessing)
    rows = frame[features].head(20).to_numpy().tolist()
    given = pd.DataFrame(rows, columns=features) if by_name else np.asarray(rows)
    assert predictor.predict(rows).tolist() == model.predict(given).tolist()


def test_predictor_turns_model_value_errors_into_input_errors(iris):
    frame, features, signature = iris
    model = train.build_pipeline("RandomForestClassifier", {"n_estimators": 2}, {}, features, seed=1)
    model.fit(train.as_array(frame[features]), frame["target"])
    with pytest.raises(InputError, match="cannot predict on these values"):
        Predictor(model, signature).predict([[float("nan"), float("inf"), 1.0, 1.0]])


class _Recording:
    """A model that records the warning filters it predicts under, and warns."""

    def predict(self, rows):
        import warnings

        self.filters = list(warnings.filters)
        warnings.warn("seen by whoever serves me", UserWarning, stacklevel=1)
        return np.zeros(len(rows))


def test_predictions_run_under_one_warning_filter_and_the_process_keeps_its_own(iris):
    # scikit-learn's joblib wrapper re-installs every filter around each tree: the fewer, the faster.
    import warnings

    _, _, signature = iris
    model = _Recording()
    with warnings.catch_warnings():
        for index in range(20):
            warnings.filterwarnings("ignore", message=f"library noise {index}")
        before = list(warnings.filters)
        with pytest.warns(UserWarning, match="seen by whoever serves me"):  # still shown
            assert Predictor(model, signature).predict([[1.0, 2.0, 3.0, 4.0]]).tolist() == [0.0]
        assert [f[0] for f in model.filters] == ["default"]
        assert warnings.filters == before


@pytest.mark.parametrize(("recorded", "installed", "refused"), [
    ("1.9.1", "1.9.1", False), ("1.6.0", "1.9.1", False), ("1.9.3", "1.9.0", False),
    ("1.10.0", "1.9.1", True), ("2.0.0", "1.9.1", True), ("0.24.2", "1.9.1", True), (None, "1.9.1", False),
    ("not-a-version", "1.9.1", True),
])
def test_scikit_learn_version_rule(recorded, installed, refused):
    problem = sklearn_problem(recorded, installed)
    assert (problem is not None) is refused
    if refused and recorded != "not-a-version":
        assert recorded in problem and installed in problem


def test_predictor_with_a_text_feature():
    frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0] * 5, "colour": ["red", "blue", "red", "green"] * 5,
                          "target": [0, 1, 0, 1] * 5})
    model = train.build_pipeline("LogisticRegression", {}, {"oneHot": ["colour"]}, ["size", "colour"], seed=1)
    model.fit(train.as_array(frame[["size", "colour"]]), frame["target"])
    predictor = Predictor(model, MIXED)
    rows = MIXED.rows_from_v1({"instances": [[1.0, "red"], [2.0, "blue"], [2.5, "purple"]]})
    assert predictor.predict(rows).tolist() == model.predict(np.asarray(rows, dtype=object)).tolist()
