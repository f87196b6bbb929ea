"""The layers stay layered: import-linter's contracts from pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pure_layers_import_neither_kopf_nor_api_clients():
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Pure layers import neither kopf nor API clients KEPT" in done.stdout
    assert "Only handlers import kopf KEPT" in done.stdout
