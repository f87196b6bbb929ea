"""The Event correlator: counted, combined and rate-limited per object as client-go's recorder does."""

from datetime import UTC, datetime, timedelta

import pytest

from mlcd.handlers.events import (
    BURST,
    COMBINED,
    MESSAGE_LIMIT,
    OBJECTS_REMEMBERED,
    SIMILAR_LIMIT,
    Correlator,
    Count,
    Create,
    Involved,
    event_body,
)

RUN = Involved("mlcd.io/v1alpha1", "TrainingRun", "team-a", "iris", "uid-1")
OTHER = Involved("mlcd.io/v1alpha1", "TrainingRun", "team-a", "wine", "uid-2")
START = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return START + timedelta(seconds=self.seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def correlator(clock):
    return Correlator(clock, clock.wall)


def test_a_first_event_is_created_named_after_its_object_and_time(correlator):
    event = correlator.correlate(RUN, "Normal", "Submitted", "run iris-g1 submitted")
    assert isinstance(event, Create)
    assert (event.count, event.first, event.last) == (1, START, START)
    assert event.name == f"iris.{int(START.timestamp() * 1e9):x}"


def test_the_same_event_again_counts_on_the_first(correlator, clock):
    first = correlator.correlate(RUN, "Warning", "StorageNotReady", "Secret mlcd-storage does not exist")
    clock.seconds = 30
    second = correlator.correlate(RUN, "Warning", "StorageNotReady", "Secret mlcd-storage does not exist")
    clock.seconds = 90
    third = correlator.correlate(RUN, "Warning", "StorageNotReady", "Secret mlcd-storage does not exist")
    assert isinstance(second, Count) and isinstance(third, Count)
    assert {second.create.name, third.create.name} == {first.name}
    assert (third.create.count, third.create.first, third.create.last) == (3, START, START + timedelta(seconds=90))


def test_another_message_reason_type_or_object_is_another_event(correlator):
    base = correlator.correlate(RUN, "Normal", "Submitted", "run 1")
    clock_free = [correlator.correlate(RUN, "Normal", "Submitted", "run 2"),
                  correlator.correlate(RUN, "Normal", "Queued", "run 1"),
                  correlator.correlate(RUN, "Warning", "Submitted", "run 1"),
                  correlator.correlate(OTHER, "Normal", "Submitted", "run 1")]
    assert all(isinstance(e, Create) and e.count == 1 for e in clock_free)
    assert base.name == clock_free[0].name  # the same object at the same instant: names are per time
    assert clock_free[3].name.startswith("wine.")


def test_many_messages_of_one_reason_are_combined(correlator, clock):
    events = []
    for n in range(SIMILAR_LIMIT + 2):
        clock.seconds = n
        events.append(correlator.correlate(RUN, "Warning", "BackendUnavailable", f"attempt {n}: HTTP 503"))
    assert all(isinstance(e, Create) and not e.message.startswith(COMBINED) for e in events[:SIMILAR_LIMIT - 1])
    combined = events[SIMILAR_LIMIT - 1]
    assert isinstance(combined, Create)
    assert combined.message == f"{COMBINED}attempt {SIMILAR_LIMIT - 1}: HTTP 503"
    after = events[SIMILAR_LIMIT + 1]
    assert isinstance(after, Count) and after.create.name == combined.name
    assert after.create.count == 3 and after.create.message == f"{COMBINED}attempt {SIMILAR_LIMIT + 1}: HTTP 503"


def test_combining_starts_again_after_ten_quiet_minutes(correlator, clock):
    for n in range(SIMILAR_LIMIT):
        correlator.correlate(RUN, "Warning", "BackendUnavailable", f"attempt {n}")
    clock.seconds = 601
    fresh = correlator.correlate(RUN, "Warning", "BackendUnavailable", "attempt after the window")
    assert isinstance(fresh, Create) and fresh.message == "attempt after the window"


def test_an_object_gets_a_burst_then_one_event_per_five_minutes(correlator, clock):
    sent = [correlator.correlate(RUN, "Normal", f"Reason{n}", "m") for n in range(BURST + 5)]
    assert all(e is not None for e in sent[:BURST]) and sent[BURST:] == [None] * 5
    assert correlator.correlate(OTHER, "Normal", "Reason0", "m") is not None  # another object: its own burst
    clock.seconds = 299
    assert correlator.correlate(RUN, "Normal", "Late", "m") is None
    clock.seconds = 301
    refilled = correlator.correlate(RUN, "Normal", "Late", "m")
    assert refilled is not None and refilled.create.count == 2  # the dropped one is still counted
    assert correlator.correlate(RUN, "Normal", "Later", "m") is None


def test_a_forgotten_object_starts_afresh(correlator):
    for n in range(BURST):
        correlator.correlate(RUN, "Normal", "Submitted", f"run {n}")
    correlator.forget(RUN.uid)
    again = correlator.correlate(RUN, "Normal", "Submitted", "run 0")
    assert isinstance(again, Create) and again.count == 1


def test_objects_remembered_are_bounded(correlator):
    correlator.correlate(RUN, "Normal", "Submitted", "m")
    for n in range(OBJECTS_REMEMBERED):
        correlator.correlate(Involved("v1", "TrainingRun", "ns", f"r{n}", f"u{n}"), "Normal", "Submitted", "m")
    # The oldest object was let go: the same event is new again, not a count.
    assert isinstance(correlator.correlate(RUN, "Normal", "Submitted", "m"), Create)


def test_a_long_message_is_cut(correlator):
    event = correlator.correlate(RUN, "Warning", "InvalidSpec", "x" * 5000)
    assert len(event.message) == MESSAGE_LIMIT


def test_the_event_object_is_a_core_v1_event_about_the_object(correlator):
    event = correlator.correlate(RUN, "Normal", "Submitted", "run iris-g1 submitted")
    body = event_body(event, "operator-pod-1")
    assert body["metadata"] == {"name": event.name, "namespace": "team-a"}
    assert body["involvedObject"] == {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
                                      "namespace": "team-a", "name": "iris", "uid": "uid-1"}
    assert (body["type"], body["reason"], body["message"], body["count"]) == (
        "Normal", "Submitted", "run iris-g1 submitted", 1)
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-11-30T03:00:00Z"
    assert body["source"] == {"component": "mlcd-operator", "host": "operator-pod-1"}
    assert (body["reportingComponent"], body["reportingInstance"]) == ("mlcd-operator", "operator-pod-1")


def test_many_objects_events_are_posted_at_once_and_each_objects_in_order(clock):
    import asyncio

    from mlcd.handlers.events import POSTERS, EventRecorder

    posted, busy, peak = [], [0], [0]

    async def request(method, path, body, content_type="application/json"):
        busy[0] += 1
        peak[0] = max(peak[0], busy[0])
        await asyncio.sleep(0.005)
        busy[0] -= 1
        posted.append((body["involvedObject"]["name"], body["message"]) if method == "POST" else ("count", path))
        return 201

    def obj(name):
        return {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
                "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{name}"}}

    async def scenario():
        recorder = EventRecorder(client=None, correlator=Correlator(clock, clock.wall))
        recorder._api.request = request
        for step in range(3):
            recorder.record(obj("iris"), "Normal", "Step", f"step {step}")
        for index in range(40):
            recorder.record(obj(f"tr{index}"), "Normal", "Submitted", "submitted")
        await recorder.close(timeout=10)

    asyncio.run(scenario())
    assert len(posted) == 43 and 1 < peak[0] <= POSTERS  # not one at a time behind one connection
    assert [message for name, message in posted if name == "iris"] == ["step 0", "step 1", "step 2"]
