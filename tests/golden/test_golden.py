"""Golden IR of the samples (as KFP's own compiler tests do): `make golden` refreshes them."""

import os
from pathlib import Path

import pytest
import yaml

from mlcd.compiler import compile_trainingrun
from mlcd.documents import load_file

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "manifests" / "samples").glob("*trainingrun*.yaml"))
GOLDEN = Path(__file__).parent / "data"
IMAGE = "ghcr.io/mlcd-io/mlcd-components:golden"

pytestmark = pytest.mark.usefixtures("cold_compiler")  # each test sees the compiler build


def stable(text: str) -> list[dict]:
    """The IR (pipeline spec, then platform spec) without what changes by itself (the SDK version)."""
    documents = list(yaml.safe_load_all(text))
    documents[0].pop("sdkVersion", None)
    return documents


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_compiles_to_its_golden_ir(sample):
    loaded = load_file(sample)
    assert not [p for d in loaded for p in d.problems()]
    compiled = compile_trainingrun(loaded[0].validated.resource, image=IMAGE)
    golden = GOLDEN / f"{sample.stem}.ir.yaml"
    if os.environ.get("MLCD_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(compiled.yaml)
    assert golden.exists(), f"{golden} is missing: run `make golden`"
    assert stable(compiled.yaml) == stable(golden.read_text()), f"{golden} differs: run `make golden` and review"
