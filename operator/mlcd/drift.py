"""Data drift: statistics of the data a model was trained on, and how far new data has moved from them.

Pure (numpy and pandas): the check-data step stores `reference(...)` in a model's metadata at
registration; the operator and `mlcd drift` compare new data with it through `drift_report(...)`.

A numeric feature is summarised by quantile bins of its training values (for PSI) and a seeded
sample of them (for the Kolmogorov-Smirnov test); a categorical one by its category shares. Every
share is of all rows, and `missing` (no value, or a non-finite one) is a bin of its own, so a column
that starts arriving empty drifts too.
"""

from __future__ import annotations

import html
import math
import os
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

FORMAT = 1
BINS = 10
SAMPLE_SIZE = 1000
# PSI takes ln(current / reference) per bin, undefined for an empty bin: every share is floored at
# 0.0001 (0.01 %), the customary choice, so a bin that empties or fills from nothing scores high but finite.
EPSILON = 1e-4
METHODS = ("psi", "ks")


def reference(frame: pd.DataFrame, features: list[str], target: str, *, classifier: bool, seed: int) -> dict:
    """The statistics of a training set that later data is compared with (JSON-ready).

    The columns are described on a thread per core: most of the work is numpy's sort, which lets go of
    the GIL (800,000 rows x 20 on 2 cores: 0.96 s -> 0.51 s). Each column has its own seed, so the
    result does not depend on the order the threads finish in."""
    from concurrent.futures import ThreadPoolExecutor

    def one(name: str) -> dict:
        return describe(frame[name], _seed(seed, name))

    with ThreadPoolExecutor(max_workers=max(1, min(len(features), os.cpu_count() or 1))) as pool:
        described = dict(zip(features, pool.map(one, features), strict=True))
    return {
        "format": FORMAT,
        "rows": len(frame),
        "seed": seed,
        "features": described,
        "label": {"name": target, **describe(frame[target], _seed(seed, target), categorical=classifier)},
    }


def _seed(seed: int, name: str) -> list[int]:
    # One stream per column: with one seed for all, every column's sample would take the same rank
    # positions of its sorted values, and the sampling errors of the features would move together.
    return [seed, zlib.crc32(name.encode())]


def describe(column: pd.Series, seed: int | list[int], categorical: bool | None = None) -> dict:
    """Numeric or categorical by the column's type unless told (a classifier's label is categorical)."""
    if categorical is None:
        categorical = column.dtype.kind not in ("i", "u", "f")  # booleans are categories
    if categorical:
        shares, missing = _category_shares(column)
        return {"kind": "categorical", "missing": missing, "frequencies": shares}
    values, missing = _finite_sorted(column)
    edges = np.unique(np.quantile(values, np.arange(1, BINS) / BINS)) if len(values) else np.array([])
    # All of them when there are no more than SAMPLE_SIZE (sorted again, they are the values themselves).
    sample = np.sort(np.random.default_rng(seed).choice(values, min(len(values), SAMPLE_SIZE), replace=False))
    return {
        "kind": "numeric",
        "missing": missing,
        "edges": edges.tolist(),
        "proportions": (_bin_counts(values, edges) / max(len(column), 1)).tolist(),
        "sample": sample.tolist(),
    }


def _finite_sorted(column: pd.Series) -> tuple[np.ndarray, float]:
    """The finite values in order, and the share of rows without one."""
    try:
        values = column.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(f"column {column.name!r} holds values that are not numbers") from None
    finite = np.sort(values[np.isfinite(values)])
    return finite, (1.0 - len(finite) / len(values)) if len(values) else 0.0


