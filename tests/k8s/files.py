"""CRD files the tests load: our own small one, KServe's real ones, and mlcd's generated ones."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
WIDGET_CRD = FIXTURES / "crds" / "widgets.example.mlcd.io.yaml"
KSERVE_CRD = FIXTURES / "kserve" / "serving.kserve.io_inferenceservices.yaml"
KSERVE_RUNTIME_CRD = FIXTURES / "kserve" / "serving.kserve.io_clusterservingruntimes.yaml"
MLCD_CRD_DIR = ROOT / "manifests" / "crd"


def mlcd_crd_files() -> list[pathlib.Path]:
    """mlcd's generated CRDs (``make manifests``); empty until they exist."""
    return sorted(MLCD_CRD_DIR.glob("*.yaml"))
