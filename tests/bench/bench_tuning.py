"""A 24-candidate hyperparameter search: `mlcd run` (KFP's local runner fanning tune steps out) against
GridSearchCV(n_jobs=2) in one plain process (tests/bench/bare_search.py).

    python tests/bench/bench_tuning.py

The same search on both sides: RandomForestClassifier on breast_cancer, a grid of 24 (n_estimators x
max_depth x min_samples_leaf), 5 shuffled stratified folds with one seed, accuracy. mlcd runs 2 tune
steps at once (the local runner's width), each fitting with one process (its cpu request of 1), so
both sides use two cores. Whole-process wall time, one run each; the best candidates are compared to
show it is the same work. Figures and the ratio are printed; nothing is asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's root

from tests.bench.timing import bench_line  # noqa: E402

HERE = Path(__file__).resolve().parent
MLCD = Path(sys.executable).with_name("mlcd")
SPEC = {
    "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "search-bench"},
    "spec": {
        "data": {"source": "builtin://breast_cancer", "seed": 11, "testFraction": 0.2},
        "model": {"estimator": "RandomForestClassifier"},
        "gates": [{"metric": "accuracy", "min": 0.5}],
        "tuning": {"parameters": {"n_estimators": {"values": [50, 100]},
                                  "max_depth": {"values": [2, 4, 8, None]},
                                  "min_samples_leaf": {"values": [1, 3, 5]}},
                   "folds": 5, "parallelism": 2},
        "resources": {"train": {"requests": {"cpu": "1"}}},
    },
}


def timed(command: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    return time.perf_counter() - start, done


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-tuning-") as tmp:
        spec = Path(tmp) / "search.yaml"
        spec.write_text(yaml.safe_dump(SPEC))
        env = {**os.environ, "MLCD_HOME": str(Path(tmp) / "home")}
        # The estimator catalog is cached once per MLCD_HOME by any mlcd command: not part of the search.
        subprocess.run([str(MLCD), "validate", str(spec)], check=True, capture_output=True, env=env)
        bare_seconds, bare = timed([sys.executable, str(HERE / "bare_search.py"), str(spec),
                                    str(Path(tmp) / "bare.json")], env)
        mlcd_seconds, run = timed([str(MLCD), "run", str(spec), "--json", "-q"], env)
        if bare.returncode != 0 or run.returncode != 0:
            print(bare.stderr[-2000:], run.stderr[-2000:], file=sys.stderr)
            return 1
        baseline = json.loads((Path(tmp) / "bare.json").read_text())
        result = json.loads(run.stdout)
    tuning = result["tuning"]
    same = {k: str(v) for k, v in tuning["best"].items()} == {k: str(v) for k, v in baseline["best"].items()}
    print(f"search of {len(tuning['trials'])} candidates x {SPEC['spec']['tuning']['folds']} folds "
          f"(RandomForestClassifier, breast_cancer), one run each, whole process:")
    print(f"  GridSearchCV(n_jobs=2), one process   {bare_seconds:7.2f} s  best {baseline['best']} "
          f"cv accuracy {baseline['score']:.4f}")
    print(f"  mlcd run (2 tune steps at once)        {mlcd_seconds:7.2f} s  best {tuning['best']} "
          f"cv accuracy {tuning['score']:.4f}")
    print(f"  ratio mlcd / GridSearchCV             {mlcd_seconds / bare_seconds:7.2f} x  (aim <= 1.5); "
          f"same best candidate: {'yes' if same else 'NO'}")
    bench_line("tuning-seconds", mlcd_seconds, "s")
    bench_line("tuning-vs-gridsearchcv-ratio", mlcd_seconds / bare_seconds, "x", "<=", 1.5)
    steps = {s["name"]: s["seconds"] for s in result["steps"]}
    print("  mlcd steps: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in steps.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
