"""`make mutate`: mutmut over the pure layers, one module at a time, and the kill rate of each file.

mutmut names a mutant by its file's path, and finds the tests that reach it by the module's import
name; both agree only when the package sits at the top of the folder it runs in. So each module is
mutated in its own copy under .mutate/NAME/ with mlcd/ and mlcd_components/ at the top, and only the
unit tests run against it (they need no server). Results stay there: `cd .mutate/NAME && mutmut
browse` shows the survivors.

Usage: python hack/mutate.py [NAME ...]   (names below; all by default). MLCD_MUTATE_WORKERS (default 1)
sets mutmut's --max-children: the machine is shared, and a mutation run is CPU-bound.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutate"
# module -> (files to mutate, the unit tests that exercise them)
MODULES = {
    "reconcile": (["mlcd/reconcile/*.py"],
                  ["test_trainingrun_plan", "test_retrain", "test_rollout", "test_runtime_check", "test_status",
                   "test_condition_messages", "test_vocabulary", "test_admission", "test_tenancy",
                   "test_rollout_status", "test_credentials", "test_champion", "test_retrain_status", "test_polling"]),
    "kserve": (["mlcd/kserve/*.py"],
               ["test_kserve_inferenceservice", "test_kserve_status", "test_rollout", "test_quantity"]),
    "compiler": (["mlcd/compiler/*.py"], ["test_compiler", "test_compiler_parts", "test_tuning",
                                              "golden/test_golden"]),
    "drift": (["mlcd/drift.py"], ["test_drift", "test_retrain"]),
    "steps": (["mlcd_components/gate.py", "mlcd_components/check_data.py"], ["test_gate", "test_check_data"]),
}
# Tests left out of a module's mutation run: they start another Python process to check that its bytes
# are the same (what they check is the process, not the compiler's logic), seconds per mutant.
DESELECTED = {
    "compiler": ["test_compiler.py::test_same_bytes_in_another_process",
                 "test_compiler.py::test_the_cli_writes_both_documents_with_the_same_bytes_in_another_process"],
}
# What the tests read besides their own folder (manifests, charts, README...): everything at the top.
NOT_COPIED = {".git", ".venv", ".mutate", ".mlcd", "operator", "components", "tests"}
# mutmut's exit-code vocabulary (mutmut/stats.py): what a test run of a mutant ended with.
KILLED = {1, 3, 24, -24, 36, 152, 255}
NOT_RUN = {None, 2, 34}


def stage(name: str) -> Path:
    """A copy of the sources with the packages at the top, and mutmut's settings for one module."""
    folder = WORK / name
    shutil.rmtree(folder / "mutants", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    packages = {"mlcd": ROOT / "operator" / "mlcd", "mlcd_components": ROOT / "components" / "mlcd_components"}
    for package, source in packages.items():
        shutil.rmtree(folder / package, ignore_errors=True)
        shutil.copytree(source, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(folder / "tests", ignore_errors=True)
    shutil.copytree(ROOT / "tests", folder / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    others = sorted(p.name for p in ROOT.iterdir() if p.name not in NOT_COPIED and p.name != "pyproject.toml")
    for entry in others:
        if not (folder / entry).is_symlink():
            (folder / entry).symlink_to(ROOT / entry)
    patterns, tests = MODULES[name]
    settings = {
        "source_paths": ["mlcd", "mlcd_components"],
        "only_mutate": patterns,
        "also_copy": others,
        # A name is a module of tests/unit/, or a path under tests/ ("golden/test_golden").
        "pytest_add_cli_args_test_selection": [f"tests/{test if '/' in test else 'unit/' + test}.py" for test in tests],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q",
                                *(f"--deselect=tests/unit/{test}" for test in DESELECTED.get(name, []))],
    }
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    (folder / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + f"\n[tool.mutmut]\n{table}\n")
    return folder


def outcomes(folder: Path) -> dict[str, Counter]:
    """Killed / survived / untested mutants of each mutated file, from mutmut's .meta files."""
    found: dict[str, Counter] = {}
    for meta in sorted((folder / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {}).values()
        count = Counter()
        for code in codes:
            if code in NOT_RUN:
                count["not run"] += 1
            elif code in KILLED:
                count["killed"] += 1
            elif code in (5, 33):
                count["no tests"] += 1
            else:
                count["survived"] += 1
        if codes:
            found[str(meta.relative_to(folder / "mutants")).removesuffix(".meta")] = count
    return found


def report(name: str, found: dict[str, Counter]) -> tuple[int, int]:
    total_killed = total = 0
    for path, count in found.items():
        checked = count["killed"] + count["survived"] + count["no tests"]
        rate = count["killed"] / checked if checked else 0.0
        print(f"{name:10} {path:45} killed {count['killed']:4} of {checked:4}  {rate:6.1%}"
              f"  (survived {count['survived']}, no tests {count['no tests']}, not run {count['not run']})")
        total_killed, total = total_killed + count["killed"], total + checked
    return total_killed, total


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"unknown module {unknown}; expected some of {', '.join(MODULES)}", file=sys.stderr)
        return 2
    workers = os.environ.get("MLCD_MUTATE_WORKERS", "1")
    mutmut = Path(sys.executable).with_name("mutmut")
    summary = []
    for name in names or list(MODULES):
        folder = stage(name)
        done = subprocess.run([str(mutmut), "run", "--max-children", workers], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print(f"{name}: mutmut failed ({done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        summary.append((name, *report(name, outcomes(folder))))
    print()
    for name, killed, total in summary:
        print(f"{name:10} kill rate {killed / total if total else 0:6.1%} ({killed} of {total} mutants)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
