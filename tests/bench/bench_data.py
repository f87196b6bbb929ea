"""Training data paths at scale: `mlcd run` on 1,000,000 rows x 20 features against the bare script.

    python tests/bench/bench_data.py [--rows 1000000]

A Parquet file of make_classification rows (20 features, seed 0) in a temporary folder, read by a
TrainingRun from file:// and by tests/bench/bare_iris.py --parquet; both train a
DecisionTreeClassifier (max_depth 8, seed 42) on the same stratified split and print the same
metrics, compared here to prove it. One run each, whole processes: wall time, and peak memory as
the peak of the whole process tree's summed PSS (mlcd runs a zygote and forked steps beside its
main process) and the largest single process's max RSS. Figures and ratios, no asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_foundation import SAMPLE, Target, bare, metrics_of, mlcd_run  # noqa: E402
from tests.bench.timing import bench_line  # noqa: E402

FEATURES = 20
MAX_DEPTH = 8


def dataset(scratch: Path, rows: int) -> tuple[Path, Path]:
    """The Parquet file and a TrainingRun reading it, trained like the bare script trains."""
    import pandas as pd
    from sklearn.datasets import make_classification

    features, labels = make_classification(n_samples=rows, n_features=FEATURES, random_state=0)
    frame = pd.DataFrame(features, columns=[f"x{i:02d}" for i in range(FEATURES)])
    frame["label"] = labels
    parquet = scratch / "rows.parquet"
    frame.to_parquet(parquet, index=False)
    document = yaml.safe_load(SAMPLE.read_text())
    document["metadata"]["name"] = "rows"
    document["spec"]["data"]["source"] = parquet.as_uri()
    document["spec"]["data"]["target"] = "label"
    document["spec"]["model"] = {"estimator": "DecisionTreeClassifier", "params": {"max_depth": MAX_DEPTH}}
    # A gate it passes, so that it registers like the bare script saves; no hand-off, which the bare
    # script has no counterpart for.
    document["spec"]["gates"] = [{"metric": "accuracy", "min": 0.5}]
    document["spec"].pop("deploy", None)
    trainingrun = scratch / "rows-trainingrun.yaml"
    trainingrun.write_text(yaml.safe_dump(document, sort_keys=False))
    return parquet, trainingrun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-data-") as name:
        scratch = Path(name)
        parquet, trainingrun = dataset(scratch, args.rows)
        run = Target("mlcd run", mlcd_run(trainingrun), 1)
        script = Target("bare script", bare("--parquet", str(parquet), "--target", "label",
                                            "--estimator", "DecisionTreeClassifier", "--max-depth", str(MAX_DEPTH)), 1)
        for target in (run, script):
            target.samples.append(target.once(scratch, 0))
        mine, theirs = run.samples[0], script.samples[0]
        same = metrics_of(run) == metrics_of(script)
    rows = f"{args.rows:,} rows x {FEATURES} features"
    print(f"\n{rows}, DecisionTreeClassifier(max_depth={MAX_DEPTH}), one run each; same metrics: "
          f"{'yes' if same else 'NO'}")
    print(f"{'':<14} {'time':>8} {'tree PSS peak':>14} {'largest max RSS':>16}")
    for label, sample in (("mlcd run", mine), ("bare script", theirs)):
        print(f"{label:<14} {sample.seconds:>6.2f} s {sample.tree_pss_mb:>11.0f} MB {sample.max_rss_mb:>13.0f} MB")
    time_ratio, memory_ratio = mine.seconds / theirs.seconds, mine.tree_pss_mb / theirs.tree_pss_mb
    print(f"mlcd run / bare: time {time_ratio:.2f}x (aim <= 1.2x), peak memory {memory_ratio:.2f}x (aim <= 1.5x)")
    label = f"mlcd-run-{args.rows // 1000}k"
    bench_line(f"{label}-seconds", mine.seconds, "s")
    bench_line(f"{label}-time-ratio", time_ratio, "x", "<=", 1.2)
    bench_line(f"{label}-peak-mb", mine.tree_pss_mb, "MB")
    bench_line(f"{label}-memory-ratio", memory_ratio, "x", "<=", 1.5)


if __name__ == "__main__":
    main()
