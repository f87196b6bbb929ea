"""`mlcd run` end to end on KFP's local runner, on real data, into a file:// registry."""

import hashlib
import json
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.backends.local import Zygote
from mlcd.local import run_trainingrun
from mlcd.storage import open_registry


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("mlcd-home")


@pytest.fixture(scope="module")
def zygote(home):
    with Zygote(home) as z:
        yield z


@pytest.fixture
def run(home, zygote, monkeypatch, tmp_path):
    monkeypatch.setenv("MLCD_HOME", str(home))

    def _run(name, data, model, gates=(), registry=None):
        doc = {
            "apiVersion": "mlcd.io/v1alpha1",
            "kind": "TrainingRun",
            "metadata": {"name": name},
            "spec": {
                "data": data,
                "model": model,
                "gates": list(gates),
                "registry": {"uri": registry or (tmp_path / "registry" / name).as_uri()},
            },
        }
        validated = validate_document(doc)
        assert validated.ok, validated.problems
        return run_trainingrun(validated.resource, zygote=zygote), open_registry(
            doc["spec"]["registry"]["uri"]
        )

    return _run


def test_a_classifier_on_builtin_data_registers_a_model_that_predicts(run):
    result, registry = run(
        "wine",
        {"source": "builtin://wine", "checks": {"minRows": 50}},
        {"estimator": "LogisticRegression", "params": {"max_iter": 500}, "preprocessing": {"scale": True}},
        gates=[{"metric": "accuracy", "min": 0.8}],
    )
    assert result.phase == "Succeeded", result.message
    assert result.metrics["accuracy"] >= 0.8
    assert set(result.metrics) == {
        "accuracy",
        "f1_macro",
        "precision_macro",
        "recall_macro",
        "roc_auc",
        "log_loss",
    }
    assert result.model == {"uri": registry.version_uri(1), "version": 1,
                            "sha256": registry.metadata(1)["model"]["sha256"]}
    assert [s.name for s in result.steps] == ["ingest", "check-data", "train", "evaluate", "gate", "register"]
    meta = registry.metadata(1)
    assert meta["metrics"] == result.metrics
    assert meta["estimator"] == "LogisticRegression" and meta["params"] == {"max_iter": 500}
    assert [f["name"] for f in meta["signature"]["features"]][:2] == ["alcohol", "malic_acid"]
    assert meta["data"]["uri"] == "builtin://wine"
    assert {"python", "sklearn", "mlcd"} <= set(meta["versions"])
    model = registry.load_model(1)
    assert set(model.predict(load_wine_rows())) <= {0, 1, 2}  # a plain array, as KServe's server sends
    assert registry.champion()["version"] == 1


def load_wine_rows():
    from sklearn.datasets import load_wine

    return load_wine().data[:5]


def test_a_regressor_on_builtin_data(run):
    result, registry = run(
        "diabetes",
        {"source": "builtin://diabetes"},
        {"estimator": "Ridge", "params": {"alpha": 0.5}},
        gates=[{"metric": "r2", "min": 0.2}, {"metric": "rmse", "max": 80}],
    )
    assert result.phase == "Succeeded", result.message
    assert set(result.metrics) == {"r2", "rmse", "mae"}
    assert [g["passed"] for g in result.gates] == [True, True]
    assert registry.versions() == [1]


def test_a_csv_from_a_file_uri_with_one_hot_and_imputation(run, tmp_path):
    rng = np.random.default_rng(0)
    rows = 300
    frame = pd.DataFrame({"size": rng.normal(10, 2, rows), "colour": rng.choice(["red", "blue"], rows)})
    frame["label"] = ((frame["size"] > 10) ^ (frame["colour"] == "red")).astype(int)
    frame.loc[::25, "size"] = np.nan
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    result, registry = run(
        "csv",
        {"source": path.as_uri(), "target": "label", "checks": {"maxMissingFraction": 0.1}},
        {
            "estimator": "DecisionTreeClassifier",
            "params": {"max_depth": 4},
            "preprocessing": {"impute": "median", "oneHot": ["colour"]},
        },
    )
    assert result.phase == "Succeeded", result.message
    assert result.metrics["roc_auc"] > 0.9  # binary: ROC is computed
    model = registry.load_model(1)
    raw = np.array([[12.0, "red"], [np.nan, "green"]], dtype=object)  # raw features, unseen category
    assert list(model.predict(raw)) in ([0, 0], [0, 1], [1, 0], [1, 1])
    assert registry.metadata(1)["data"]["kind"] == "sha256"


