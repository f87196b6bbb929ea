"""Data edge cases (issue 15): each refused with its own message naming the column or the problem."""

import copy

import numpy as np
import pandas as pd
import pytest

from mlcd.api.v1alpha1.validation import validate_document
from mlcd_components import check_data, evaluate, train
from mlcd_components.progress import StepError

BASE = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "edge"},
        "spec": {"data": {"source": "file:///data/edge.csv", "target": "label", "features": ["a", "b"]},
                 "model": {"estimator": "LogisticRegression"}}}


def problems(features=None, one_hot=None) -> list[str]:
    doc = copy.deepcopy(BASE)
    if features is not None:
        doc["spec"]["data"]["features"] = features
    if one_hot is not None:
        doc["spec"]["model"]["preprocessing"] = {"oneHot": one_hot}
    return [str(p) for p in validate_document(doc).problems]


def test_a_feature_listed_twice():
    assert problems(["a", "b", "a"]) == ["spec.data.features[2]: 'a' is listed twice"]


def test_a_feature_that_is_the_target():
    assert problems(["a", "label"]) == [
        "spec.data.features[1]: 'label' is the target (spec.data.target); a model cannot take its label as a feature"]


def test_a_one_hot_column_that_is_not_a_feature():
    assert problems(one_hot=["colour"]) == ["spec.model.preprocessing.oneHot[0]: 'colour' is not one of "
                                            "spec.data.features"]


def test_a_one_hot_column_that_is_not_in_the_data():
    with pytest.raises(StepError, match=r"^spec.model.preprocessing.oneHot: \['colour'\] not among the features "
                                        r"the model is trained on \(2 columns\)$"):
        train.build_pipeline("LogisticRegression", {}, {"oneHot": ["colour"]}, ["a", "b"], 0)


def frame(labels) -> pd.DataFrame:
    return pd.DataFrame({"a": np.arange(len(labels), dtype=float), "b": 1.0, "label": labels})


def test_nan_labels():
    with pytest.raises(StepError, match=r"^spec.data.target: column 'label' has 2 rows without a label \(NaN\)"):
        check_data.check(frame([0, 1, None, 1, None, 0]), "label", ["a", "b"], {"minRows": 1,
                                                                               "maxMissingFraction": 0.5})


def test_one_row_per_class(tmp_path):
    data = tmp_path / "data.parquet"
    frame(["x", "y", "z"]).to_parquet(data)
    out = {n: str(tmp_path / n) for n in ("train", "test", "report", "reference", "signature")}
    with pytest.raises(StepError, match=r"^spec.data.target: each of the 3 classes of 'label' has a single row"):
        check_data.run(str(data), "label", [], {"minRows": 1}, 0.34, 0, True, out["train"], out["test"],
                       out["report"], out["reference"], out["signature"])


def test_a_metric_undefined_on_a_tiny_test_split(tmp_path):
    import joblib
    from sklearn.linear_model import LinearRegression

    rows = frame([1.0, 2.0, 3.0, 4.0])
    model = tmp_path / "model.joblib"
    joblib.dump(LinearRegression().fit(rows[["a", "b"]].to_numpy(), rows["label"]), model)
    test = tmp_path / "test.parquet"
    rows.head(1).to_parquet(test)
    with pytest.warns(UserWarning, match="R\\^2 score is not well-defined"), \
            pytest.raises(StepError, match=r"^spec.data.testFraction: r2 cannot be computed on 1 test rows; hold out "
                                           r"more rows or use more data$"):
        evaluate.run(str(model), str(test), "label", "regressor")


@pytest.mark.parametrize("preprocessing", [{}, {"scale": True}, {"impute": "mean"}])
def test_training_past_a_passthrough_step_gives_the_pipeline_fit_would(preprocessing):
    # train.fit skips the copy a passthrough ColumnTransformer makes; the model must be the one Pipeline.fit makes.
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    x, y = train.as_array(frame[features]), frame["target"].to_numpy()
    ours = train.build_pipeline("RandomForestClassifier", {"n_estimators": 7}, preprocessing, features, seed=3)
    theirs = train.build_pipeline("RandomForestClassifier", {"n_estimators": 7}, preprocessing, features, seed=3)
    assert train.passes_everything_through(ours, len(features)) is (not preprocessing)
    train.fit(ours, x, y)
    theirs.fit(x, y)
    assert ours[0].n_features_in_ == theirs[0].n_features_in_ == len(features)
    assert (ours.predict_proba(x) == theirs.predict_proba(x)).all()
    assert (ours[0].transform(x[:5]) == theirs[0].transform(x[:5])).all()
