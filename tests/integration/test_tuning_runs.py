"""A tuning TrainingRun end to end with `mlcd run`: KFP's local runner fans the trials out (ParallelFor),
collects them, trains the best; the best is scikit-learn's own GridSearchCV / RandomizedSearchCV answer."""

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
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


class TableRows(HTMLParser):
    """The rows of an HTML page's tables: each row's cells as (tag, text)."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[tuple[str, str]]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = tag
            self.rows[-1].append((tag, ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            tag, text = self.rows[-1][-1]
            self.rows[-1][-1] = (tag, text + data)


def html_rows(page: Path) -> list[list[tuple[str, str]]]:
    parser = TableRows()
    parser.feed(page.read_text())
    parser.close()
    return parser.rows


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

    # The same table as the HTML page KFP's UI shows: a header, then one row per trial in trial order, each
    # with its params and the scores GridSearchCV gives that candidate; the best one marked.
    (page,) = (home / "pipeline-root" / result["runId"]).glob("*/select/page")
    header, *trials = html_rows(page)
    names = sorted(grid)
    assert header == [("th", name) for name in ["trial", *names, "mean f1_macro", "std", "fit seconds", "best"]]
    assert len(trials) == 12
    for index, row in enumerate(trials):
        assert [tag for tag, _ in row] == ["td"] * len(header)
        cells = [text for _, text in row]
        params = unprefixed(search.cv_results_["params"][index])
        assert cells[0] == str(index)
        assert cells[1:1 + len(names)] == ["" if params[n] is None else str(params[n]) for n in names]
        mean, std, fit_seconds, mark = cells[1 + len(names):]
        assert float(mean) == pytest.approx(search.cv_results_["mean_test_score"][index], rel=1e-5, abs=1e-9)
        assert float(std) == pytest.approx(search.cv_results_["std_test_score"][index], rel=1e-5, abs=1e-9)
        assert float(fit_seconds) >= 0
        assert mark == ("✔" if index == search.best_index_ else "")


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
