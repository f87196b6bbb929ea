"""The drift-check step reads the Parquet columns the champion's reference describes, and names the data's
columns when a feature is absent."""

import pandas as pd

from mlcd.drift import reference
from mlcd.storage import open_registry
from mlcd_components.drift_check import report


def champion_with_reference(tmp_path, frame: pd.DataFrame) -> str:
    registry_uri = (tmp_path / "registry").as_uri()
    registry = open_registry(registry_uri)
    model = tmp_path / "model.joblib"
    model.write_bytes(b"a model")
    stats = reference(frame, ["a", "b"], "target", classifier=True, seed=42)
    registry.set_champion(registry.register(model, {"reference": stats}).version, "first")
    return registry_uri


def training_data(rows: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"a": [float(i % 17) for i in range(rows)], "b": [float(i % 5) for i in range(rows)],
                         "target": [i % 2 for i in range(rows)]})


def test_the_same_data_with_extra_columns_shows_no_drift(tmp_path):
    frame = training_data()
    registry_uri = champion_with_reference(tmp_path, frame)
    current = frame.assign(unused=["text"] * len(frame), other=range(len(frame)))
    current.to_parquet(tmp_path / "current.parquet", index=False)
    line, markdown, html = report(str(tmp_path / "current.parquet"), registry_uri, "psi", 0.2)
    assert line == "against champion v1: no drift: worst feature a psi 0.0000 <= 0.2"
    rows = [row.split(" | ")[0] for row in markdown.splitlines() if row.startswith("| ") and "---" not in row]
    assert rows == ["| feature", "| a", "| b", "| target (label)"]
    assert "unused" not in html and "other" not in html


def test_an_absent_feature_names_the_columns_the_data_holds(tmp_path):
    registry_uri = champion_with_reference(tmp_path, training_data())
    training_data().drop(columns=["b"]).assign(c=1.0).to_parquet(tmp_path / "current.parquet", index=False)
    line, _, _ = report(str(tmp_path / "current.parquet"), registry_uri, "psi", 0.2)
    assert line == ("no drift report: the data lacks the feature columns ['b']; its columns are "
                    "['a', 'target', 'c']")
