"""The status writer remembers its own writes only for the echo window: memory does not grow with the
number of objects it ever wrote."""

import kopf

from mlcd.api.v1alpha1.trainingrun import TrainingRunStatus
from mlcd.handlers import status as status_module
from mlcd.handlers.status import StatusWriter


def body(uid: str, status: dict | None = None) -> kopf.Body:
    return kopf.Body({"metadata": {"uid": uid, "name": uid}, "status": status or {}})


def test_a_write_is_seen_within_the_echo_window_then_forgotten(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(status_module.time, "monotonic", lambda: now[0])
    writer = StatusWriter(echo_seconds=25)
    writer.through_kopf(body("a"), kopf.Patch(), TrainingRunStatus(phase="Pending", message="submitted"))
    now[0] = 110.0
    assert writer.seen(body("a"), TrainingRunStatus).phase == "Pending"  # the body predates the write
    writer.through_kopf(body("b"), kopf.Patch(), TrainingRunStatus(phase="Running"))
    assert list(writer._written) == ["a", "b"]
    now[0] = 126.0  # a's write is 26 s old, b's 16 s: a is let go at the next write
    writer.through_kopf(body("c"), kopf.Patch(), TrainingRunStatus(phase="Running"))
    assert list(writer._written) == ["b", "c"]
    assert writer.seen(body("a"), TrainingRunStatus).phase is None
