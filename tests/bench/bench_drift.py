"""Drift figures: mlcd's drift check on 100,000 rows x 20 features against scipy's KS test alone.

Run as a script (``python tests/bench/bench_drift.py [--repeat N]``). mlcd's report computes, per
feature, PSI over ten quantile bins and the two-sample KS statistic and p-value; scipy does the KS
test only, called once per feature on the same arrays (the champion's 1,000-value reference sample
and the 100,000 current values). It prints medians and a ratio and asserts nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's root

from mlcd.drift import drift_report, reference  # noqa: E402
from tests.bench.timing import bench_line, median_seconds  # noqa: E402

ROWS = 100_000
FEATURES = 20


def data(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {f"f{i:02d}": rng.normal(i, 1 + i / 10, ROWS) for i in range(FEATURES)}
    columns["f07"] = columns["f07"] + shift
    frame = pd.DataFrame(columns)
    frame["label"] = rng.integers(0, 3, ROWS)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed repetitions (median)")
    repeat = parser.parse_args().repeat
    names = [f"f{i:02d}" for i in range(FEATURES)]
    train, current = data(seed=1), data(seed=2, shift=0.3)
    ref = reference(train, names, "label", classifier=True, seed=42)
    samples = {name: np.asarray(ref["features"][name]["sample"]) for name in names}

    def scipy_ks() -> list:
        return [stats.ks_2samp(samples[name], current[name].to_numpy()) for name in names]

    figures = {
        "mlcd drift_report, psi": median_seconds(lambda: drift_report(ref, current, "psi", 0.2), repeat),
        "mlcd drift_report, ks": median_seconds(lambda: drift_report(ref, current, "ks", 0.1), repeat),
        f"scipy ks_2samp x {FEATURES}": median_seconds(scipy_ks, repeat),
        "mlcd reference (at training)": median_seconds(
            lambda: reference(train, names, "label", classifier=True, seed=42), repeat
        ),
    }
    report = drift_report(ref, current, "ks", 0.1)
    worst = report.worst
    print(f"drift check on {ROWS:,} rows x {FEATURES} features, median of {repeat}")
    for name, seconds in figures.items():
        print(f"  {name:<30} {seconds * 1000:>8.1f} ms")
    ratio = figures["mlcd drift_report, ks"] / figures[f"scipy ks_2samp x {FEATURES}"]
    print(f"  mlcd (PSI + KS) / scipy (KS only): {ratio:.2f}")
    check = stats.ks_2samp(samples[worst.name], current[worst.name]).statistic
    print(f"  worst feature {worst.name}: ks {worst.ks:.4f} (scipy {check:.4f})")
    for name, seconds in figures.items():
        bench_line("drift-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"), seconds * 1000, "ms")
    bench_line("drift-ks-vs-scipy-ratio", ratio, "x")


if __name__ == "__main__":
    main()
