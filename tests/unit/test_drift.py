"""Drift statistics: checked against scipy's KS test and PSI computed by hand on small arrays."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from mlcd.api.v1alpha1.trainingrun import RetrainRecord
from mlcd.drift import EPSILON, SAMPLE_SIZE, describe, drift_report, kolmogorov_sf, ks_2samp, psi, reference


def frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(40, 10, rows) + shift,
        "income": rng.lognormal(10, 1, rows),
        "visits": rng.poisson(3, rows),
        "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1]),
        "label": rng.integers(0, 2, rows),
    })


FEATURES = ["age", "income", "visits", "plan"]


def ref_of(data: pd.DataFrame, seed: int = 42) -> dict:
    return reference(data, FEATURES, "label", classifier=True, seed=seed)


@pytest.mark.parametrize("n,m,seed", [(1, 1, 0), (5, 9, 1), (40, 30, 2), (200, 300, 3), (1000, 5000, 4)])
def test_ks_statistic_is_scipys(n, m, seed):
    rng = np.random.default_rng(seed)
    for a, b in [(rng.normal(size=n), rng.normal(0.3, 1.2, size=m)),
                 (rng.integers(0, 6, n).astype(float), rng.integers(1, 8, m).astype(float))]:  # ties
        d, _ = ks_2samp(np.sort(a), np.sort(b))
        assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("n,m,tolerance", [(200, 300, 0.015), (1000, 5000, 0.006), (1000, 100_000, 0.006)])
def test_ks_pvalue_is_close_to_scipys_asymptotic_one(n, m, tolerance):
    rng = np.random.default_rng(n)
    for shift in (0.0, 0.05, 0.1, 0.2):
        a, b = rng.normal(size=n), rng.normal(shift, 1, size=m)
        _, p = ks_2samp(np.sort(a), np.sort(b))
        assert p == pytest.approx(stats.ks_2samp(a, b, method="asymp").pvalue, abs=tolerance)


def test_the_pvalue_is_kolmogorovs_distribution_at_stephens_argument():
    for d in np.linspace(0.0, 0.6, 61):
        for en in (10.0, 99.0, 990.1):
            root = math.sqrt(en)
            assert kolmogorov_sf(d, en) == pytest.approx(special.kolmogorov((root + 0.12 + 0.11 / root) * d),
                                                         abs=1e-12)


def test_psi_by_hand():
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert psi([0.3, 0.7], [0.3, 0.7]) == 0.0
    # An empty bin counts as EPSILON, not as zero.
    assert psi([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.5 * math.log(2) + (EPSILON - 0.5) * math.log(EPSILON / 0.5))


def test_numeric_bins_and_psi_by_hand_on_a_small_array():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    ref = reference(train, ["x"], "y", classifier=True, seed=0)["features"]["x"]
    # Deciles of 1..4 by linear interpolation: 1.3, 1.6, ..., 3.7; each value alone in its bin.
    assert ref["edges"] == pytest.approx([1.3, 1.6, 1.9, 2.2, 2.5, 2.8, 3.1, 3.4, 3.7])
    assert ref["proportions"] == [0.25, 0, 0, 0.25, 0, 0, 0.25, 0, 0, 0.25]
    assert ref["sample"] == [1.0, 2.0, 3.0, 4.0] and ref["missing"] == 0.0
    report = drift_report({"rows": 4, "features": {"x": ref}}, pd.DataFrame({"x": [1.0, 1.0, 1.0, 4.0]}))
    # Bin 0 grows from 1/4 to 3/4, bins 3 and 6 empty (EPSILON), bin 9 unchanged, the rest empty on both sides.
    expected = 0.5 * math.log(3) + 2 * (EPSILON - 0.25) * math.log(EPSILON / 0.25)
    assert report.features[0].psi == pytest.approx(expected)
    assert report.features[0].ks == pytest.approx(stats.ks_2samp([1, 2, 3, 4], [1, 1, 1, 4]).statistic)


def test_categorical_psi_by_hand_with_a_new_category():
    train = pd.DataFrame({"c": ["a", "b"] * 50, "y": [0, 1] * 50})
    ref = reference(train, ["c"], "y", classifier=True, seed=0)
    assert ref["features"]["c"] == {"kind": "categorical", "missing": 0.0, "frequencies": {"a": 0.5, "b": 0.5}}
    current = pd.DataFrame({"c": ["a"] * 8 + ["b", "new"]})
    report = drift_report(ref, current, "psi", 0.2)
    expected = 0.3 * math.log(0.8 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5) + (0.1 - EPSILON) * math.log(0.1 / EPSILON)
    assert report.features[0].psi == pytest.approx(expected)
    assert report.features[0].ks is None and report.drifted
    # Under ks, a category's score is the total variation distance, on the KS statistic's [0, 1] scale.
    assert drift_report(ref, current, "ks", 0.2).features[0].score == pytest.approx(0.5 * (0.3 + 0.4 + 0.1))


@pytest.mark.parametrize("method,threshold", [("psi", 0.2), ("ks", 0.1)])
def test_same_distribution_no_drift_and_a_shifted_feature_drifts(method, threshold):
    ref = ref_of(frame(5000, seed=1))
    same = drift_report(ref, frame(5000, seed=2), method, threshold)
    assert not same.drifted and not any(f.drifted for f in same.features)
    shifted = drift_report(ref, frame(5000, seed=3, shift=8.0), method, threshold)
    assert shifted.drifted and shifted.worst.name == "age"
    assert [f.name for f in shifted.features if f.drifted] == ["age"]
    assert shifted.worst.score == (shifted.worst.psi if method == "psi" else shifted.worst.ks)


def test_a_column_that_arrives_empty_drifts_through_its_missing_share():
    current = frame(2000, seed=2)
    current["income"] = np.nan
    report = drift_report(ref_of(frame(2000, seed=1)), current, "psi", 0.2)
    assert report.worst.name == "income" and report.worst.ks == 1.0 and report.worst.ks_pvalue == 0.0


def test_the_reference_is_json_bounded_seeded_and_has_the_label():
    big = frame(5000, seed=1)
    ref = ref_of(big)
    assert json.loads(json.dumps(ref)) == ref
    assert len(ref["features"]["age"]["sample"]) == SAMPLE_SIZE
    assert ref["features"]["age"]["sample"] == sorted(ref["features"]["age"]["sample"])
    assert ref_of(big) == ref and ref_of(big, seed=7)["features"]["age"]["sample"] != ref["features"]["age"]["sample"]
    assert ref["features"]["plan"]["kind"] == "categorical" and ref["features"]["visits"]["kind"] == "numeric"
    assert ref["label"]["name"] == "label" and set(ref["label"]["frequencies"]) == {"0", "1"}
    assert sum(ref["features"]["age"]["proportions"]) + ref["features"]["age"]["missing"] == pytest.approx(1.0)


def test_labels_read_back_as_floats_are_the_same_categories():
    ref = ref_of(frame(500, seed=1))
    current = frame(500, seed=2).astype({"label": float})
    assert drift_report(ref, current).label.psi < 0.05


def test_bad_input_is_named():
    ref = ref_of(frame(100, seed=1))
    with pytest.raises(ValueError, match=r"lacks the feature columns \['plan'\]"):
        drift_report(ref, frame(100, seed=2).drop(columns=["plan"]))
    with pytest.raises(ValueError, match="method must be one of psi, ks"):
        drift_report(ref, frame(100, seed=2), method="chi2")
    with pytest.raises(ValueError, match="'age' holds values that are not numbers"):
        drift_report(ref, frame(100, seed=2).assign(age="old"))
    with pytest.raises(ValueError, match="no rows"):
        drift_report(ref, frame(100, seed=2).iloc[:0])


def test_report_renders_and_fills_the_retrain_record():
    report = drift_report(ref_of(frame(2000, seed=1)), frame(2000, seed=3, shift=8.0).rename(
        columns={"label": "unused"}), "psi", 0.2)
    markdown, page = report.to_markdown(), report.to_html()
    assert markdown.startswith("## Data drift") and "| age | numeric |" in markdown
    assert "drift: worst feature age psi" in markdown
    assert "<td>age</td>" in page and 'class="drift"' in page
    assert report.label is None  # the data has no label column: no label distribution to compare
    record = RetrainRecord(reason="drift", at="2026-01-01T00:00:00Z", **report.record())
    assert record.feature == "age" and record.drifted and record.method == "psi"
    assert set(record.scores) == set(FEATURES) and record.psi == record.scores["age"]
    out = report.to_dict()
    assert out["drift"] is True and out["worst"]["feature"] == "age" and len(out["features"]) == 4
    assert json.loads(json.dumps(out)) == out


def test_html_escapes_feature_names():
    train = pd.DataFrame({"<b>x</b>": np.arange(20.0), "y": [0, 1] * 10})
    ref = reference(train, ["<b>x</b>"], "y", classifier=True, seed=0)
    assert "&lt;b&gt;x&lt;/b&gt;" in drift_report(ref, train).to_html()


def test_report_renders_exactly():
    from mlcd.drift import DriftReport, FeatureDrift

    age = FeatureDrift("age", "numeric", 0.31234, 0.25, 0.001, 0.31234, True)
    plan = FeatureDrift("pl|an", "categorical", 0.05, None, None, 0.05, False)
    label = FeatureDrift("y", "categorical", 0.01, None, None, 0.01, False)
    report = DriftReport("psi", 0.2, 100, 80, (plan, age), label)
    assert report.message() == "drift: worst feature age psi 0.3123 > 0.2"
    assert report.record() == {"psi": 0.31234, "ks": 0.25, "feature": "age", "message": report.message(),
                               "method": "psi", "threshold": 0.2, "drifted": True,
                               "scores": {"pl|an": 0.05, "age": 0.31234}}
    assert report.to_dict() == {
        "method": "psi", "threshold": 0.2, "drift": True, "message": report.message(), "rows": 100,
        "referenceRows": 80,
        "worst": {"feature": "age", "kind": "numeric", "psi": 0.31234, "ks": 0.25, "ksPValue": 0.001,
                  "score": 0.31234, "drifted": True},
        "features": [plan.to_dict(), age.to_dict()],
        "label": {"feature": "y", "kind": "categorical", "psi": 0.01, "ks": None, "ksPValue": None, "score": 0.01,
                  "drifted": False},
    }
    assert report.to_markdown() == (
        "## Data drift\n\n**drift: worst feature age psi 0.3123 > 0.2** (100 rows against 80 training rows)\n\n"
        "| feature | kind | PSI | KS | KS p-value |  |\n|---|---|---|---|---|---|\n"
        "| age | numeric | 0.3123 | 0.2500 | 0.0010 | drift |\n"
        "| pl\\|an | categorical | 0.0500 |  |  |  |\n"
        "| y (label) | categorical | 0.0100 |  |  |  |\n")
    page = report.to_html()
    assert ('<table><tr><th>feature</th><th>kind</th><th>PSI</th><th>KS</th><th>KS p-value</th><th></th></tr>'
            '<tr class="drift"><td>age</td><td>numeric</td><td>0.3123</td><td>0.2500</td><td>0.0010</td>'
            '<td>drift</td></tr><tr class=""><td>pl|an</td><td>categorical</td><td>0.0500</td><td></td><td></td>'
            '<td></td></tr><tr class=""><td>y (label)</td>') in page
    assert "<p><b>drift: worst feature age psi 0.3123 &gt; 0.2</b> (100 rows against 80 training rows)</p>" in page
    assert page.startswith('<!doctype html>\n<html><head><meta charset="utf-8"><title>mlcd data drift</title>')


def test_report_without_drift_or_features():
    from mlcd.drift import DriftReport, FeatureDrift

    calm = DriftReport("ks", 0.3, 10, 10, (FeatureDrift("a", "numeric", 0.1, 0.2, 0.5, 0.2, False),), None)
    assert calm.message() == "no drift: worst feature a ks 0.2000 <= 0.3"
    assert calm.to_dict()["label"] is None and calm.to_dict()["drift"] is False
    empty = DriftReport("psi", 0.2, 10, 10, (), None)
    assert empty.message() == "no features to compare"
    assert empty.record()["feature"] is None and empty.record()["psi"] is None and empty.record()["ks"] is None
    assert empty.to_dict()["worst"] is None


def test_the_reference_names_its_format_rows_and_seed_and_a_regressors_label_is_numeric_and_seeded():
    big = frame(3000, seed=1).assign(label=lambda f: f["age"] * 2.5)
    ref = reference(big, FEATURES, "label", classifier=False, seed=42)
    assert (ref["format"], ref["rows"], ref["seed"]) == (1, 3000, 42)
    assert ref["label"]["name"] == "label" and ref["label"]["kind"] == "numeric"
    assert len(ref["label"]["sample"]) == SAMPLE_SIZE
    assert ref == reference(big, FEATURES, "label", classifier=False, seed=42)
    # The label's sample is drawn from its own stream, not the one of the feature it is computed from.
    ages = np.asarray(ref["features"]["age"]["sample"])
    assert not np.allclose(np.asarray(ref["label"]["sample"]), ages * 2.5)


def test_unsigned_integers_are_numbers_and_booleans_are_categories():
    train = pd.DataFrame({"n": np.arange(10, dtype="uint8"), "b": [True, False] * 5, "y": [0, 1] * 5})
    ref = reference(train, ["n", "b"], "y", classifier=True, seed=0)["features"]
    assert ref["n"]["kind"] == "numeric" and ref["n"]["sample"] == [float(i) for i in range(10)]
    assert ref["b"] == {"kind": "categorical", "missing": 0.0, "frequencies": {"False": 0.5, "True": 0.5}}


def test_a_sample_is_drawn_without_replacement():
    values = pd.Series(np.arange(5000.0), name="x")
    sample = describe(values, [0, 1])["sample"]
    assert len(sample) == len(set(sample)) == SAMPLE_SIZE


def test_a_value_on_an_edge_falls_in_the_bin_below_it():
    # Deciles of 0..10 are exactly 1..9: every edge is a value, counted in the bin it closes, (e-1, e].
    ref = describe(pd.Series(np.arange(11.0)), 0)
    assert ref["edges"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert ref["proportions"] == pytest.approx([2 / 11] + [1 / 11] * 8 + [1 / 11])


def test_missing_values_are_a_share_of_all_rows_for_numbers_and_categories():
    numbers = describe(pd.Series([1.0, np.nan, np.inf, 4.0]), 0)
    assert numbers["missing"] == 0.5 and numbers["sample"] == [1.0, 4.0]
    assert sum(numbers["proportions"]) == 0.5
    # A column of numbers with pandas' NA in it (object dtype) is numeric with gaps, not an error.
    gaps = describe(pd.Series([1.0, pd.NA, 3.0, 4.0], dtype=object), 0, categorical=False)
    assert gaps["missing"] == 0.25 and gaps["sample"] == [1.0, 3.0, 4.0]
    categories = describe(pd.Series(["a", None, "b", "a"]), 0)
    assert categories == {"kind": "categorical", "missing": 0.25, "frequencies": {"a": 0.5, "b": 0.25}}


def test_one_row_is_all_of_the_data_and_an_empty_or_valueless_column_describes_as_nothing():
    assert describe(pd.Series([5.0]), 0) == {"kind": "numeric", "missing": 0.0, "edges": [5.0],
                                             "proportions": [1.0, 0.0], "sample": [5.0]}
    assert describe(pd.Series(["a"]), 0)["frequencies"] == {"a": 1.0}
    empty = {"kind": "numeric", "missing": 0.0, "edges": [], "proportions": [0.0], "sample": []}
    assert describe(pd.Series([], dtype=float), 0) == empty
    assert describe(pd.Series([np.nan, np.nan]), 0) == {**empty, "missing": 1.0}


def test_float_labels_are_integers_only_where_a_float_holds_every_integer():
    labels = describe(pd.Series([0.0, 1.0, 300.0, 1.0, np.nan]), 0, categorical=True)
    assert labels == {"kind": "categorical", "missing": 0.2, "frequencies": {"0": 0.2, "1": 0.4, "300": 0.2}}
    # Beyond 2**53 a whole float may not be the integer it reads as: such a column stays as written.
    for big in (1e16, 1e20):
        assert describe(pd.Series([1.0, big]), 0, categorical=True)["frequencies"] == {"1.0": 0.5, str(big): 0.5}


def test_ks_of_empty_samples():
    empty, some = np.array([]), np.array([1.0, 2.0])
    assert ks_2samp(empty, empty) == (0.0, 1.0)
    assert ks_2samp(some, empty) == (1.0, 0.0) and ks_2samp(empty, some) == (1.0, 0.0)


def test_a_category_the_new_data_lacks_counts_as_empty_and_psi_scores_categories_by_psi():
    ref = reference(pd.DataFrame({"c": ["a", "b"] * 5, "y": [0, 1] * 5}), ["c"], "y", classifier=True, seed=0)
    report = drift_report(ref, pd.DataFrame({"c": ["a"] * 4}))
    (c,) = report.features
    assert c.kind == "categorical" and c.name == "c"
    assert c.psi == pytest.approx(0.5 * math.log(2) + (EPSILON - 0.5) * math.log(EPSILON / 0.5))
    assert c.score == c.psi and c.drifted


def test_a_score_equal_to_the_threshold_is_no_drift():
    ref = ref_of(frame(500, seed=1))
    current = frame(500, seed=2, shift=3.0)
    for method in ("psi", "ks"):
        scores = {f.name: f.score for f in drift_report(ref, current, method, 0.2).features}
        for name in ("age", "plan"):
            at = drift_report(ref, current, method, scores[name])
            assert not next(f for f in at.features if f.name == name).drifted
            below = drift_report(ref, current, method, scores[name] * 0.999)
            assert next(f for f in below.features if f.name == name).drifted


def test_defaults_rows_and_the_label_compared_by_the_same_method():
    ref = ref_of(frame(400, seed=1))
    report = drift_report(ref, frame(300, seed=2))
    assert (report.method, report.threshold, report.rows, report.reference_rows) == ("psi", 0.2, 300, 400)
    assert report.label.name == "label" and report.label.kind == "categorical"
    assert report.label.score == report.label.psi
    # A reference written without its row count (by hand) reads as 0 training rows.
    assert drift_report({"features": ref["features"]}, frame(300, seed=2)).reference_rows == 0
    with pytest.raises(ValueError, match=r"^the data has no rows$"):
        drift_report(ref, frame(10, seed=2).iloc[:0])


def test_a_numeric_label_and_a_calm_numeric_feature_render_exactly():
    from mlcd.drift import DriftReport, FeatureDrift

    calm = FeatureDrift("age", "numeric", 0.01, 0.02, 0.9, 0.01, False)
    label = FeatureDrift("price", "numeric", 0.03, 0.04, 0.5, 0.03, False)
    report = DriftReport("psi", 0.2, 10, 20, (calm,), label)
    assert report.to_markdown().endswith(
        "| age | numeric | 0.0100 | 0.0200 | 0.9000 |  |\n| price (label) | numeric | 0.0300 | 0.0400 | 0.5000 |  |\n")
    assert report.to_html() == (
        '<!doctype html>\n<html><head><meta charset="utf-8"><title>mlcd data drift</title>'
        "<style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left}"
        "tr.drift{background:#fdd}</style></head><body>\n"
        "<h2>Data drift</h2>\n<p><b>no drift: worst feature age psi 0.0100 &lt;= 0.2</b> (10 rows against "
        "20 training rows)</p>\n<table><tr><th>feature</th><th>kind</th><th>PSI</th><th>KS</th><th>KS p-value</th>"
        '<th></th></tr><tr class=""><td>age</td><td>numeric</td><td>0.0100</td><td>0.0200</td><td>0.9000</td>'
        '<td></td></tr><tr class=""><td>price (label)</td><td>numeric</td><td>0.0300</td><td>0.0400</td>'
        "<td>0.5000</td><td></td></tr></table>\n</body></html>\n")
