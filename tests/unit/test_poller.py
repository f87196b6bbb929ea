"""The one poller of TrainingRuns: each object looked at once per interval, a few at a time, a failed
write redone, and nothing kept for objects that left its index."""

import asyncio
import collections

import kopf
import pytest
from kubernetes.client.exceptions import ApiException

from mlcd.handlers.poller import Polled, Poller
from mlcd.timestamps import parse_rfc3339


def body(uid: str) -> dict:
    return {"metadata": {"uid": uid, "name": uid, "namespace": "team-a"}, "status": {"phase": "Running"}}


def index(*uids: str) -> dict:
    """What the poller keeps: uid -> that object's latest body."""
    return {uid: Polled.of(body(uid)) for uid in uids}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(reconcile=None, interval: float = 10.0, concurrency: int = 8, **options):
    clock, forgotten, written = Clock(), [], []

    async def noop(body, patch, logger):
        return None

    poller = Poller(reconcile or noop, forgotten.append, client=None, interval=interval, concurrency=concurrency,
                    clock=clock, **options)
    async def write(namespace, name, status):
        written.append((namespace, name, status))

    poller._write = write
    return poller, clock, forgotten, written


def test_an_object_is_first_looked_at_an_interval_after_its_event_handled_it_then_once_per_interval():
    poller, clock, _, _ = make()
    assert poller.due(index("a")) == []
    clock.now += 9.9
    assert poller.due(index("a")) == []
    clock.now += 0.1
    assert [b.uid for b in poller.due(index("a"))] == ["a"]
    assert poller.due(index("a")) == []  # looked at just now
    clock.now += 10
    assert len(poller.due(index("a", "b"))) == 1  # b is new: its turn comes an interval later


def test_objects_that_left_the_index_leave_nothing_behind():
    poller, clock, _, _ = make()
    poller.due(index(*(f"tr{i}" for i in range(1000))))
    assert len(poller._looked) == 1000
    poller.due(index("tr7"))
    assert list(poller._looked) == ["tr7"]


def test_a_sweep_runs_at_most_its_concurrency_at_once_and_writes_what_the_reconcile_decided():
    busy, peak = [0], [0]

    async def reconcile(body, patch, logger):
        busy[0] += 1
        peak[0] = max(peak[0], busy[0])
        await asyncio.sleep(0.01)
        busy[0] -= 1
        if body["metadata"]["uid"] != "quiet":
            patch.status["phase"] = "Succeeded"

    async def scenario():
        poller, clock, _, written = make(reconcile, concurrency=3)
        objects = index(*(f"tr{i}" for i in range(10)), "quiet")
        poller.due(objects)
        clock.now += 10
        return await poller.sweep(objects), written

    looked, written = asyncio.run(scenario())
    assert looked == 11 and peak[0] == 3
    assert sorted(w[1] for w in written) == sorted(f"tr{i}" for i in range(10))  # nothing to write for "quiet"
    assert all(w[0] == "team-a" and w[2] == {"phase": "Succeeded"} for w in written)


@pytest.mark.parametrize("failure", [ApiException(status=500), TimeoutError(), ConnectionResetError()])
def test_a_status_write_that_fails_is_forgotten_so_the_next_look_decides_it_again(failure):
    async def reconcile(body, patch, logger):
        patch.status["phase"] = "Succeeded"

    async def scenario():
        poller, clock, forgotten, _ = make(reconcile)

        async def refuse(namespace, name, status):
            raise failure

        poller._write = refuse
        poller.due(index("a"))
        clock.now += 10
        await poller.sweep(index("a"))
        return forgotten

    assert asyncio.run(scenario()) == ["a"]


