"""The check-data step's rules: which columns, how many rows, how much missing, something to learn."""

import json
import math

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlcd_components.check_data import check, run, select_features, signature
from mlcd_components.progress import StepError


def frame(rows: int = 10, missing: int = 0, labels: int = 2) -> pd.DataFrame:
    values = [math.nan] * missing + [float(i) for i in range(rows - missing)]
    return pd.DataFrame({"a": values, "b": range(rows), "target": [i % labels for i in range(rows)]})


def test_features_default_to_every_column_but_the_target():
    assert select_features(["a", "b", "target"], "target", []) == ["a", "b"]
    assert select_features(["a", "b", "target"], "target", ["b"]) == ["b"]


def test_a_missing_target_or_feature_names_its_field():
    with pytest.raises(StepError, match=r"^spec.data.target: column 'y' is not in the data; columns are \['a'\]$"):
        select_features(["a"], "y", [])
    with pytest.raises(StepError, match=r"^spec.data.features: \['c'\] not in the data; columns are \['a', 't'\]$"):
        select_features(["a", "t"], "t", ["a", "c"])


def test_min_rows_is_inclusive():
    assert check(frame(rows=10), "target", ["a", "b"], {"minRows": 10})[0] == "| rows | 10 |"
    with pytest.raises(StepError, match=r"^spec.data.checks.minRows: the data has 9 rows, fewer than 10$"):
        check(frame(rows=9), "target", ["a", "b"], {"minRows": 10})


def test_min_rows_is_read_from_the_spec():
    with pytest.raises(StepError, match="the data has 15 rows, fewer than 20"):
        check(frame(rows=15), "target", ["a", "b"], {"minRows": 20})


def test_min_rows_defaults_to_ten():
    check(frame(rows=10), "target", ["a", "b"], {})
    with pytest.raises(StepError, match="fewer than 10"):
        check(frame(rows=9), "target", ["a", "b"], {})


def test_missing_fraction_at_the_limit_passes_above_it_fails():
    lines = check(frame(rows=10, missing=2), "target", ["a", "b"], {"maxMissingFraction": 0.2})
    assert lines == ["| rows | 10 |", "| features | 2 |", "| most missing | a (20.0%) |"]
    with pytest.raises(StepError, match=r"^spec.data.checks.maxMissingFraction: column 'a' has 30.0% missing "
                                        r"values, above 20.0%$"):
        check(frame(rows=10, missing=3), "target", ["a", "b"], {"maxMissingFraction": 0.2})


def test_no_missing_value_is_allowed_by_default():
    with pytest.raises(StepError, match="column 'a' has 10.0% missing values, above 0.0%"):
        check(frame(rows=10, missing=1), "target", ["a", "b"], {})
    assert check(frame(rows=10), "target", ["a", "b"], {})[2] == "| most missing | a (0.0%) |"


def test_only_the_chosen_columns_count_for_missing_values():
    assert check(frame(rows=10, missing=5), "target", ["b"], {})[1:] == ["| features | 1 |",
                                                                          "| most missing | b (0.0%) |"]


def test_a_target_with_one_value_has_nothing_to_learn():
    with pytest.raises(StepError, match=r"^spec.data.target: column 'target' has a single value; there is nothing "
                                        r"to learn$"):
        check(frame(labels=1), "target", ["a", "b"], {})
    check(frame(labels=2), "target", ["a", "b"], {})


def test_signature_lists_features_and_dtypes():
    assert signature(frame(), ["a", "b"]) == {"features": [{"name": "a", "dtype": "float64"},
                                                           {"name": "b", "dtype": "int64"}]}


def test_run_splits_checks_and_reports(tmp_path):
    data = pd.DataFrame({"a": [float(i) for i in range(40)], "b": [i % 7 for i in range(40)],
                         "target": [i % 2 for i in range(40)]})
    data.to_parquet(tmp_path / "data.parquet", index=False)
    paths = {name: str(tmp_path / name)
             for name in ("train.parquet", "test.parquet", "report.md", "ref.json", "signature.json")}
    run(str(tmp_path / "data.parquet"), "target", [], {"minRows": 10}, 0.25, 7, True,
        paths["train.parquet"], paths["test.parquet"], paths["report.md"], paths["ref.json"], paths["signature.json"])
    assert json.loads((tmp_path / "signature.json").read_text()) == {
        "features": [{"name": "a", "dtype": "float64"}, {"name": "b", "dtype": "int64"}]}
    train, test = pd.read_parquet(paths["train.parquet"]), pd.read_parquet(paths["test.parquet"])
    assert (len(train), len(test)) == (30, 10)
    assert list(train.columns) == ["a", "b", "target"]
    assert sorted([*train["a"], *test["a"]]) == list(data["a"])
    assert test["target"].value_counts().to_dict() == {0: 5, 1: 5}  # stratified
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("## Data check\n\n| check | value |\n|---|---|\n| rows | 40 |\n")
    assert report.endswith("| train / test rows | 30 / 10 |\n")
    reference = json.loads((tmp_path / "ref.json").read_text())
    # Drift checks compare with the training rows, never the held-out ones.
    assert (reference["rows"], reference["seed"], sorted(reference["features"])) == (30, 7, ["a", "b"])


def test_run_names_the_test_fraction_when_the_split_is_impossible(tmp_path):
    data = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "target": [0, 1, 0, 1]})
    data.to_parquet(tmp_path / "data.parquet", index=False)
    with pytest.raises(StepError, match=r"^spec.data.testFraction: cannot split 4 rows: "):
        run(str(tmp_path / "data.parquet"), "target", [], {"minRows": 1}, 0.1, 7, True,
            *(str(tmp_path / n) for n in ("train.parquet", "test.parquet", "report.md", "ref.json", "sig.json")))


