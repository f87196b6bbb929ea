"""End-to-end tests on a kind cluster: selected only with `--e2e` (hack/e2e.sh passes it)."""

import os
from urllib.parse import urlparse

import pytest


def pytest_addoption(parser):
    parser.addoption("--e2e", action="store_true", default=False,
                     help="run tests/e2e against the kind cluster $MLCD_E2E_CLUSTER (see hack/e2e.sh)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--e2e"):
        return
    skip = pytest.mark.skip(reason="needs a kind cluster; run `make e2e` (pytest --e2e)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def kind_context() -> str:
    """The kube context of the kind cluster, checked before anything touches it."""
    from kubernetes import client, config

    cluster = os.environ.get("MLCD_E2E_CLUSTER", "mlcd-e2e")
    context = f"kind-{cluster}"
    try:
        contexts, _ = config.list_kube_config_contexts()
    except config.ConfigException as exc:
        pytest.fail(f"no usable kubeconfig ({exc}); hack/e2e.sh creates the kind cluster {cluster}")
    if context not in {c["name"] for c in contexts}:
        pytest.fail(f"no kube context {context}; hack/e2e.sh creates the kind cluster {cluster}")
    api = config.new_client_from_config(context=context)
    host = urlparse(api.configuration.host).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        pytest.fail(f"context {context} points at {host}, not at a local kind API server; refusing")
    nodes = {n.metadata.name for n in client.CoreV1Api(api).list_node().items}
    if f"{cluster}-control-plane" not in nodes:
        pytest.fail(f"context {context} has no node {cluster}-control-plane; not kind cluster {cluster}; refusing")
    return context