def test_a_reconcile_that_asks_to_retry_still_writes_its_status_and_one_that_raises_writes_nothing():
    async def reconcile(body, patch, logger):
        patch.status["message"] = "waiting for the backend"
        if body["metadata"]["uid"] == "retry":
            raise kopf.TemporaryError("backend down", delay=30)
        raise RuntimeError("a bug")

    async def scenario():
        poller, clock, _, written = make(reconcile)
        poller.due(index("retry", "broken"))
        clock.now += 10
        await poller.sweep(index("retry", "broken"))
        return written

    assert asyncio.run(scenario()) == [("team-a", "retry", {"message": "waiting for the backend"})]


def test_the_poller_stops_when_asked():
    async def scenario():
        poller, clock, _, _ = make(interval=0.01)
        poller.kept.update(index("a"))
        poller.start()
        await asyncio.sleep(0.05)
        await poller.stop()
        return poller._task

    assert asyncio.run(scenario()) is None


def queued(uid: str, since: str, namespace: str = "team-a") -> Polled:
    waiting = {"type": "Submitted", "status": "False", "reason": "Queued", "lastTransitionTime": since}
    return Polled.of({"metadata": {"uid": uid, "name": uid, "namespace": namespace},
                      "status": {"phase": "Pending", "conditions": [waiting]}})


def test_queued_runs_are_looked_at_only_for_free_slots_oldest_first_and_at_once():
    free = {"total": 0, "team-a": 5, "team-b": 5}
    clock = Clock()

    async def noop(body, patch, logger):
        return None

    poller = Poller(noop, lambda uid: None, client=None, interval=10.0, clock=clock,
                    free_slots=lambda: (free["total"], lambda ns: free[ns]))
    polled = {b.uid: b for b in (
        queued("young", "2030-01-01T03:00:09Z"), queued("old", "2030-01-01T03:00:01Z"),
        queued("b-old", "2030-01-01T03:00:02Z", "team-b"), queued("mid", "2030-01-01T03:00:05Z"))}
    assert poller.due(polled) == []  # the cluster is full: no waiter is reconciled for nothing
    free["total"] = 2
    assert [b.uid for b in poller.due(polled)] == ["old", "b-old"]  # no interval to wait
    free["team-a"] = 0
    free["total"] = 3
    assert [b.uid for b in poller.due(polled)] == ["b-old"]  # team-a at its own cap
    free["team-a"], free["team-b"] = 2, 0
    assert [b.uid for b in poller.due(polled)] == ["old", "mid"]


def test_a_reconcile_that_asks_to_be_retried_later_is_not_looked_at_sooner():
    poller, clock, _, _ = make(interval=10.0)

    async def retry(body, patch, logger):
        raise kopf.TemporaryError("KFP refused: no RoleBinding", delay=60)

    poller._reconcile = retry
    polled = index("a")
    poller.due(polled)
    clock.now += 10
    assert asyncio.run(poller.sweep(polled)) == 1  # looked at once: it asks for 60 s
    for _ in range(5):
        clock.now += 10
        assert poller.due(polled) == []  # not at the next intervals
    clock.now += 10.1
    assert [b.uid for b in poller.due(polled)] == ["a"]
    assert poller._deferred == {}  # a deferral past its time, or of an object gone, is let go


def test_a_deferral_never_makes_a_look_sooner_than_the_interval():
    poller, clock, _, _ = make(interval=10.0)
    polled = index("a")
    poller.due(polled)
    poller.defer("a", 1.0)
    clock.now += 2
    assert poller.due(polled) == []
    clock.now += 8
    assert len(poller.due(polled)) == 1


