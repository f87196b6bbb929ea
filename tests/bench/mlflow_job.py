"""The job of `mlcd run` on iris done with MLflow: the comparison bench_foundation.py times.

    .bench-venv-mlflow/bin/python tests/bench/mlflow_job.py STORE_DIR

It runs in MLflow's own venv (MLflow must not share mlcd's dependencies), so it imports nothing
from mlcd. The same steps as mlcd's pipeline and tests/bench/bare_iris.py: iris, the same checks,
stratified split with seed 42, the same RandomForestClassifier, the same metrics; then what MLflow
adds: a run in a sqlite tracking store under STORE_DIR with the params and metrics, and the model
logged with its input signature (mlcd records one too) and registered as a model version, which
is what mlcd's registry step does. Whole-process time is the figure, so imports stay at the top.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn import metrics
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

SEED = 42
PARAMS = {"n_estimators": 100, "max_depth": 4}


def scores(model, features, labels) -> dict:
    predicted = model.predict(features)
    proba = model.predict_proba(features)
    found = {
        "accuracy": metrics.accuracy_score(labels, predicted),
        "f1_macro": metrics.f1_score(labels, predicted, average="macro", zero_division=0),
        "precision_macro": metrics.precision_score(labels, predicted, average="macro", zero_division=0),
        "recall_macro": metrics.recall_score(labels, predicted, average="macro", zero_division=0),
        "log_loss": metrics.log_loss(labels, proba, labels=list(model.classes_)),
        "roc_auc": metrics.roc_auc_score(labels, proba, multi_class="ovr", labels=list(model.classes_)),
    }
    return {name: round(float(value), 6) for name, value in found.items()}


def main(store: Path) -> None:
    frame = load_iris(as_frame=True).frame
    if len(frame) < 50 or frame.isna().mean().max() > 0.0 or frame["target"].nunique() < 2:
        raise SystemExit("the data fails its checks")
    features = [c for c in frame.columns if c != "target"]
    train, test = train_test_split(frame, test_size=0.2, random_state=SEED, stratify=frame["target"])
    x_train = train[features].to_numpy(dtype=float)
    model = RandomForestClassifier(**PARAMS, random_state=SEED).fit(x_train, train["target"].to_numpy())
    found = scores(model, test[features].to_numpy(dtype=float), test["target"].to_numpy())
    store.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    # Artifacts next to the store, not in ./mlruns of whatever directory the bench runs from.
    if mlflow.get_experiment_by_name("iris") is None:
        mlflow.create_experiment("iris", artifact_location=(store / "artifacts").as_uri())
    mlflow.set_experiment("iris")
    with mlflow.start_run():
        mlflow.log_params(PARAMS)
        mlflow.log_metrics(found)
        # A pickle, as mlcd's model.joblib is; MLflow 3's default (skops) refuses a forest's trees.
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="iris",
                                        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                                        signature=infer_signature(x_train, model.predict(x_train)))
    print(json.dumps({"metrics": found, "model": info.model_uri, "version": info.registered_model_version}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
