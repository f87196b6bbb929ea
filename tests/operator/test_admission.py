"""Caps on runs in flight, through the operator: never more runs at once than the cap, each run once (issue 18)."""

from __future__ import annotations

import threading
import time

from mlcd.api.v1alpha1.vocabulary import EventReason, Reason, TrainingRunCondition
from mlcd.backends.base import RunRef, RunState
from tests.operator.helpers import condition, phase, registry_for, settings, trainingrun

RUN_SECONDS = 1.0


class TimedBackend:
    """Every run takes RUN_SECONDS and succeeds; remembers every submission and when it started."""

    name = "timed"

    def __init__(self):
        self.lock = threading.Lock()
        self.started: dict[str, float] = {}
        self.submissions: list[str] = []

    def find(self, run_name, place=None):
        return RunRef(run_name, run_name) if run_name in self.started else None

    def submit(self, run_name, document, arguments, labels, place=None):
        with self.lock:
            self.submissions.append(labels["mlcd.io/name"])
            self.started[run_name] = time.monotonic()
        return RunRef(run_name, run_name)

    def get(self, ref):
        if time.monotonic() - self.started[ref.run_id] < RUN_SECONDS:
            return RunState(ref.run_id, "RUNNING")
        return RunState(ref.run_id, "SUCCEEDED", result={"phase": "Succeeded", "message": "trained", "gates": [],
                                                         "metrics": {"accuracy": 0.9}})

    def stop(self, ref):
        pass

    def peak(self) -> int:
        edges = sorted([(t, 1) for t in self.started.values()] + [(t + RUN_SECONDS, -1) for t in self.started.values()],
                       key=lambda e: (e[0], e[1]))
        current = peak = 0
        for _, step in edges:
            current += step
            peak = max(peak, current)
        return peak


def is_queued(obj: dict) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == TrainingRunCondition.SUBMITTED and c["reason"] == Reason.QUEUED for c in conditions)


def test_runs_beyond_the_cap_wait_their_turn_and_each_runs_once(cluster, home, run_operator, wait_for):
    backend = TimedBackend()
    run_operator(registry_for(home, backend, poll=0.3, max_runs_in_flight=2, registry_base=home.as_uri()), settings())
    names = [f"tr{i}" for i in range(5)]
    for name in names:
        cluster.create(trainingrun(name))
    seen = wait_for(lambda: [cluster.get(n) for n in names], lambda objs: any(map(is_queued, objs)), deadline=120)
    queued = next(filter(is_queued, seen))
    assert condition(queued, TrainingRunCondition.SUBMITTED)["message"] == (
        "queued behind the cluster's cap of 2 runs in flight; the run starts when a slot is free")
    for name in names:
        wait_for(cluster.fetch(name), phase("Succeeded"), deadline=180)
    assert sorted(backend.submissions) == names  # every TrainingRun ran, once
    assert backend.peak() <= 2
    assert EventReason.QUEUED in cluster.reasons(queued["metadata"]["name"])