def test_the_poller_keeps_a_body_as_json_and_hands_the_reconcile_the_same_body():
    import json

    full = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
            "metadata": {"uid": "u1", "name": "iris", "namespace": "team-a", "generation": 2},
            "spec": {"data": {"source": "builtin://iris"}, "model": {"estimator": "DecisionTreeClassifier"}},
            "status": {"phase": "Running", "observedGeneration": 2,
                       "conditions": [{"type": "Ready", "status": "Unknown", "reason": "RunInProgress"}]}}
    kept = Polled.of(kopf.Body(full))
    assert (kept.uid, kept.namespace, kept.name, kept.queued_since) == ("u1", "team-a", "iris", None)
    assert dict(kept.body()) == full and kept.body().metadata.uid == "u1"
    assert len(kept.raw) < len(json.dumps(full)) * 0.8 and not hasattr(kept, "__dict__")  # deflated, no dict
    # What no reconcile reads is not kept: the server's field bookkeeping and kubectl's copy of the spec.
    last_applied = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(full)}
    applied = {**full, "metadata": {**full["metadata"], "labels": {"team": "a"}, "annotations": last_applied,
                                    "managedFields": [{"manager": "kubectl"}]}}
    assert dict(Polled.of(kopf.Body(applied)).body()) == full


def in_flight(uid: str, version: str, submitted: str = "2030-01-01T03:00:00Z", **spec) -> Polled:
    return Polled.of({"metadata": {"uid": uid, "name": uid, "namespace": "team-a", "resourceVersion": version},
                      "spec": {"timeouts": {"runSeconds": 3600}, **spec},
                      "status": {"phase": "Running", "submittedAt": submitted,
                                 "pipeline": {"runName": f"run-{uid}", "runId": f"id-{uid}"}}})


def test_runs_in_flight_are_asked_about_together_and_reconciled_only_on_news():
    said, asked, reconciled = {"a": ("RUNNING", ""), "b": ("RUNNING", "")}, [], []
    wall = [parse_rfc3339("2030-01-01T03:10:00Z").timestamp()]

    async def reconcile(body, patch, logger):
        reconciled.append(body.metadata.uid)

    def states(runs):
        asked.append([name for name, _, _ in runs])
        return [said[name.removeprefix("run-")] for name, _, _ in runs]

    clock = Clock()
    poller = Poller(reconcile, lambda uid: None, client=None, interval=10.0, clock=clock, states=states,
                    wall=lambda: wall[0])
    polled = {"a": in_flight("a", "7"), "b": in_flight("b", "9"),
              "r": in_flight("r", "3", retrain={"schedule": "0 3 * * *"})}

    def look() -> list[str]:
        clock.now += 10
        reconciled.clear()
        asyncio.run(poller.sweep(polled))
        return sorted(reconciled)

    poller.due(polled)
    assert look() == ["a", "b", "r"] and asked == [["run-a", "run-b"]]  # one call for both; first look: reconcile
    assert look() == ["r"]  # no news, same objects: only the one with retraining to decide is reconciled
    said["a"] = ("SUCCEEDED", "")
    assert look() == ["a", "r"]  # the backend has news of a
    polled["b"] = in_flight("b", "10")
    assert look() == ["b", "r"]  # b changed (its spec, its status: another resourceVersion)
    wall[0] += 3600
    assert look() == ["a", "b", "r"]  # past the deadline: the reconcile fails them, not the poller
    assert len(asked) == 4  # and without asking the backend first


def test_a_run_the_backend_cannot_tell_about_is_reconciled_at_every_look():
    reconciled = []

    async def reconcile(body, patch, logger):
        reconciled.append(body.metadata.uid)

    clock = Clock()
    poller = Poller(reconcile, lambda uid: None, client=None, interval=10.0, clock=clock,
                    states=lambda runs: [None for _ in runs], wall=lambda: 0.0)
    polled = {"a": in_flight("a", "1")}
    poller.due(polled)
    for _ in range(3):
        clock.now += 10
        asyncio.run(poller.sweep(polled))
    assert reconciled == ["a", "a", "a"]


