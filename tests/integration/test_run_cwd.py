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


def wide_spec(tmp_path: Path, list_features: bool = False) -> Path:
    """A TrainingRun on a CSV of 4,000 feature columns with long names, listed in spec.data.features or not."""
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
        "spec": {"data": {"source": data.as_uri(), **({"features": list(columns)} if list_features else {})},
                 "model": {"estimator": "LogisticRegression"}},
    }))
    return spec


def test_a_dataset_of_4000_columns_runs(tmp_path):
    """Step inputs that grow with the columns travel as files: 4,000 columns once gave "Argument list too long"."""
    spec = wide_spec(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "mlcd", "run", str(spec)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MLCD_HOME": str(tmp_path / "home")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "phase: Succeeded" in proc.stdout
    assert f"model: {(tmp_path / 'home' / 'registry' / 'wide' / 'v1').as_uri()} (version 1)" in proc.stdout


def test_4000_listed_columns_are_refused_before_the_run_starts(tmp_path):
    """Listed, the same 4,000 columns would be a step's command-line argument of 133 KiB (Linux takes 128 KiB):
    validate and run refuse them with the field's path instead of failing with "Argument list too long"."""
    spec = wide_spec(tmp_path, list_features=True)
    expected = (f"{spec}: spec.data.features: 4,000 columns listed (133 KiB); KFP passes them to steps on their "
                "command line, which holds at most 32 KiB of them: leave spec.data.features empty to use every "
                "column but the target")
    for command in ("validate", "run"):
        proc = subprocess.run([sys.executable, "-m", "mlcd", command, str(spec)], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "MLCD_HOME": str(tmp_path / "home")})
        assert (command, proc.returncode) == (command, 2), proc.stdout + proc.stderr
        assert expected in proc.stderr.splitlines(), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "home" / "registry").exists()