def test_a_failing_gate_is_rejected_and_registers_nothing(run):
    result, registry = run(
        "strict",
        {"source": "builtin://iris"},
        {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 1}},
        gates=[{"metric": "accuracy", "min": 0.99}],
    )
    assert result.phase == "Rejected"
    assert result.gates[0]["passed"] is False
    assert "accuracy" in result.message and "fails >= 0.99" in result.message
    assert result.model is None
    assert registry.versions() == []


def test_a_worse_challenger_is_rejected_and_the_champion_stays(run, tmp_path):
    uri = (tmp_path / "registry" / "champ").as_uri()
    gates = [{"metric": "accuracy", "vsChampion": {"maxRegression": 0.0}}]
    good, registry = run(
        "champ",
        {"source": "builtin://breast_cancer"},
        {"estimator": "RandomForestClassifier", "params": {"n_estimators": 20}},
        gates,
        uri,
    )
    assert good.phase == "Succeeded" and registry.champion()["version"] == 1
    worse, _ = run(
        "champ",
        {"source": "builtin://breast_cancer"},
        {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 1}},
        gates,
        uri,
    )
    assert worse.phase == "Rejected"
    assert "against champion v1" in worse.gates[0]["message"]
    assert registry.versions() == [1]
    assert registry.champion()["version"] == 1


def _csv(tmp_path, text: str) -> dict:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return {"source": path.as_uri(), "target": "label", "checks": {"minRows": 5}}


def _frame_csv(tmp_path, frame) -> dict:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return {"source": path.as_uri(), "target": "label", "checks": {"minRows": 5}}


@pytest.mark.parametrize(
    "case,expected",
    [
        ("missing-target", "spec.data.target: column 'label' is not in the data"),
        ("too-few-rows", "spec.data.checks.minRows: the data has 4 rows, fewer than 5"),
        ("too-many-missing", "spec.data.checks.maxMissingFraction: column 'x' has 50.0% missing values"),
        ("empty-file", "bad.csv"),
        ("malformed-csv", "bad.csv"),
    ],
)
def test_bad_data_fails_the_run_with_a_message(run, tmp_path, case, expected):
    cancer = load_breast_cancer(as_frame=True).frame.iloc[:40, :3].rename(columns={"mean radius": "x"})
    cancer["label"] = [0, 1] * 20
    data = {
        "missing-target": lambda: _frame_csv(tmp_path, cancer.drop(columns=["label"])),
        "too-few-rows": lambda: _frame_csv(tmp_path, cancer.iloc[:4]),
        "too-many-missing": lambda: _frame_csv(tmp_path, cancer.assign(x=[np.nan, 1.0] * 20)),
        "empty-file": lambda: _csv(tmp_path, ""),
        "malformed-csv": lambda: _csv(tmp_path, 'a,b,label\n1,2,0\n3,"4,1\n5,6,7,8,9\n'),
    }[case]()
    result, registry = run(case, data, {"estimator": "LogisticRegression"})
    assert result.phase == "Failed"
    assert expected in result.message
    assert registry.versions() == []


