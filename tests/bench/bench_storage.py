"""Storage figures: the registry round trip and a 100,000-row CSV read, on S3 (SeaweedFS) vs file://.

Run as a script (``python tests/bench/bench_storage.py [--repeat N]``); it starts and stops its own
S3 server on 127.0.0.1. It prints medians and ratios and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# Run as a script, this file's folder is on sys.path, not the repository: the S3 server helper lives there.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import joblib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402

from mlcd.storage import open_registry, read_dataset  # noqa: E402
from tests.bench.timing import bench_line, median_seconds  # noqa: E402
from tests.integration import s3server  # noqa: E402

ROWS = 100_000


def registry_round_trip(uri: str, model: Path, repeat: int) -> dict[str, float]:
    registry = open_registry(uri)
    registered = []
    figures = {"register": median_seconds(lambda: registered.append(registry.register(model, {})), repeat)}
    figures["load"] = median_seconds(lambda: registry.load_model(registered[-1].version), repeat)
    figures["promote"] = median_seconds(
        lambda: registry.set_champion(registered[-1].version, "bench"), repeat
    )
    figures["round trip"] = sum(figures.values())
    return figures


def write_model(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    features, labels = rng.normal(size=(2_000, 8)), rng.integers(0, 3, size=2_000)
    path = folder / "model.joblib"
    joblib.dump(
        RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(features, labels), path
    )
    return path


def write_csv(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 8)), columns=[f"x{i}" for i in range(8)])
    frame["target"] = rng.integers(0, 3, size=ROWS)
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return path


def print_table(title: str, s3: dict[str, float], local: dict[str, float]) -> None:
    print(f"\n{title}")
    print(f"  {'operation':<12} {'s3 (ms)':>10} {'file (ms)':>10} {'s3/file':>8}")
    for name in s3:
        ratio = s3[name] / local[name]
        print(f"  {name:<12} {s3[name] * 1000:>10.1f} {local[name] * 1000:>10.1f} {ratio:>8.1f}")
        key = f"storage-{title.split(',')[0].replace(' ', '-')}-{name.replace(' ', '-')}"
        bench_line(f"{key}-s3-ms", s3[name] * 1000, "ms")
        bench_line(f"{key}-s3-vs-file-ratio", ratio, "x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions per operation (median)")
    repeat = parser.parse_args().repeat
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-") as scratch:
        folder = Path(scratch)
        server = s3server.start(folder / "s3")
        try:
            os.environ.update(server.env())
            bucket = server.create_bucket("bench")
            model, csv = write_model(folder), write_csv(folder)
            server.client().fput_object(bucket, "data.csv", str(csv))
            print(
                f"model.joblib {model.stat().st_size / 1e6:.2f} MB",
                f"data.csv {csv.stat().st_size / 1e6:.2f} MB",
            )
            print_table(
                f"registry round trip, median of {repeat}",
                registry_round_trip(f"s3://{bucket}/models", model, repeat),
                registry_round_trip((folder / "registry").as_uri(), model, repeat),
            )
            print_table(
                f"read {ROWS:,}-row CSV, median of {repeat}",
                {"read": median_seconds(lambda: read_dataset(f"s3://{bucket}/data.csv"), repeat)},
                {"read": median_seconds(lambda: read_dataset(csv.as_uri()), repeat)},
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
