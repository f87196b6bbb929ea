"""The Kubernetes API client of the handlers that call the API themselves (kopf's login serves kopf only)."""

from __future__ import annotations

import os

import kubernetes
from kubernetes.client import ApiClient


def make_api_client() -> ApiClient:
    """A client of its own (the global default configuration stays untouched), from the source kopf's
    login uses first: the pod's service account, else the current kubeconfig context ($KUBECONFIG)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return ApiClient(configuration)
    # $KUBECONFIG as it is now (the client library reads it once, when imported); None: ~/.kube/config.
    return kubernetes.config.new_client_from_config(config_file=os.environ.get("KUBECONFIG") or None)


class LazyClient:
    """One ApiClient, given or made on first use, shared by the handlers."""

    def __init__(self, api_client: ApiClient | None = None):
        self._api_client = api_client

    def __call__(self) -> ApiClient:
        if self._api_client is None:
            self._api_client = make_api_client()
        return self._api_client