def test_the_cli_exit_codes_and_json(tmp_path):
    env_home = tmp_path / "home"
    good = tmp_path / "good.yaml"
    doc = {
        "apiVersion": "mlcd.io/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "cli"},
        "spec": {
            "data": {"source": "builtin://iris"},
            "model": {"estimator": "GaussianNB"},
            "gates": [{"metric": "accuracy", "min": 0.8}],
        },
    }
    good.write_text(yaml.safe_dump(doc))
    doc["spec"]["gates"] = [{"metric": "accuracy", "min": 0.999}]
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump({**doc, "metadata": {"name": "strict"}}))
    env = {"MLCD_HOME": str(env_home), "PATH": "/usr/bin:/bin"}

    def mlcd_run(path):
        done = subprocess.run(
            [sys.executable, "-m", "mlcd", "run", "--json", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        return done.returncode, json.loads(done.stdout), done.stderr

    code, out, err = mlcd_run(good)
    assert code == 0 and out["phase"] == "Succeeded"
    folder = env_home / "registry" / "cli" / "v1"
    assert out["model"] == {"uri": folder.as_uri(), "version": 1,
                            "sha256": hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest()}
    assert "▶ train" in err and "✔ register" in err  # progress goes to stderr with --json
    assert (
        joblib.load(env_home / "registry" / "cli" / "v1" / "model.joblib").predict([[5.1, 3.5, 1.4, 0.2]])[0]
        == 0
    )
    code, out, _ = mlcd_run(strict)
    assert code == 3 and out["phase"] == "Rejected" and out["model"] is None
    assert not (env_home / "registry" / "strict").exists() or not list(
        (env_home / "registry" / "strict").glob("v*")
    )
    leftovers = [p for p in (env_home / "tmp").rglob("*")] if (env_home / "tmp").exists() else []
    assert leftovers == []


def test_the_kfp_artifacts_people_look_at(run, home):
    result, _ = run("cancer", {"source": "builtin://breast_cancer"},
                    {"estimator": "LogisticRegression", "params": {"max_iter": 2000}, "preprocessing": {"scale": True}},
                    gates=[{"metric": "roc_auc", "min": 0.9}])
    assert result.phase == "Succeeded", result.message
    (pipeline,) = (home / "pipeline-root" / result.run_id).iterdir()
    evaluate = json.loads((pipeline / "evaluate" / "executor_output.json").read_text())["artifacts"]
    assert evaluate["metrics"]["artifacts"][0]["metadata"] == result.metrics
    pictures = evaluate["classification"]["artifacts"][0]["metadata"]
    matrix = pictures["confusionMatrix"]
    assert [s["displayName"] for s in matrix["annotationSpecs"]] == ["0", "1"]
    assert sum(sum(r["row"]) for r in matrix["rows"]) == 114  # the held-out 20% of 569 rows
    roc = pictures["confidenceMetrics"]
    assert set(roc[0]) == {"falsePositiveRate", "recall", "confidenceThreshold"}  # KFP UI's ROC fields
    summary = (pipeline / "gate" / "summary").read_text()
    assert summary.startswith("## Gates") and "roc_auc" in summary and "| pass:" in summary
    report = (pipeline / "check-data" / "report").read_text()
    assert "| rows | 569 |" in report


def test_a_trainingrun_watching_for_drift_reports_it_in_the_run(run, home, tmp_path):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    shifted = frame.assign(**{"petal length (cm)": frame["petal length (cm)"] + 3.0})
    current = tmp_path / "current.csv"
    shifted.to_csv(current, index=False)
    uri = (tmp_path / "registry" / "watched").as_uri()
    data = {"source": "builtin://iris"}
    model = {"estimator": "GaussianNB"}

    def watched(name, source):
        from mlcd.api.v1alpha1.validation import validate_document as validate

        doc = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name},
               "spec": {"data": {"source": source}, "model": model, "registry": {"uri": uri},
                        "retrain": {"drift": {"current": current.as_uri(), "threshold": 0.2}}}}
        return validate(doc).resource

    first, _ = run("watched", data, model, registry=uri)  # the champion, trained on iris as it is
    assert first.phase == "Succeeded", first.message
    tr = watched("watched", current.as_uri())
    result = run_trainingrun(tr, zygote=None)
    assert result.phase == "Succeeded", result.message
    assert "drift" in [s.name for s in result.steps]
    (pipeline,) = (home / "pipeline-root" / result.run_id).iterdir()
    drift = json.loads((pipeline / "drift" / "executor_output.json").read_text())
    line = drift["parameterValues"]["Output"]
    assert line.startswith("against champion v1: drift: worst feature petal length (cm)")
    assert "<h2>Data drift</h2>" in (pipeline / "drift" / "page").read_text()
    assert "| petal length (cm) |" in (pipeline / "drift" / "markdown").read_text()