def test_a_run_whose_news_was_not_written_is_reconciled_again_at_the_next_look():
    reconciled, failing = [], [True]

    async def reconcile(body, patch, logger):
        reconciled.append(body.metadata.uid)
        patch.status["phase"] = "Succeeded"

    async def write(namespace, name, status):
        if failing[0]:
            raise ApiException(status=500)

    clock = Clock()
    poller = Poller(reconcile, lambda uid: None, client=None, interval=10.0, clock=clock,
                    states=lambda runs: [("SUCCEEDED", "") for _ in runs], wall=lambda: 0.0)
    poller._write = write
    polled = {"a": in_flight("a", "1")}
    poller.due(polled)
    for _ in range(2):
        clock.now += 10
        asyncio.run(poller.sweep(polled))
    assert reconciled == ["a", "a"]  # the write failed: the same answer is no reason to skip it
    failing[0] = False
    for _ in range(2):
        clock.now += 10
        asyncio.run(poller.sweep(polled))
    assert reconciled == ["a", "a", "a"]  # written: the same object and answer are not decided again


def test_a_batch_asks_about_one_namespace_only():
    asked = []

    async def noop(body, patch, logger):
        return None

    def states(runs):
        asked.append(sorted(name for name, _, _ in runs))
        return [("RUNNING", "") for _ in runs]

    def run_in(uid: str, namespace: str) -> Polled:
        kept = in_flight(uid, "1")
        return Polled(kept.uid, namespace, kept.name, None, kept.raw, kept.version, kept.run, kept.deadline)

    clock = Clock()
    poller = Poller(noop, lambda uid: None, client=None, interval=10.0, clock=clock, states=states, wall=lambda: 0.0)
    polled = {uid: run_in(uid, ns) for uid, ns in (("a1", "team-a"), ("b1", "team-b"), ("a2", "team-a"))}
    poller.due(polled)
    clock.now += 10
    asyncio.run(poller.sweep(polled))
    assert sorted(asked) == [["run-a1", "run-a2"], ["run-b1"]]


# --- the queue of watch events --------------------------------------------------------------------------------


def event(uid: str, namespace: str = "team-a", generation: int = 1, label: str = "") -> Polled:
    return Polled.of({"metadata": {"uid": uid, "name": uid, "namespace": namespace, "generation": generation},
                      "spec": {"seen": label}, "status": {}})


def test_a_burst_in_one_namespace_runs_a_few_at_a_time_and_never_makes_another_namespace_wait():
    busy, peak, order = collections.Counter(), [0], []

    async def reconcile(body, patch, logger):
        namespace = body["metadata"]["namespace"]
        busy[namespace] += 1
        peak[0] = max(peak[0], busy["team-a"])
        order.append(body["metadata"]["uid"])
        await asyncio.sleep(0.01)
        busy[namespace] -= 1

    async def scenario():
        poller, _, _, _ = make(reconcile, concurrency=8, per_namespace=3)
        poller.start()
        for i in range(60):
            poller.enqueue(event(f"a{i}"))
        assert poller.queued() == 60  # held as deflated bodies: no task per object
        poller.enqueue(event("b0", namespace="team-b"))
        while poller.queued() or poller._workers:
            await asyncio.sleep(0.005)
        await poller.stop()
        return poller

    poller = asyncio.run(scenario())
    assert peak[0] == 3  # one namespace's share, however long its line
    assert order.index("b0") < 6  # team-b's object went in the first rounds, not after team-a's sixty
    assert [uid for uid in order if uid.startswith("a")] == [f"a{i}" for i in range(60)]  # oldest first
    assert poller._queued == {} and not poller._active and not poller._running  # nothing kept once done


def test_a_newer_event_of_a_queued_object_takes_its_place_and_the_object_is_reconciled_once():
    seen = []

    async def reconcile(body, patch, logger):
        seen.append((body["metadata"]["uid"], body["spec"]["seen"]))

    async def scenario():
        poller, _, _, _ = make(reconcile, per_namespace=1)
        poller.start()
        poller.enqueue(event("first"))
        poller.enqueue(event("second", label="old"))
        poller.enqueue(event("third"))
        poller.enqueue(event("second", label="new"))
        while poller.queued() or poller._workers:
            await asyncio.sleep(0.005)
        await poller.stop()

    asyncio.run(scenario())
    assert seen == [("first", ""), ("second", "new"), ("third", "")]


