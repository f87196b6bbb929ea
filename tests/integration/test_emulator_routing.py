"""Routing: kmock's reaction DSL still decides answers, in constant time per request."""

import urllib.error
import urllib.request

import kmock
import pytest
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.k8s import WIDGET_CRD, Emulator, ServedEmulator

REQUESTS = 30


def count_filter_calls(handler: kmock.RawHandler) -> int:
    calls: list[object] = []
    with ServedEmulator(handler) as served:
        served.call(lambda: handler[lambda request: calls.append(request) and False] << 500)
        for _ in range(REQUESTS):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(f"{served.url}/not-an-api-path")
        return served.call(len, calls)


def test_each_request_is_filtered_once_not_against_the_whole_history():
    # kmock 0.8 re-filters every past request on every routing: N requests cost N*(N+1)/2 filter calls.
    assert count_filter_calls(kmock.KubernetesEmulator()) == REQUESTS * (REQUESTS + 1) // 2
    assert count_filter_calls(Emulator()) == REQUESTS


def test_a_reaction_answers_instead_of_the_server_and_changes_nothing(k8s_emulator, k8s_api_client):
    # A test's own reaction (here: the first PATCH is a 409) takes precedence over the emulated server.
    k8s_emulator.load_crds([WIDGET_CRD])
    crs = CustomObjectsApi(k8s_api_client)
    body = {
        "apiVersion": "example.mlcd.io/v1",
        "kind": "Widget",
        "metadata": {"name": "a"},
        "spec": {"size": 1},
    }
    crs.create_namespaced_custom_object("example.mlcd.io", "v1", "default", "widgets", body)
    emulator = k8s_emulator.emulator
    k8s_emulator.call(lambda: emulator["patch"][:1] << 409)

    def resize(size: int) -> dict:
        return crs.patch_namespaced_custom_object(
            "example.mlcd.io", "v1", "default", "widgets", "a", {"spec": {"size": size}}
        )

    with pytest.raises(ApiException) as info:
        resize(2)
    assert info.value.status == 409
    assert resize(3)["metadata"]["generation"] == 2