def _bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in the bins (-inf, e0], (e0, e1], ..., (e_last, inf): one lookup per edge, not per value."""
    below = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate(([0], below, [len(sorted_values)])))


def _category_shares(column: pd.Series) -> tuple[dict[str, float], float]:
    rows = max(len(column), 1)
    values = column.dropna()
    if values.dtype.kind == "f" and values.eq(values.round()).all() and values.abs().lt(2**53).all():
        # Labels 0/1 read back as 0.0/1.0 (a CSV column with a gap) are the same categories.
        values = values.astype("int64")
    counts = values.value_counts()
    # Counted first, named after: the keys become JSON strings, where 1 and "1" are one category.
    counts = counts.groupby(counts.index.map(str)).sum()
    return {k: int(v) / rows for k, v in sorted(counts.items())}, (len(column) - len(values)) / rows


def psi(reference_shares, current_shares) -> float:
    """Population stability index: sum over bins of (current - reference) * ln(current / reference)."""
    ref = np.maximum(reference_shares, EPSILON)
    cur = np.maximum(current_shares, EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def ks_2samp(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov statistic and its asymptotic p-value; a and b sorted.

    Both empirical CDFs are step functions, so the largest gap opens at a step of `a` (just before
    it or at it) or is matched there: evaluating both CDFs at a's points only takes len(a) lookups
    into b, instead of evaluating them at every point of both samples.
    """
    n, m = len(a), len(b)
    if not n or not m:
        return (0.0, 1.0) if n == m else (1.0, 0.0)
    before = np.searchsorted(b, a) / m - np.searchsorted(a, a) / n
    at = np.searchsorted(a, a, side="right") / n - np.searchsorted(b, a, side="right") / m
    # At a's last point its CDF is 1, so `at` is never all negative: d >= 0.
    d = float(max(before.max(), at.max()))
    return d, kolmogorov_sf(d, n * m / (n + m))


def kolmogorov_sf(d: float, effective_n: float) -> float:
    """P(D > d) from Kolmogorov's limiting distribution, with Stephens' small-sample correction of the
    argument. Two series of the same function: each converges in a few terms on its own side of 1."""
    root = math.sqrt(effective_n)
    lam = (root + 0.12 + 0.11 / root) * d
    if lam <= 0:
        return 1.0
    k = np.arange(1, 12)  # pragma: no mutate (a 12th term is below double precision in either series)
    if lam < 1:  # pragma: no mutate (both series are exact around 1: where they switch is a matter of speed)
        tail = math.sqrt(2 * math.pi) / lam * np.sum(np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * lam * lam)))
        return float(1.0 - tail)
    return float(-2 * np.sum((-1.0) ** k * np.exp(-2 * k * k * lam * lam)))


@dataclass(frozen=True)
class FeatureDrift:
    name: str
    kind: str  # numeric | categorical
    psi: float
    ks: float | None  # numeric only
    ks_pvalue: float | None
    score: float  # what the method judges: psi, or for ks the KS statistic (total variation for categories)
    drifted: bool

    def to_dict(self) -> dict:
        return {"feature": self.name, "kind": self.kind, "psi": self.psi, "ks": self.ks, "ksPValue": self.ks_pvalue,
                "score": self.score, "drifted": self.drifted}


def compare(name: str, ref: dict, column: pd.Series, method: str, threshold: float) -> FeatureDrift:
    if ref["kind"] == "categorical":
        shares, missing = _category_shares(column)
        categories = sorted(set(ref["frequencies"]) | set(shares))
        ref_shares = [ref["frequencies"].get(c, 0.0) for c in categories] + [ref["missing"]]
        cur_shares = [shares.get(c, 0.0) for c in categories] + [missing]
        value = psi(ref_shares, cur_shares)
        # A category has no order, so no CDF: its KS analogue is the largest gap in probability over all
        # sets of categories, the total variation distance, which lies in [0, 1] like the KS statistic.
        score = value if method == "psi" else 0.5 * float(np.abs(np.subtract(ref_shares, cur_shares)).sum())
        return FeatureDrift(name, "categorical", value, None, None, score, score > threshold)
    values, missing = _finite_sorted(column)
    edges = np.asarray(ref["edges"])
    current_shares = np.append(_bin_counts(values, edges) / len(column), missing)
    value = psi(np.append(ref["proportions"], ref["missing"]), current_shares)
    d, p = ks_2samp(np.asarray(ref["sample"]), values)
    score = value if method == "psi" else d
    return FeatureDrift(name, "numeric", value, d, p, score, score > threshold)


