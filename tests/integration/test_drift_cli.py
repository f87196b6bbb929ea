"""`mlcd drift` against the reference statistics a real local run registered with its champion."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.backends.local import Zygote
from mlcd.cli import main
from mlcd.local import run_trainingrun
from mlcd.storage import open_registry


def sample(rows: int, seed: int, weight_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "size": rng.normal(10, 2, rows),
        "weight": rng.normal(70, 5, rows) + weight_shift,
        "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
    })
    frame["label"] = ((frame["size"] > 10) ^ (frame["colour"] == "red")).astype(int)
    return frame


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """A TrainingRun whose model was trained and registered by a real local run; returns (document, folder)."""
    folder = tmp_path_factory.mktemp("drift")
    sample(600, seed=1).to_csv(folder / "train.csv", index=False)
    doc = {
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "shapes"},
        "spec": {
            "data": {"source": (folder / "train.csv").as_uri(), "target": "label"},
            "model": {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 4},
                      "preprocessing": {"oneHot": ["colour"]}},
            "registry": {"uri": (folder / "registry").as_uri()},
            "retrain": {"drift": {"current": (folder / "current.csv").as_uri(), "method": "psi", "threshold": 0.2}},
        },
    }
    validated = validate_document(doc)
    assert validated.ok, validated.problems
    with pytest.MonkeyPatch.context() as patch, Zygote(folder / "home") as zygote:
        patch.setenv("MLCD_HOME", str(folder / "home"))  # the run's pipeline root and scratch
        result = run_trainingrun(validated.resource, zygote=zygote)
    assert result.phase == "Succeeded", result.message
    return doc, folder


def write(doc: dict, folder, name: str, data: pd.DataFrame | None = None, **drift) -> str:
    """The TrainingRun with this test's current data (written next to it) and drift settings, as a file."""
    doc = json.loads(json.dumps(doc))
    if data is not None:
        data.to_csv(folder / f"{name}.csv", index=False)
        doc["spec"]["retrain"]["drift"]["current"] = (folder / f"{name}.csv").as_uri()
    doc["spec"]["retrain"]["drift"].update(drift)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def mlcd_drift(*args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "mlcd", "drift", *args], capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def test_the_champion_carries_reference_statistics(champion):
    doc, _ = champion
    registry = open_registry(doc["spec"]["registry"]["uri"])
    reference = registry.metadata(registry.champion()["version"])["reference"]
    assert set(reference["features"]) == {"size", "weight", "colour"}
    assert reference["features"]["colour"]["kind"] == "categorical"
    assert reference["rows"] == 480  # the training rows, not the test rows
    assert reference["label"]["frequencies"].keys() == {"0", "1"}


def test_undrifted_data_exits_0(champion):
    doc, folder = champion
    code, out, err = mlcd_drift(write(doc, folder, "same", sample(600, seed=2)))
    assert code == 0, err
    assert "no drift: worst feature" in out and "| weight | numeric |" in out


def test_one_shifted_feature_exits_4_naming_it(champion):
    doc, folder = champion
    page = folder / "report.html"
    code, out, err = mlcd_drift("--json", "--html", str(page), write(doc, folder, "shifted", sample(600, 3, 10.0)))
    assert code == 4, err
    report = json.loads(out)
    assert report["drift"] is True and report["worst"]["feature"] == "weight"
    assert [f["feature"] for f in report["features"] if f["drifted"]] == ["weight"]
    assert report["champion"]["version"] == 1
    assert "<td>weight</td>" in page.read_text()


def test_ks_method_decides_on_the_ks_statistic(champion, capsys):
    doc, folder = champion
    assert main(["drift", "--json", write(doc, folder, "ks", sample(600, 3, 10.0), method="ks", threshold=0.3)]) == 4
    report = json.loads(capsys.readouterr().out)
    assert report["worst"]["feature"] == "weight" and report["worst"]["score"] == report["worst"]["ks"] > 0.3


def test_no_drift_spec_is_invalid(champion, capsys):
    doc, folder = champion
    doc = {**doc, "spec": {k: v for k, v in doc["spec"].items() if k != "retrain"}}
    path = folder / "plain.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["drift", str(path)]) == 2
    assert "spec.retrain.drift: not set" in capsys.readouterr().err


def test_unreadable_data_and_a_missing_champion_exit_1(champion, capsys, tmp_path):
    doc, folder = champion
    assert main(["drift", write(doc, folder, "gone", current=(tmp_path / "nope.csv").as_uri())]) == 1
    assert f"spec.retrain.drift.current: {(tmp_path / 'nope.csv').as_uri()}: " in capsys.readouterr().err
    assert main(["drift", write(doc, folder, "narrow", sample(50, 4).drop(columns=["colour"]))]) == 1
    assert "lacks the feature columns ['colour']" in capsys.readouterr().err
    empty = json.loads(json.dumps(doc))
    empty["spec"]["registry"]["uri"] = (tmp_path / "empty-registry").as_uri()
    path = tmp_path / "empty.yaml"
    path.write_text(yaml.safe_dump(empty))
    assert main(["drift", str(path)]) == 1
    assert "has no champion yet" in capsys.readouterr().err
