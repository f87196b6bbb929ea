"""The check-data step's rules: which columns, how many rows, how much missing, something to learn."""

import math

import pandas as pd
import pytest

from mlcd_components.check_data import check, select_features, signature
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
