"""spec.timeouts.runSeconds through the operator (kopf on the API emulator, the `kfp` backend against the
KFP stand-in): a run that is still running past its run timeout is terminated once, and the TrainingRun
fails with reason DeadlineExceeded; nothing is submitted again."""

import threading

import pytest

from mlcd.backends.base import RunState
from tests.kfp_standin import KfpStandIn
from tests.operator.helpers import condition, phase, settings, trainingrun
from tests.operator.test_trainingrun_kfp import TOKEN, kfp_registry, with_storage

pytestmark = pytest.mark.s3


class NeverFinishes:
    """The stand-in's executor: takes every run, which then runs until KFP terminates it (no work behind it)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.submitted: list[str] = []

    def submit(self, run_id, pipeline_spec, parameters, labels):
        with self.lock:
            self.submitted.append(run_id)

    def get(self, ref):
        return RunState(ref.run_id, "RUNNING")


@pytest.fixture
def held_kfp(tmp_path, monkeypatch, cluster, s3_server):
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCD_KFP_TOKEN", TOKEN)
    executor = NeverFinishes()
    standin = KfpStandIn(executor=executor).start()
    standin.held = executor
    yield with_storage(standin, cluster, s3_server, ("default",))
    standin.stop()


def test_a_run_past_its_run_timeout_is_terminated_once_and_fails_with_deadline_exceeded(cluster, held_kfp, tmp_path,
                                                                                        run_operator, wait_for):
    run_operator(kfp_registry(tmp_path, held_kfp), settings())
    cluster.create(trainingrun("slow", timeouts={"runSeconds": 1}))
    done = wait_for(cluster.fetch("slow"), phase("Succeeded", "Failed", "Rejected", "Invalid"), deadline=90)
    status = done["status"]
    assert status["phase"] == "Failed", status
    run_name, run_id = status["pipeline"]["runName"], status["pipeline"]["runId"]
    assert "past spec.timeouts.runSeconds (1 s), and was stopped" in status["message"]
    for type_ in ("Ready", "Trained"):
        found = condition(done, type_)
        assert (found["status"], found["reason"]) == ("False", "DeadlineExceeded"), found
        assert run_name in found["message"] and "spec.timeouts.runSeconds (1 s)" in found["message"]
    # Events are posted after the status write: wait for the one this TrainingRun gets for its deadline.
    events = wait_for(lambda: [e for e in cluster.events("slow") if e.reason == "DeadlineExceeded"],
                      lambda found: found, deadline=30)
    assert [(e.type, e.message) for e in events] == [("Warning", status["message"])]
    # KFP was asked once to terminate this run, and the run it holds says so.
    terminated = [path for method, path, _ in held_kfp.requests if method == "POST" and path.endswith(":terminate")]
    assert terminated == [f"/apis/v2beta1/runs/{run_id}:terminate"]
    assert held_kfp.runs[run_id]["state"] == "CANCELED"
    # One run, and no second one for the failed generation.
    assert [c["display_name"] for c in held_kfp.created()] == [run_name]
    assert held_kfp.held.submitted == [run_id]
    assert cluster.get("slow")["status"]["pipeline"]["runName"] == run_name
