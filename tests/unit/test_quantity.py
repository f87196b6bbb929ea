"""Resource quantities are read as the API server reads them (k8s.io/apimachinery resource.ParseQuantity)."""

from decimal import Decimal
from pathlib import Path

import pytest

from mlcd.api.v1alpha1.quantity import CRD_PATTERN, QuantityError, parse_quantity, quantity_problem
from mlcd.api.v1alpha1.validation import validate_document


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("1", 1), ("500m", Decimal("0.5")), ("1.5", Decimal("1.5")), ("1500m", Decimal("1.5")),
    ("256Mi", 256 * 2**20), ("1Gi", 2**30), ("1e3", 1000), ("1E3", 1000), ("1e-3", Decimal("0.001")),
    ("1k", 1000), ("1M", 10**6), ("1E", 10**18), ("1n", Decimal("1e-9")), ("-1.5Gi", -1536 * 2**20),
    (".5", Decimal("0.5")), ("1.", 1), ("007", 7),
    # Rounded up to a nano; binary values capped at 2^63-1.
    ("0.1n", Decimal("1e-9")), ("9Ei", 2**63 - 1),
])
def test_quantities_the_api_server_accepts(text, value):
    assert parse_quantity(text) == value
    assert quantity_problem(text) is None


@pytest.mark.parametrize("text, reason", [
    ("lots", "regular expression"), ("", "regular expression"), (" 1", "regular expression"),
    ("1 ", "regular expression"), ("1.5.5", "regular expression"), ("1KiB", "regular expression"),
    ("inf", "regular expression"), ("NaN", "regular expression"), ("1e+-3", "regular expression"),
    ("1e", "suffix"), ("1e-", "suffix"), ("1Ki5", "suffix"), ("1ee3", "suffix"), ("1k+", "suffix"),
])
def test_quantities_the_api_server_refuses(text, reason):
    with pytest.raises(QuantityError, match=reason):
        parse_quantity(text)
    assert quantity_problem(text).startswith(f"{text!r} is not a quantity such as 500m")


@pytest.mark.parametrize("text", ["+", "-", "Mi", "k"])
def test_what_the_scanner_lets_by_the_crd_pattern_refuses(text):
    # apimachinery's scanner reads these as 0; the schema of a CRD's quantities refuses them first.
    assert parse_quantity(text) == 0
    assert "it must match" in quantity_problem(text)


def test_the_crd_pattern_is_the_one_in_kserves_crd():
    crd = (Path(__file__).resolve().parents[1] / "fixtures" / "kserve").glob("*.yaml")
    patterns = {line.split("pattern: ", 1)[1] for f in crd for line in f.read_text().splitlines()
                if "pattern: ^(\\+|-)?(([0-9]+" in line}
    assert patterns == {CRD_PATTERN}


def test_a_huge_exponent_is_a_value_not_a_crash():
    assert parse_quantity("1e1000000") == Decimal("1e1000000")


def test_cpu_lots_is_refused_in_a_modeldeployment_with_its_path():
    doc = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
           "spec": {"model": {"uri": "s3://models/iris/v1"},
                    "serving": {"resources": {"requests": {"cpu": "lots", "memory": "256Mi"},
                                              "limits": {"cpu": "1", "memory": "1Gi"}}}}}
    problems = {p.path: p.message for p in validate_document(doc).problems}
    assert list(problems) == ["spec.serving.resources.requests.cpu"]
    assert problems["spec.serving.resources.requests.cpu"].startswith("'lots' is not a quantity such as 500m")
