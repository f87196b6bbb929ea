"""The status writer decides on its own last write until the watch brings it back, however late, within
the echo window; then the body is the truth again. Memory does not grow with the objects it wrote."""

import kopf

from mlcd.api.v1alpha1.trainingrun import TrainingRunStatus
from mlcd.handlers import status as status_module
from mlcd.handlers.status import StatusWriter

QUEUED = {"phase": "Pending", "message": "queued"}


def body(uid: str, status: dict | None = None) -> kopf.Body:
    return kopf.Body({"metadata": {"uid": uid, "name": uid}, "status": status or {}})


def clock(monkeypatch, start: float = 100.0) -> list[float]:
    now = [start]
    monkeypatch.setattr(status_module.time, "monotonic", lambda: now[0])
    return now


def test_a_lagging_watch_never_brings_back_an_older_status(monkeypatch):
    now = clock(monkeypatch)
    writer = StatusWriter(echo_seconds=130)
    writer.through_kopf(body("a", QUEUED), kopf.Patch(), TrainingRunStatus(phase="Running", message="submitted"))
    now[0] += 60  # an operator under load: its watch is a minute behind its own write
    assert writer.seen(body("a", QUEUED), TrainingRunStatus).message == "submitted"
    echoed = {"phase": "Running", "message": "submitted"}
    assert writer.seen(body("a", echoed), TrainingRunStatus).message == "submitted"
    assert "a" not in writer._written  # the echo came: the body is the truth from now on
    assert writer.seen(body("a", {"phase": "Succeeded", "message": "trained"}), TrainingRunStatus).phase == "Succeeded"


def test_a_write_that_never_comes_back_is_forgotten_and_redone(monkeypatch):
    now = clock(monkeypatch)
    writer = StatusWriter(echo_seconds=130)
    writer.through_kopf(body("a", QUEUED), kopf.Patch(), TrainingRunStatus(phase="Running", message="submitted"))
    now[0] += 131  # the API server lost it
    assert writer.seen(body("a", QUEUED), TrainingRunStatus).message == "queued"
    patch = kopf.Patch()
    writer.through_kopf(body("a", QUEUED), patch, TrainingRunStatus(phase="Running", message="submitted"))
    assert patch["status"]["message"] == "submitted"


def test_a_removed_field_counts_as_echoed_only_once_gone(monkeypatch):
    clock(monkeypatch)
    writer = StatusWriter(echo_seconds=130)
    writer.through_kopf(body("a", {"phase": "Pending", "submitAttempts": 3}), kopf.Patch(),
                        TrainingRunStatus(phase="Running"))
    assert writer.seen(body("a", {"phase": "Running", "submitAttempts": 3}), TrainingRunStatus).submit_attempts is None
    assert "a" in writer._written
    writer.seen(body("a", {"phase": "Running"}), TrainingRunStatus)
    assert "a" not in writer._written


def test_writes_older_than_the_window_are_let_go(monkeypatch):
    now = clock(monkeypatch)
    writer = StatusWriter(echo_seconds=25)
    writer.through_kopf(body("a"), kopf.Patch(), TrainingRunStatus(phase="Pending", message="submitted"))
    now[0] += 10
    writer.through_kopf(body("b"), kopf.Patch(), TrainingRunStatus(phase="Running"))
    assert list(writer._written) == ["a", "b"]
    now[0] += 16  # a's write is 26 s old, b's 16 s: a is let go at the next write
    writer.through_kopf(body("c"), kopf.Patch(), TrainingRunStatus(phase="Running"))
    assert list(writer._written) == ["b", "c"]
    assert writer.seen(body("a"), TrainingRunStatus).phase is None


def test_the_generation_a_kept_write_acted_on_is_known_until_the_echo_or_the_window_ends(monkeypatch):
    now = clock(monkeypatch)
    writer = StatusWriter(echo_seconds=130)
    assert writer.generation("a") is None
    writer.through_kopf(body("a", QUEUED), kopf.Patch(), TrainingRunStatus(phase="Running", observed_generation=3))
    assert writer.generation("a") == 3  # a queued event of generation 3 older than this write is dropped
    writer.echoed("a", {"phase": "Running", "observedGeneration": 3})
    assert writer.generation("a") is None
    writer.through_kopf(body("b"), kopf.Patch(), TrainingRunStatus(phase="Running", observed_generation=1))
    now[0] += 130
    assert writer.generation("b") is None  # past the echo window: not trusted


def test_any_look_lets_go_of_writes_past_the_window_even_of_objects_never_seen_again(monkeypatch):
    now = clock(monkeypatch)
    writer = StatusWriter(echo_seconds=25)
    for uid in ("a", "b", "c"):  # three objects written, then deleted: no event of theirs comes again
        writer.through_kopf(body(uid), kopf.Patch(), TrainingRunStatus(phase="Running"))
    assert writer.held() == 3
    now[0] += 26
    writer.seen(body("d"), TrainingRunStatus)  # another object's reconcile
    assert writer._written == {}
    writer.through_kopf(body("d"), kopf.Patch(), TrainingRunStatus(phase="Running"))
    now[0] += 26
    assert writer.held() == 0


def test_a_write_is_let_go_as_soon_as_the_watch_brings_it_back(monkeypatch):
    clock(monkeypatch)
    writer = StatusWriter(echo_seconds=130)
    writer.through_kopf(body("a", QUEUED), kopf.Patch(), TrainingRunStatus(phase="Running", message="submitted"))
    writer.echoed("a", kopf.Body({"status": QUEUED}).status)  # an older event: the write is still ahead of it
    assert writer.held() == 1
    writer.echoed("a", kopf.Body({"status": {"phase": "Running", "message": "submitted"}}).status)
    assert writer.held() == 0
    writer.echoed("never-written", {"phase": "Running"})  # nothing kept, nothing to do
