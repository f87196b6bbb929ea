"""Retraining by the operator on the API emulator with the `local` backend: on new data and on drift (data on
a real S3 server), on a schedule driven by an injected clock, and exactly once across a restart."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlcd.backends.base import BackendUnavailable
from mlcd.backends.queue import LocalQueueBackend
from mlcd.reconcile import retrain
from tests.operator.helpers import condition, phase, registry_for, runs_in, settings, trainingrun

START = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)


class Clock:
    """The operator's "now" (OperatorConfig.clock): moved by the test, never by waiting."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> str:
        self.now += timedelta(seconds=seconds)
        return retrain.rfc3339(self.now)


@pytest.fixture
def clock():
    return Clock(START)


def state(obj: dict) -> dict:
    return (obj.get("status") or {}).get("retrain") or {}


def history(obj: dict) -> list[dict]:
    return state(obj).get("history") or []


def settled(obj: dict) -> bool:
    """The run in status has ended, and no trigger is waiting for its run."""
    return phase("Succeeded", "Rejected", "Failed")(obj) and not state(obj).get("pendingTrigger")


def retrained(obj: dict) -> bool:
    """A retraining run has ended, and its history entry says how."""
    return settled(obj) and bool(history(obj)) and bool(history(obj)[0].get("phase"))


def frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"a": rng.normal(0, 1, 300), "b": rng.normal(2, 1, 300), "c": rng.uniform(0, 1, 300)})
    data["label"] = (data["a"] + data["b"] > 2).astype(int)
    data["a"] += shift
    return data


def csv(data: pd.DataFrame) -> bytes:
    return data.to_csv(index=False).encode()


def on_s3(bucket: str, **retraining) -> dict:
    return trainingrun(
        data={"source": f"s3://{bucket}/data/train.csv", "target": "label", "checks": {"minRows": 50}},
        model={"estimator": "LogisticRegression", "params": {"max_iter": 200}},
        gates=[{"metric": "accuracy", "min": 0.8}, {"metric": "accuracy", "vsChampion": {"maxRegression": 0.05}}],
        registry={"uri": f"s3://{bucket}/models/iris"}, retrain=retraining)


@pytest.mark.s3
def test_new_data_retrains_once_and_the_same_data_again_does_not(cluster, home, clock, s3_server, monkeypatch,
                                                                 run_operator, wait_for):
    s3_server.use(monkeypatch)  # the local backend's worker process reads S3 with these settings
    cluster.storage_secret(s3_server.env())  # and the operator with the namespace's Secret
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "data/train.csv", csv(frame(1)))
    run_operator(registry_for(home, clock=clock, kube_client=cluster.api_client), settings())
    cluster.create(on_s3(bucket, onDataChange=True, pollSeconds=60))
    first = wait_for(cluster.fetch("iris"), lambda o: settled(o) and state(o).get("checkedAt"), deadline=90)
    assert first["status"]["phase"] == "Succeeded" and history(first) == []
    assert state(first)["dataFingerprint"].startswith("etag:")

    s3_server.put(bucket, "data/train.csv", csv(frame(2)))
    clock.advance(60)
    done = wait_for(cluster.fetch("iris"), retrained, deadline=90)
    entry = history(done)[0]
    assert entry["key"].startswith("data-") and entry["phase"] == "Succeeded" and entry["modelVersion"] == 2
    assert done["status"]["pipeline"]["trigger"] == entry["key"]
    assert done["status"]["lastRetrain"]["reason"] == "data" and done["status"]["lastRetrain"]["key"] == entry["key"]
    assert done["status"]["model"]["version"] == 2
    assert state(done)["dataFingerprint"] != state(first)["dataFingerprint"]
    assert len(runs_in(home)) == 2

    s3_server.put(bucket, "data/train.csv", csv(frame(2)))  # the same bytes again
    checked = clock.advance(60)
    again = wait_for(cluster.fetch("iris"), lambda o: state(o).get("checkedAt") == checked, deadline=30)
    assert not state(again).get("pendingTrigger") and len(history(again)) == 1
    assert len(runs_in(home)) == 2
    assert cluster.reasons("iris").count("RetrainTriggered") == 1