@dataclass(frozen=True)
class DriftReport:
    method: str
    threshold: float
    rows: int
    reference_rows: int
    features: tuple[FeatureDrift, ...]
    label: FeatureDrift | None  # for information: a shift of the labels alone decides nothing

    @property
    def worst(self) -> FeatureDrift | None:
        return max(self.features, key=lambda f: f.score, default=None)

    @property
    def drifted(self) -> bool:
        return any(f.drifted for f in self.features)

    def message(self) -> str:
        worst = self.worst
        if worst is None:
            return "no features to compare"
        verdict = "drift" if self.drifted else "no drift"
        relation = ">" if worst.drifted else "<="
        return f"{verdict}: worst feature {worst.name} {self.method} {worst.score:.4f} {relation} {self.threshold:g}"

    def record(self) -> dict:
        """The fields of status.lastRetrain (RetrainRecord) this report fills, by attribute name."""
        worst = self.worst
        return {
            "psi": worst.psi if worst else None, "ks": worst.ks if worst else None,
            "feature": worst.name if worst else None, "message": self.message(), "method": self.method,
            "threshold": self.threshold, "drifted": self.drifted, "scores": {f.name: f.score for f in self.features},
        }

    def to_dict(self) -> dict:
        worst = self.worst
        return {
            "method": self.method, "threshold": self.threshold, "drift": self.drifted, "message": self.message(),
            "rows": self.rows, "referenceRows": self.reference_rows, "worst": worst.to_dict() if worst else None,
            "features": [f.to_dict() for f in self.features], "label": self.label.to_dict() if self.label else None,
        }

    def _rows(self) -> list[list[str]]:
        def cell(value: float | None) -> str:
            return "" if value is None else f"{value:.4f}"

        rows = [[f.name, f.kind, cell(f.psi), cell(f.ks), cell(f.ks_pvalue), "drift" if f.drifted else ""]
                for f in sorted(self.features, key=lambda f: -f.score)]
        if self.label:
            f = self.label
            rows.append([f"{f.name} (label)", f.kind, cell(f.psi), cell(f.ks), cell(f.ks_pvalue), ""])
        return rows

    _HEADER = ("feature", "kind", "PSI", "KS", "KS p-value", "")

    def to_markdown(self) -> str:
        lines = [
            "## Data drift", "",
            f"**{self.message()}** ({self.rows} rows against {self.reference_rows} training rows)", "",
            "| " + " | ".join(self._HEADER) + " |", "|" + "---|" * len(self._HEADER),
        ]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in self._rows()]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join(
            f'<tr class="{"drift" if row[-1] else ""}">' + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self._rows()
        )
        return (
            '<!doctype html>\n<html><head><meta charset="utf-8"><title>mlcd data drift</title>'
            "<style>body{font-family:sans-serif}td,th{padding:2px 10px;text-align:left}"
            "tr.drift{background:#fdd}</style></head><body>\n"
            f"<h2>Data drift</h2>\n<p><b>{html.escape(self.message())}</b> ({self.rows} rows against "
            f"{self.reference_rows} training rows)</p>\n<table><tr>{head}</tr>{body}</table>\n</body></html>\n"
        )


def drift_report(reference: dict, current: pd.DataFrame, method: str = "psi", threshold: float = 0.2) -> DriftReport:
    """Compare `current` with a model's reference statistics. Raises ValueError, naming what is wrong,
    when the method is unknown or the data lacks a feature or has no rows."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    features = reference.get("features") or {}
    absent = [name for name in features if name not in current.columns]
    if absent:
        raise ValueError(f"the data lacks the feature columns {absent}; its columns are {list(current.columns)}")
    if current.empty:
        raise ValueError("the data has no rows")
    scores = tuple(compare(name, ref, current[name], method, threshold) for name, ref in features.items())
    label_ref = reference.get("label") or {}
    label = None
    if label_ref.get("name") in current.columns:
        label = compare(label_ref["name"], label_ref, current[label_ref["name"]], method, threshold)
    return DriftReport(method, threshold, len(current), int(reference.get("rows", 0)), scores, label)
