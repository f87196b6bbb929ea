"""The job of `mlcd run` as one plain Python script: the baseline bench_foundation.py times.

    python tests/bench/bare_iris.py OUT_DIR [--csv PATH | --parquet PATH] [--target COLUMN]
        [--estimator RandomForestClassifier|DecisionTreeClassifier] [--n-estimators N] [--max-depth D]

Iris from scikit-learn by default, or a CSV or Parquet file. The steps are mlcd's pipeline's, in one
process: read, check (rows, missing values, a target with two values or more), a stratified split with
seed 42, fit a RandomForestClassifier (or a DecisionTreeClassifier), the classifier metrics mlcd
computes, then model.joblib, its sha256 and a metadata.json in OUT_DIR. It imports neither mlcd nor
kfp, as a data scientist's own script would not; whole-process time is the figure, so it keeps its imports at the top.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from pathlib import Path

import joblib
import pandas as pd
import sklearn
from sklearn import metrics
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

SEED = 42


def read(csv: str | None, parquet: str | None, target: str) -> pd.DataFrame:
    if csv:
        return pd.read_csv(csv)
    if parquet:
        return pd.read_parquet(parquet)
    frame = load_iris(as_frame=True).frame
    return frame.rename(columns={"target": target}) if target != "target" else frame


def check(frame: pd.DataFrame, target: str, min_rows: int = 50) -> None:
    if len(frame) < min_rows:
        raise SystemExit(f"{len(frame)} rows, fewer than {min_rows}")
    if frame.isna().mean().max() > 0.0:
        raise SystemExit("missing values")
    if frame[target].nunique() < 2:
        raise SystemExit("a single target value")


def scores(model, features, labels) -> dict:
    predicted = model.predict(features)
    proba = model.predict_proba(features)
    classes = list(model.classes_)
    found = {
        "accuracy": metrics.accuracy_score(labels, predicted),
        "f1_macro": metrics.f1_score(labels, predicted, average="macro", zero_division=0),
        "precision_macro": metrics.precision_score(labels, predicted, average="macro", zero_division=0),
        "recall_macro": metrics.recall_score(labels, predicted, average="macro", zero_division=0),
        "log_loss": metrics.log_loss(labels, proba, labels=classes),
        "roc_auc": (metrics.roc_auc_score(labels, proba[:, 1]) if len(classes) == 2
                    else metrics.roc_auc_score(labels, proba, multi_class="ovr", labels=classes)),
    }
    metrics.confusion_matrix(labels, predicted, labels=classes)  # mlcd draws it; the cost belongs here too
    return {name: round(float(value), 6) for name, value in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--csv")
    parser.add_argument("--parquet")
    parser.add_argument("--estimator", default="RandomForestClassifier",
                        choices=["RandomForestClassifier", "DecisionTreeClassifier"])
    parser.add_argument("--target", default="target")
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=4)
    args = parser.parse_args()
    frame = read(args.csv, args.parquet, args.target)
    check(frame, args.target)
    features = [c for c in frame.columns if c != args.target]
    train, test = train_test_split(frame, test_size=0.2, random_state=SEED, stratify=frame[args.target])
    if args.estimator == "RandomForestClassifier":
        params = {"n_estimators": args.n_estimators, "max_depth": args.max_depth}
        model = RandomForestClassifier(**params, random_state=SEED)
    else:
        params = {"max_depth": args.max_depth}
        model = DecisionTreeClassifier(**params, random_state=SEED)
    model.fit(train[features].to_numpy(dtype=float), train[args.target].to_numpy())
    found = scores(model, test[features].to_numpy(dtype=float), test[args.target].to_numpy())
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "model.joblib"
    joblib.dump(model, model_path)
    meta = {"estimator": args.estimator, "params": params, "metrics": found,
            "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
            "signature": {"features": [{"name": f, "dtype": str(frame[f].dtype)} for f in features]},
            "versions": {"python": platform.python_version(), "sklearn": sklearn.__version__}}
    (args.out / "metadata.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(found, sort_keys=True))


if __name__ == "__main__":
    main()
