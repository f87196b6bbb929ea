"""Fixtures every operator test shares: the emulator with mlcd's and KServe's CRDs, and MLCD_HOME."""

import pytest

from tests.operator.helpers import Cluster, load_crds


@pytest.fixture
def cluster(k8s_emulator, k8s_api_client):
    load_crds(k8s_emulator)
    return Cluster(k8s_api_client)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
