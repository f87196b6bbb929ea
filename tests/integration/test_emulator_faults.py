"""Fault injection: seeded, bounded, and shaped like a real API server's failures."""

import json
import urllib.error
import urllib.request

import kmock
import pytest
from kmock._internal import rendering
from kubernetes.client import CoreV1Api

from tests.k8s import FaultPlan


def fetch_event() -> rendering.Request:
    return rendering.Request(
        method="GET",
        action=kmock.action.FETCH,
        resource=kmock.resource("", "v1", "events"),
        namespace="default",
        name="x",
    )


def draw(seed: int) -> list[int]:
    plan = FaultPlan(seed=seed)
    plan.error(500, share=0.3, limit=5, verbs={"get"}, resource="events")
    plan.error(409, share=1.0, limit=1, verbs={"patch"})
    return [plan.decide(fetch_event()).code for _ in range(60)]


def test_faults_are_seeded_and_bounded():
    # Reproducible: the same seed breaks the same requests; bounded: never more than `limit`.
    first, again, other = draw(7), draw(7), draw(8)
    assert first == again
    assert first != other
    assert first.count(500) == 5
    assert 409 not in first  # wrong verb


def test_429_carries_retry_after(k8s_emulator, k8s_api_client):
    # API Priority and Fairness: an overloaded server answers 429 with Retry-After; the official
    # client (urllib3) honours it and retries by itself.
    faults = k8s_emulator.emulator.faults
    faults.error(429, limit=1, verbs={"list"}, resource="events", retry_after=3)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{k8s_emulator.url}/api/v1/namespaces/default/events")
    body = json.loads(info.value.read())
    faults.error(429, limit=1, verbs={"list"}, resource="events", retry_after=0)
    listed = CoreV1Api(k8s_api_client).list_namespaced_event("default")
    assert (info.value.code, info.value.headers["Retry-After"], body["reason"]) == (429, "3", "TooManyRequests")
    assert listed.items == []
    assert len(k8s_emulator.call(list, faults.injected)) == 2
