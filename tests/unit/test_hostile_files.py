"""Hostile and careless spec files: each ends in `FILE: message` and exit 2, never a traceback (issue 15)."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.cli import main
from mlcd.documents import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parents[2]
IRIS = (ROOT / "manifests" / "samples" / "iris-trainingrun.yaml").read_text()

# 516 bytes: nine levels of nine aliases under metadata (which mlcd does not check field by field).
ALIAS_BOMB = """apiVersion: mlcd.io/v1alpha1
kind: TrainingRun
metadata:
  name: lol
  labels:
    a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
spec:
  data: {source: builtin://iris}
  model: {estimator: LogisticRegression}
"""


def refused(args: list[str], capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err.strip()


def test_the_alias_bomb_is_516_bytes_and_refused_by_validate_and_compile(tmp_path, capsys):
    assert len(ALIAS_BOMB.encode()) == 516
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    for command in ("validate", "compile"):
        err = refused([command, str(bomb)], capsys)
        assert err.startswith(f"{bomb}: its aliases expand ")
        assert err.endswith("refused as an alias bomb")


def test_aliases_that_repeat_a_little_are_still_fine(tmp_path, capsys):
    doc = IRIS.replace("metadata:\n", "metadata:\n  annotations: {a: &x hello, b: *x}\n", 1)
    ok = tmp_path / "ok.yaml"
    ok.write_text(doc)
    assert main(["validate", str(ok)]) == 0


def test_a_recursive_alias_is_refused(tmp_path, capsys):
    loop = tmp_path / "loop.yaml"
    loop.write_text(IRIS.replace("metadata:\n", "metadata:\n  annotations: &a {self: *a}\n", 1))
    assert refused(["validate", str(loop)], capsys) == \
        f"{loop}: an alias refers to a node that contains it (a recursive structure)"


def test_deeply_nested_yaml_is_refused_without_recursion_error(tmp_path, capsys):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    err = refused(["validate", str(deep)], capsys)
    assert err == f"{deep}: malformed YAML at line 1, column 67: nested deeper than 64 levels"


def test_invalid_utf8_is_refused_with_its_offset(tmp_path, capsys):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(IRIS.encode().replace(b"name: iris", b"name: ir\xefs", 1))
    offset = IRIS.encode().index(b"name: iris") + len(b"name: ir")
    assert refused(["validate", str(bad)], capsys) == f"{bad}: not UTF-8 text: byte 0xef at offset {offset}"


def test_dev_zero_is_refused_by_size(capsys):
    assert refused(["validate", "/dev/zero"], capsys) == \
        f"/dev/zero: larger than the {MAX_FILE_BYTES // 1024} KiB a resource file may be"


def test_a_file_of_nul_bytes_is_not_text(tmp_path, capsys):
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"\0" * 100)
    assert refused(["validate", str(nul)], capsys) == f"{nul}: not a text file: it holds NUL bytes"


def test_the_cli_prints_no_traceback_for_dev_zero_in_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "mlcd", "compile", "/dev/zero"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"/dev/zero: larger than the {MAX_FILE_BYTES // 1024} KiB a resource file may be\n"


def test_duplicate_keys_are_refused_with_both_lines(tmp_path, capsys):
    dup = tmp_path / "dup.yaml"
    dup.write_text(IRIS.replace("estimator: RandomForestClassifier",
                                "estimator: RandomForestClassifier\n    estimator: LogisticRegression", 1))
    line = dup.read_text().splitlines().index("    estimator: LogisticRegression") + 1
    err = refused(["validate", str(dup)], capsys)
    assert err == (f"{dup}: malformed YAML at line {line}, column 5: "
                   f"duplicate key 'estimator' (first at line {line - 1})")


def test_merge_keys_are_not_duplicates(tmp_path, capsys):
    merged = tmp_path / "merged.yaml"
    merged.write_text(IRIS.replace("metadata:\n", "metadata:\n  labels: {<<: {a: x}, a: y}\n", 1))
    assert main(["validate", str(merged)]) == 0


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "Iris", "-x", "x" * 254])
def test_an_object_name_must_be_a_kubernetes_name(name, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MLCD_HOME", str(home))
    spec = tmp_path / "work" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text(IRIS.replace("name: iris", f"name: {name!r}", 1))
    err = refused(["validate", str(spec)], capsys)
    assert err.startswith(f"{spec}: metadata.name: {name!r} is not a valid Kubernetes object name")
    assert main(["run", "-q", str(spec)]) == 2
    assert not (tmp_path / "x").exists() and not any(tmp_path.glob("**/registry"))


def test_a_name_with_dots_is_a_kubernetes_name():
    doc = yaml.safe_load(IRIS)
    doc["metadata"]["name"] = "iris.v2"
    assert validate_document(doc).ok


@pytest.mark.parametrize("bound", [".nan", ".inf", "-.inf"])
def test_nan_and_infinite_gate_bounds_are_refused(bound, tmp_path, capsys):
    doc = tmp_path / "nan.yaml"
    doc.write_text(IRIS.replace("min: 0.9", f"min: {bound}", 1))
    err = refused(["validate", str(doc)], capsys)
    value = str(float(bound.replace(".", "")))
    assert err == f"{doc}: spec.gates[0].min: {value} is not a finite number"


def test_nan_inside_estimator_params_is_refused():
    doc = yaml.safe_load(IRIS)
    doc["spec"]["model"]["params"] = {"n_estimators": 10, "max_samples": float("nan")}
    problems = validate_document(copy.deepcopy(doc)).problems
    assert [str(p) for p in problems] == ["spec.model.params.max_samples: nan is not a finite number"]