def test_an_event_older_than_a_status_written_for_its_generation_is_dropped_a_newer_generation_is_not():
    seen, written_generation = [], {}

    async def reconcile(body, patch, logger):
        meta = body["metadata"]
        seen.append((meta["uid"], meta["generation"], body["spec"]["seen"]))
        await asyncio.sleep(0.02)
        patch.status["observedGeneration"] = meta["generation"]
        written_generation[meta["uid"]] = meta["generation"]

    async def scenario():
        poller, _, _, _ = make(reconcile, written=written_generation.get)  # the status writer's kept writes
        poller.start()
        poller.enqueue(event("a"))
        await asyncio.sleep(0.005)
        poller.enqueue(event("a", label="during"))  # came while generation 1 was being acted on
        while poller.queued() or poller._workers:
            await asyncio.sleep(0.005)
        poller.enqueue(event("a", label="late"))  # still older than the write's echo
        poller.enqueue(event("a", generation=2, label="edited"))  # the spec changed: acted on
        while poller.queued() or poller._workers:
            await asyncio.sleep(0.005)
        await poller.stop()

    asyncio.run(scenario())
    assert seen == [("a", 1, ""), ("a", 2, "edited")]


def test_the_queue_is_served_again_after_a_failure_in_serving_it():
    seen, calls = [], [0]

    async def reconcile(body, patch, logger):
        seen.append(body["metadata"]["uid"])

    def written(uid):
        calls[0] += 1
        if calls[0] == 2:  # the drain's own check: a bug there must not stop the queue for good
            raise RuntimeError("a bug")
        return None

    async def scenario():
        poller, _, _, _ = make(reconcile, written=written)
        poller.start()
        poller.enqueue(event("a"))
        for _ in range(400):
            if seen:
                break
            await asyncio.sleep(0.01)
        await poller.stop()

    asyncio.run(scenario())
    assert seen == ["a"]


def test_watch_events_keep_one_body_per_object_while_it_needs_polling_and_a_deletion_drops_its_queued_reconcile():
    poller, _, _, _ = make()
    new = {"metadata": {"uid": "a", "name": "a", "namespace": "team-a", "generation": 1}, "spec": {}, "status": {}}
    poller.watched(new, "ADDED")
    assert poller.queued() == 1 and poller._queued["team-a"]["a"] is poller.kept["a"]  # one body, shared
    running = {**new, "status": {"observedGeneration": 1, "phase": "Running"}}
    poller.watched(running, "MODIFIED")  # our own write coming back: followed, not queued again
    assert poller.kept["a"].body()["status"]["phase"] == "Running" and poller.queued() == 1
    done = {**new, "status": {"observedGeneration": 1, "phase": "Succeeded"}}
    poller.watched(done, "MODIFIED")  # settled, no retraining: nothing left to look at
    assert "a" not in poller.kept
    poller.watched({**done, "metadata": {**new["metadata"], "generation": 2}}, "MODIFIED")  # its spec changed
    assert poller.kept["a"].generation == 2
    poller.watched(new, "DELETED")
    assert poller.kept == {} and poller.queued() == 0  # nothing kept, no reconcile of a deleted object


def test_a_kept_object_whose_status_write_finds_it_gone_is_let_go():
    async def reconcile(body, patch, logger):
        patch.status["message"] = "looked"

    poller, clock, forgotten, _ = make(reconcile)

    async def gone(namespace, name, status):
        raise ApiException(status=404)

    poller._write = gone
    poller.watched({"metadata": {"uid": "a", "name": "a", "namespace": "team-a"},
                    "status": {"phase": "Running", "observedGeneration": 1}}, None)
    poller.due(poller.kept)
    clock.now += 10
    asyncio.run(poller.sweep(poller.kept))
    assert poller.kept == {} and forgotten == ["a"]  # a deletion the watch missed is not looked at for ever