@pytest.mark.s3
def test_drifted_data_retrains_and_undrifted_data_does_not(cluster, home, clock, s3_server, monkeypatch,
                                                           run_operator, wait_for):
    s3_server.use(monkeypatch)
    cluster.storage_secret(s3_server.env())
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "data/train.csv", csv(frame(1)))
    s3_server.put(bucket, "data/current.csv", csv(frame(3)))  # new rows from the same distribution
    run_operator(registry_for(home, clock=clock, kube_client=cluster.api_client), settings())
    drift = {"current": f"s3://{bucket}/data/current.csv", "method": "psi", "threshold": 0.2}
    cluster.create(on_s3(bucket, drift=drift, pollSeconds=60))
    calm = wait_for(cluster.fetch("iris"), lambda o: settled(o) and state(o).get("lastDriftCheck"), deadline=90)
    check = state(calm)["lastDriftCheck"]
    assert check["drifted"] is False and check["championVersion"] == 1 and set(check["scores"]) == {"a", "b", "c"}
    assert not history(calm) and "lastRetrain" not in calm["status"]
    assert wait_for(lambda: cluster.reasons("iris"), lambda r: "NoDrift" in r)

    s3_server.put(bucket, "data/current.csv", csv(frame(3, shift=3.0)))
    clock.advance(60)
    done = wait_for(cluster.fetch("iris"), retrained, deadline=90)
    last = done["status"]["lastRetrain"]
    assert last["reason"] == "drift" and last["drifted"] is True and last["feature"] == "a"
    assert last["psi"] > 0.2 and last["scores"]["a"] == max(last["scores"].values())
    assert history(done)[0]["key"] == last["key"] and last["runName"] == done["status"]["pipeline"]["runName"]
    assert done["status"]["phase"] == "Succeeded" and done["status"]["model"]["version"] == 2
    versus = [g for g in done["status"]["gates"] if "champion" in g["message"]]
    assert versus and all(g["passed"] for g in versus)  # gated against the champion it may replace
    key = last["report"].removeprefix(f"s3://{bucket}/")
    report = s3_server.client().get_object(bucket, key).read().decode()
    assert "<h2>Data drift</h2>" in report and "drift: worst feature a" in report
    assert "DriftDetected" in cluster.reasons("iris")

    # The new champion is checked too; the same drifted data is no new reason to retrain.
    checked = clock.advance(60)
    after = wait_for(cluster.fetch("iris"), lambda o: state(o).get("checkedAt") == checked, deadline=30)
    assert state(after)["lastDriftCheck"]["championVersion"] == 2
    # Two training runs, and three drift-check runs (one per data and champion pair): the operator itself
    # never read the data.
    assert len(history(after)) == 1 and len(runs_in(home)) == 5


def test_schedule_slots_follow_the_clock_and_missed_slots_run_once(cluster, home, clock, run_operator, wait_for):
    run_operator(registry_for(home, clock=clock), settings())
    cluster.create(trainingrun("hourly", retrain={"schedule": "0 * * * *"}))
    cluster.create(trainingrun("late", retrain={"schedule": "0 * * * *", "startingDeadlineSeconds": 60}))
    for name in ("hourly", "late"):
        seen = wait_for(cluster.fetch(name), lambda o: settled(o) and o["status"].get("nextScheduledRun"), deadline=90)
        assert seen["status"]["nextScheduledRun"] == "2030-01-01T01:00:00Z"
        assert condition(seen, "Retraining")["reason"] == "Waiting"

    clock.advance(10 * 3600 + 90)  # ten slots passed; the last, 10:00, 90 s ago
    done = wait_for(cluster.fetch("hourly"), retrained, deadline=90)
    slot = datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert [h["key"] for h in history(done)] == [f"schedule-{int(slot.timestamp())}"]
    assert done["status"]["nextScheduledRun"] == "2030-01-01T11:00:00Z"
    assert done["status"]["lastRetrain"]["reason"] == "schedule"
    late = wait_for(cluster.fetch("late"), lambda o: state(o).get("scheduledSince") == "2030-01-01T10:00:00Z")
    assert not history(late) and not state(late).get("pendingTrigger")
    assert "ScheduleMissed" in cluster.reasons("late")
    runs = runs_in(home)
    assert len(runs) == 3 and done["status"]["pipeline"]["runName"] in runs
    ready = wait_for(cluster.fetch("hourly"), lambda o: condition(o, "Retraining")["reason"] == "Waiting")
    assert "next run 2030-01-01T11:00:00Z" in condition(ready, "Retraining")["message"]


class LostSubmit:
    """The local backend, but the submit of a retraining never answers: before it reached the queue, or after."""

    name = "local"

    def __init__(self, inner: LocalQueueBackend, reaches: bool):
        self.inner = inner
        self.reaches = reaches

    def find(self, run_name, place=None):
        return self.inner.find(run_name, place)

    def submit(self, run_name, document, arguments, labels, place=None):
        if labels["mlcd.io/trigger"] == "spec":
            return self.inner.submit(run_name, document, arguments, labels, place)
        if self.reaches:
            self.inner.submit(run_name, document, arguments, labels, place)
        raise BackendUnavailable("connection reset by peer")

    def get(self, ref):
        return self.inner.get(ref)

    def stop(self, ref):
        return self.inner.stop(ref)


@pytest.mark.parametrize("reaches", [False, True], ids=["before-the-run-was-queued", "after-the-run-was-queued"])
def test_a_restart_in_the_middle_of_a_retraining_starts_no_second_run(cluster, home, clock, run_operator, wait_for,
                                                                     reaches):
    first = run_operator(registry_for(home, LostSubmit(LocalQueueBackend(home), reaches), clock=clock), settings())
    cluster.create(trainingrun(retrain={"schedule": "*/5 * * * *"}))
    wait_for(cluster.fetch("iris"), lambda o: settled(o) and o["status"].get("nextScheduledRun"), deadline=90)
    clock.advance(300)
    stuck = wait_for(cluster.fetch("iris"), lambda o: condition(o, "Submitted")["reason"] == "BackendUnavailable")
    key = state(stuck)["pendingTrigger"]["key"]  # recorded before the submit that got no answer
    first.stop()

    run_operator(registry_for(home, clock=clock), settings())
    done = wait_for(cluster.fetch("iris"), retrained, deadline=90)
    assert [h["key"] for h in history(done)] == [key] and history(done)[0]["phase"] == "Succeeded"
    assert done["status"]["pipeline"]["trigger"] == key
    assert condition(done, "Submitted")["reason"] == ("RunAdopted" if reaches else "RunSubmitted")
    assert len(runs_in(home)) == 2
