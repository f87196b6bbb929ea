"""A tuning TrainingRun end to end with `mlcd run`: KFP's local runner fans the trials out (ParallelFor),
collects them, trains the best; the best is scikit-learn's own GridSearchCV / RandomizedSearchCV answer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy import stats
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, StratifiedKFold

from mlcd_components.train import as_array, build_pipeline

SAMPLE = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "wine-tuning-trainingrun.yaml"
SEED = 7
FOLDS = 4
BASE_PARAMS = {"criterion": "gini"}


def trainingrun(name: str, tuning: dict) -> dict:
    return {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name},
            "spec": {"data": {"source": "builtin://wine", "seed": SEED},
                     "model": {"estimator": "DecisionTreeClassifier", "params": BASE_PARAMS},
                     "gates": [{"metric": "f1_macro", "min": 0.5}],
                     "tuning": {"folds": FOLDS, "parallelism": 3, **tuning}}}


def mlcd_run(tmp_path: Path, doc: dict) -> tuple[dict, str, Path]:
    path = tmp_path / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    home = tmp_path / "home"
    done = subprocess.run([sys.executable, "-m", "mlcd", "run", str(path), "--json"], capture_output=True, text=True,
                          env={**os.environ, "MLCD_HOME": str(home)}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), done.stderr, home


def train_rows(home: Path, run_id: str) -> pd.DataFrame:
    (train_set,) = (home / "pipeline-root" / run_id).glob("*/check-data/train_set")
    return pd.read_parquet(train_set)


def sklearn_search(frame: pd.DataFrame, search_cls, space: dict, **kwargs):
    features = [c for c in frame.columns if c != "target"]
    pipeline = build_pipeline("DecisionTreeClassifier", BASE_PARAMS, {}, features, SEED)
    cv = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    search = search_cls(pipeline, {f"estimator__{k}": v for k, v in space.items()}, cv=cv, scoring="f1_macro",
                        **kwargs)
    return search.fit(as_array(frame[features]), frame["target"].to_numpy())


def unprefixed(params: dict) -> dict:
    return {k.removeprefix("estimator__"): (v.item() if hasattr(v, "item") else v) for k, v in params.items()}


@pytest.mark.slow
def test_the_sample_grid_of_12_picks_what_grid_search_cv_picks_and_tables_every_trial(tmp_path):
    sample = yaml.safe_load(SAMPLE.read_text())
    assert sample["spec"]["data"]["seed"] == SEED and sample["spec"]["tuning"]["folds"] == FOLDS
    assert sample["spec"]["model"]["params"] == BASE_PARAMS and sample["spec"]["gates"][0]["metric"] == "f1_macro"
    grid = {name: dimension["values"] for name, dimension in sample["spec"]["tuning"]["parameters"].items()}
    result, stderr, home = mlcd_run(tmp_path, sample)
    assert result["phase"] == "Succeeded", result
    assert "note: the local runner ignores resources" in stderr and stderr.count("the local runner ignores") == 1
    tuning = result["tuning"]
    assert tuning["metric"] == "f1_macro" and len(tuning["trials"]) == 12
    assert [t["trial"] for t in tuning["trials"]] == list(range(12))
    assert sorted(s["name"] for s in result["steps"] if s["name"].startswith("tune")) == ["tune-1", "tune-2",
                                                                                         "tune-3"]

    search = sklearn_search(train_rows(home, result["runId"]), GridSearchCV, grid)
    assert tuning["best"] == unprefixed(search.best_params_)
    assert tuning["score"] == pytest.approx(search.best_score_, abs=1e-12)
    means = [t["mean"] for t in tuning["trials"]]
    assert means == pytest.approx(list(search.cv_results_["mean_test_score"]), abs=1e-12)
    assert [t["params"] for t in tuning["trials"]] == [unprefixed(p) for p in search.cv_results_["params"]]

    version = Path(result["model"]["uri"].removeprefix("file://"))
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["params"] == {**BASE_PARAMS, **tuning["best"]}
    assert len(metadata["tuning"]["trials"]) == 12 and metadata["tuning"]["best"] == tuning["best"]
    (markdown,) = (home / "pipeline-root" / result["runId"]).glob("*/select/markdown")
    rows = [line for line in markdown.read_text().splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 12 and sum("✔" in row for row in rows) == 1


@pytest.mark.slow
def test_a_random_search_of_20_picks_what_randomized_search_cv_picks(tmp_path):
    space = {"max_depth": {"distribution": "int", "low": 1, "high": 8},
             "min_samples_leaf": {"distribution": "int", "low": 1, "high": 20},
             "ccp_alpha": {"distribution": "logUniform", "low": 1e-4, "high": 1e-1},
             "max_features": {"distribution": "uniform", "low": 0.3, "high": 1.0},
             "splitter": {"values": ["best", "random"]}}
    result, _, home = mlcd_run(tmp_path, trainingrun("wine-random", {"parameters": space, "trials": 20}))
    assert result["phase"] in ("Succeeded", "Rejected"), result
    tuning = result["tuning"]
    assert len(tuning["trials"]) == 20

    distributions = {"max_depth": stats.randint(1, 9), "min_samples_leaf": stats.randint(1, 21),
                     "ccp_alpha": stats.loguniform(1e-4, 1e-1), "max_features": stats.uniform(0.3, 0.7),
                     "splitter": ["best", "random"]}
    search = sklearn_search(train_rows(home, result["runId"]), RandomizedSearchCV, distributions, n_iter=20,
                            random_state=SEED)
    assert [t["params"] for t in tuning["trials"]] == [unprefixed(p) for p in search.cv_results_["params"]]
    assert tuning["best"] == unprefixed(search.best_params_)
    assert tuning["score"] == pytest.approx(search.best_score_, abs=1e-12)
