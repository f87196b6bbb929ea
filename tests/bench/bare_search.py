"""The search of bench_tuning.py as one plain script: GridSearchCV(n_jobs=2) in one process.

    python tests/bench/bare_search.py SPEC.yaml OUT.json

Reads the TrainingRun only for its numbers (data, seed, folds, grid), then does what a data scientist
would write: load the data, split it as mlcd's check-data step does (stratified, testFraction, seed),
GridSearchCV over the same candidates with the same shuffled stratified folds and the same metric,
refit the best on the training rows, score it on the held-out rows. It imports neither mlcd nor kfp.
"""

from __future__ import annotations

import json
import sys

import joblib
import yaml
from sklearn import datasets, metrics
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split


def main(spec_path: str, out_path: str) -> None:
    spec = yaml.safe_load(open(spec_path))["spec"]
    seed, tuning = spec["data"]["seed"], spec["tuning"]
    frame = getattr(datasets, f"load_{spec['data']['source'].removeprefix('builtin://')}")(as_frame=True).frame
    train, test = train_test_split(frame, test_size=spec["data"]["testFraction"], random_state=seed,
                                   stratify=frame["target"])
    features = [c for c in frame.columns if c != "target"]
    grid = {name: d["values"] for name, d in tuning["parameters"].items()}
    search = GridSearchCV(RandomForestClassifier(random_state=seed), grid, scoring="accuracy", n_jobs=2,
                          cv=StratifiedKFold(n_splits=tuning["folds"], shuffle=True, random_state=seed))
    search.fit(train[features].to_numpy(dtype=float), train["target"].to_numpy())
    accuracy = metrics.accuracy_score(test["target"], search.predict(test[features].to_numpy(dtype=float)))
    joblib.dump(search.best_estimator_, out_path + ".joblib")
    with open(out_path, "w") as fh:
        json.dump({"best": search.best_params_, "score": search.best_score_, "accuracy": accuracy,
                   "trials": len(search.cv_results_["params"])}, fh, default=str)


if __name__ == "__main__":
    main(*sys.argv[1:3])
