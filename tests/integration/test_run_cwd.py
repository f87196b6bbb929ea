"""Steps never import from the user's working directory (issue 15): a folder holding a directory named
`mlcd` (the parent of a checkout, say) must not shadow the installed package in any step."""

import os
import subprocess
import sys
from pathlib import Path

import yaml


def test_mlcd_run_from_a_folder_holding_a_directory_named_mlcd(tmp_path):
    work = tmp_path / "work"
    (work / "mlcd").mkdir(parents=True)
    (work / "mlcd_components").mkdir()
    (work / "sklearn").mkdir()
    spec = work / "iris.yaml"
    spec.write_text(yaml.safe_dump({
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "iris"},
        "spec": {"data": {"source": "builtin://iris"},
                 "model": {"estimator": "LogisticRegression", "params": {"max_iter": 500}}},
    }))
    mlcd = Path(sys.executable).parent / "mlcd"
    proc = subprocess.run([str(mlcd), "run", "iris.yaml"], cwd=work, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MLCD_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "phase: Succeeded" in proc.stdout
    assert f"model: {(tmp_path / 'home' / 'registry' / 'iris' / 'v1').as_uri()} (version 1)" in proc.stdout


def test_a_dataset_of_4000_columns_runs(tmp_path):
    """Step inputs that grow with the columns travel as files: 4,000 columns once gave "Argument list too long"."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    columns = {f"feature_with_a_long_name_{i:05d}": rng.normal(size=60) for i in range(4000)}
    frame = pd.DataFrame(columns).assign(target=np.arange(60) % 2)
    data = tmp_path / "wide.csv"
    frame.to_csv(data, index=False)
    spec = tmp_path / "wide.yaml"
    spec.write_text(yaml.safe_dump({
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "wide"},
        "spec": {"data": {"source": data.as_uri()}, "model": {"estimator": "LogisticRegression"}},
    }))
    proc = subprocess.run([sys.executable, "-m", "mlcd", "run", str(spec)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MLCD_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "phase: Succeeded" in proc.stdout
    assert f"model: {(tmp_path / 'home' / 'registry' / 'wide' / 'v1').as_uri()} (version 1)" in proc.stdout
