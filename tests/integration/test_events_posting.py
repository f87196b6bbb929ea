"""The Event recorder against the API emulator, read back by the official client and the real kubectl:
a repeated Event is one object with a count, as `kubectl events` shows it ("8m (x3 over 10m)")."""

import asyncio
import os
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from mlcd.handlers.events import Correlator, EventRecorder
from tests.k8s.clients import ensure, find

RUN = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
       "metadata": {"name": "iris", "namespace": "default", "uid": "6f1c0e0e-iris"}}


class Clock:
    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10) + timedelta(seconds=self.seconds)


async def record(recorder: EventRecorder, clock: Clock, entries) -> None:
    for seconds, type_, reason, message in entries:
        clock.seconds = seconds
        recorder.record(RUN, type_, reason, message)
    await recorder.close(timeout=30)


def test_a_repeated_event_is_counted_on_one_object(k8s_api_client, kubeconfig):
    from kubernetes.client import CoreV1Api

    clock = Clock()
    recorder = EventRecorder(lambda: k8s_api_client, Correlator(clock, clock.wall))
    missing = "Secret mlcd-storage in namespace default does not exist"
    asyncio.run(record(recorder, clock, [(0, "Warning", "StorageNotReady", missing),
                                         (60, "Warning", "StorageNotReady", missing),
                                         (120, "Warning", "StorageNotReady", missing),
                                         (180, "Normal", "Submitted", "run default-iris-g1 submitted")]))
    events = CoreV1Api(k8s_api_client).list_namespaced_event("default", field_selector="involvedObject.name=iris")
    by_reason = {e.reason: e for e in events.items}
    assert sorted(by_reason) == ["StorageNotReady", "Submitted"] and len(events.items) == 2
    repeated = by_reason["StorageNotReady"]
    assert (repeated.count, repeated.type, repeated.message) == (3, "Warning", missing)
    assert repeated.last_timestamp - repeated.first_timestamp == timedelta(seconds=120)
    assert repeated.involved_object.uid == RUN["metadata"]["uid"]
    assert repeated.source.component == "mlcd-operator"
    assert by_reason["Submitted"].count == 1

    reason = ensure()
    kubectl = find("kubectl")
    if kubectl is None:
        pytest.skip(f"no kubectl binary: {reason or 'not on PATH'}")
    shown = subprocess.run([kubectl, "events", "-n", "default"],
                           env={**os.environ, "KUBECONFIG": str(kubeconfig)}, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    line = next(line for line in shown.stdout.splitlines() if "StorageNotReady" in line)
    assert "(x3 over 10m)" in line and "TrainingRun/iris" in line


def test_an_expired_event_is_posted_anew(k8s_api_client):
    from kubernetes.client import CoreV1Api

    clock = Clock()
    recorder = EventRecorder(lambda: k8s_api_client, Correlator(clock, clock.wall))
    asyncio.run(record(recorder, clock, [(0, "Normal", "Queued", "waiting for a slot")]))
    core = CoreV1Api(k8s_api_client)
    (first,) = core.list_namespaced_event("default").items
    core.delete_namespaced_event(first.metadata.name, "default")  # Events expire (an hour by default)
    asyncio.run(record(recorder, clock, [(30, "Normal", "Queued", "waiting for a slot")]))
    (again,) = core.list_namespaced_event("default").items
    assert (again.metadata.name, again.count, again.reason) == (first.metadata.name, 2, "Queued")
