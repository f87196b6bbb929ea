"""The layers stay layered: import-linter's contracts from pyproject.toml, indirect imports included."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_every_import_contract_is_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in done.stdout


def test_contracts_check_indirect_imports_and_cover_the_steps():
    assert CONFIG["root_packages"] == ["mlcd", "mlcd_components"]
    assert not any(c.get("allow_indirect_imports") for c in CONFIG["contracts"])
    (layers,) = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    assert layers["layers"] == ["mlcd.cli", "mlcd.handlers", "mlcd.reconcile", "mlcd.compiler | mlcd.kserve",
                                "mlcd_components", "mlcd.api"]
