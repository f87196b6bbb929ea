"""The mlcd command line: messages as FILE: spec.path: message, exit codes as DESIGN.md says."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlcd.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "manifests" / "samples").glob("*.yaml"))


def test_samples_validate(capsys):
    assert main(["validate", *map(str, SAMPLES)]) == 0
    out = capsys.readouterr().out
    assert all(f"{p}: valid" in out for p in SAMPLES)


def test_problems_are_printed_per_file_with_paths(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "x"},
        "spec": {"data": {"source": "builtin://iris", "testFraction": 2},
                 "model": {"estimator": "RandomForestClassifier", "params": {"n_estimatorz": 3}}}}))
    assert main(["validate", str(bad), str(SAMPLES[0])]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{bad}: spec.data.testFraction: Input should be less than 1",
        f"{bad}: spec.model.params.n_estimatorz: not a parameter of RandomForestClassifier; "
        "did you mean n_estimators?",
    ]


def test_malformed_yaml_names_the_line(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("apiVersion: mlcd.io/v1alpha1\nkind: TrainingRun\nspec:\n  data: [unclosed\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: malformed YAML at line 5")


def test_a_file_of_the_wrong_kind(tmp_path, capsys):
    other = tmp_path / "deploy.yaml"
    other.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n")
    assert main(["validate", str(other)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{other}: kind: 'Deployment' is not an mlcd resource; expected TrainingRun or ModelDeployment")


def test_a_missing_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the file: No such file or directory" in capsys.readouterr().err


def test_run_of_an_invalid_file_exits_2_with_json(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
                                   "spec": {"data": {"source": "builtin://iris"}, "model": {"estimator": "Nope"}}}))
    assert main(["run", "--json", str(bad)]) == 2
    out = capsys.readouterr().out
    assert '"phase": "Invalid"' in out and "spec.model.estimator" in out


def test_compile_writes_the_ir(tmp_path, capsys):
    out = tmp_path / "iris.ir.yaml"
    assert main(["compile", str(ROOT / "manifests/samples/iris-trainingrun.yaml"), "-o", str(out)]) == 0
    ir, platform = yaml.safe_load_all(out.read_text())
    assert ir["pipelineInfo"]["name"] == "mlcd-training"
    assert "kubernetes" in platform["platforms"]  # the steps' timeouts
    assert "sha256:" in capsys.readouterr().err


def test_compile_refuses_a_modeldeployment(capsys):
    assert main(["compile", str(ROOT / "manifests/samples/iris-modeldeployment.yaml")]) == 2
    assert "kind: expected a TrainingRun" in capsys.readouterr().err


def test_crds_print_both_definitions(capsys):
    assert main(["crds"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["metadata"]["name"] for d in docs] == ["trainingruns.mlcd.io", "modeldeployments.mlcd.io"]


@pytest.mark.parametrize("command,teaches", [
    ([], ["validate", "compile", "run", "crds", "serve", "drift", "operator", "examples:", "MLCD_HOME"]),
    (["run"], ["Exit 0 Succeeded, 3 Rejected", "--json", "KFP's local runner"]),
    (["validate"], ["FILE: spec.path: message"]),
])
def test_help_teaches(command, teaches):
    done = subprocess.run([sys.executable, "-m", "mlcd", *command, "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for phrase in teaches:
        assert " ".join(phrase.split()) in text