def test_a_target_without_a_label_in_some_rows_is_refused_with_the_count():
    data = frame(rows=12).astype({"target": float})
    data.loc[[3, 7], "target"] = math.nan
    with pytest.raises(StepError, match=r"^spec.data.target: column 'target' has 2 rows without a label \(NaN\); "
                                        r"every row needs one: drop or fill them$"):
        check(data, "target", ["a", "b"], {"maxMissingFraction": 0.5})


def run_on(tmp_path, data: pd.DataFrame, *, features: tuple[str, ...] = (), test_fraction: float = 0.25, seed: int = 7,
           stratify: bool = True, checks: dict | None = None, folder: str = "out") -> dict:
    """run() on ``data`` written to Parquet; the paths of what it wrote, by name."""
    (tmp_path / folder).mkdir()
    data.to_parquet(tmp_path / "data.parquet", index=False)
    paths = {name: str(tmp_path / folder / name)
             for name in ("train.parquet", "test.parquet", "report.md", "ref.json", "signature.json")}
    run(str(tmp_path / "data.parquet"), "target", list(features), checks or {"minRows": 10}, test_fraction, seed,
        stratify, paths["train.parquet"], paths["test.parquet"], paths["report.md"], paths["ref.json"],
        paths["signature.json"])
    return paths


def classes(rows: int = 40, labels: int = 2) -> pd.DataFrame:
    return pd.DataFrame({"a": [float(i) for i in range(rows)], "b": [i % 7 for i in range(rows)],
                         "target": [i % labels for i in range(rows)]})


def test_run_reads_and_writes_only_the_chosen_columns(tmp_path):
    data = classes().assign(unused=["text"] * 40)
    paths = run_on(tmp_path, data, features=("b",))
    for split in ("train.parquet", "test.parquet"):
        assert list(pd.read_parquet(paths[split]).columns) == ["b", "target"]


def test_the_splits_hold_no_index_column(tmp_path):
    paths = run_on(tmp_path, classes())
    for split in ("train.parquet", "test.parquet"):
        # Whatever reads them (pyarrow, another tool) sees the data's columns, and pandas a fresh index.
        assert pq.read_schema(paths[split]).names == ["a", "b", "target"]
        read = pd.read_parquet(paths[split])
        assert list(read.index) == list(range(len(read)))


def test_the_test_fraction_sets_the_size_of_the_test_rows(tmp_path):
    paths = run_on(tmp_path, classes(rows=50), test_fraction=0.2)
    assert (len(pd.read_parquet(paths["train.parquet"])), len(pd.read_parquet(paths["test.parquet"]))) == (40, 10)
    assert (tmp_path / "out" / "report.md").read_text().endswith("| train / test rows | 40 / 10 |\n")


def test_the_same_seed_gives_the_same_split_another_seed_another(tmp_path):
    def test_rows(folder: str, seed: int) -> list[float]:
        return sorted(pd.read_parquet(run_on(tmp_path, classes(), seed=seed, folder=folder)["test.parquet"])["a"])

    first = test_rows("first", 7)
    assert test_rows("again", 7) == first
    assert test_rows("other", 8) != first


def test_stratify_with_every_class_a_single_row_is_refused(tmp_path):
    with pytest.raises(StepError, match=r"^spec.data.target: each of the 12 classes of 'target' has a single row; a "
                                        r"class needs at least two rows to be both learnt and tested$"):
        run_on(tmp_path, classes(rows=12, labels=12))


def test_a_class_of_one_row_splits_unstratified(tmp_path):
    # 20 rows of class 0, 19 of class 1 and 1 of class 2: a stratified split is impossible, so it is a plain one.
    data = classes().assign(target=[0] * 20 + [1] * 19 + [2])
    paths = run_on(tmp_path, data)
    train, test = pd.read_parquet(paths["train.parquet"]), pd.read_parquet(paths["test.parquet"])
    assert (len(train), len(test)) == (30, 10)
    assert sorted([*train["target"], *test["target"]]) == sorted(data["target"])


def test_a_regression_target_is_split_unstratified_and_described_as_numbers(tmp_path):
    # Every value of the target is its own: stratifying by it would fail.
    data = classes().assign(target=[i * 0.5 for i in range(40)])
    paths = run_on(tmp_path, data, stratify=False)
    assert (len(pd.read_parquet(paths["train.parquet"])), len(pd.read_parquet(paths["test.parquet"]))) == (30, 10)
    label = json.loads((tmp_path / "out" / "ref.json").read_text())["label"]
    assert (label["name"], label["kind"]) == ("target", "numeric")


def test_a_regression_split_is_not_stratified_by_the_target(tmp_path):
    # Ten rows of each of four values: a stratified split would put each of them in the test rows two or three
    # times; with seed 1 a plain one leaves value 0 out of them.
    paths = run_on(tmp_path, classes(labels=4), stratify=False, seed=1)
    counts = pd.read_parquet(paths["test.parquet"])["target"].value_counts()
    assert len(counts) < 4 or not counts.between(2, 3).all()


def test_a_classifiers_label_is_described_as_categories(tmp_path):
    run_on(tmp_path, classes())
    label = json.loads((tmp_path / "out" / "ref.json").read_text())["label"]
    assert (label["name"], label["kind"], label["frequencies"]) == ("target", "categorical", {"0": 0.5, "1": 0.5})


def test_a_regression_target_that_is_not_numbers_is_refused(tmp_path):
    data = classes().assign(target=[f"class {i % 2}" for i in range(40)])
    with pytest.raises(StepError, match=r"^spec.data.target: column 'target' holds values that are not numbers$"):
        run_on(tmp_path, data, stratify=False)
