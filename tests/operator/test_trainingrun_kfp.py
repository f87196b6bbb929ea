"""The operator with the `kfp` backend against a stand-in KFP API server (v2beta1 contract, real execution)."""

import threading

import pytest

from mlcd.backends.kfp import KfpBackend
from mlcd.backends.queue import LocalQueueBackend
from tests.kfp_standin import KfpStandIn
from tests.operator.helpers import condition, phase, registry_for, settings, trainingrun

TOKEN = "kfp-token-do-not-leak-7d1e"


@pytest.fixture
def kfp(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCD_KFP_TOKEN", TOKEN)
    standin = KfpStandIn(executor=LocalQueueBackend(tmp_path / "kfp-cluster")).start()
    yield standin
    standin.stop()


def kfp_registry(tmp_path, kfp, backend=None, poll: float = 0.3):
    return registry_for(tmp_path / "home", backend=backend, backend_name="kfp", kfp_host=kfp.url,
                        registry_base=(tmp_path / "registry").as_uri(), poll=poll)


def test_submit_poll_and_results_through_the_kfp_contract(cluster, kfp, tmp_path, run_operator, wait_for, caplog):
    run_operator(kfp_registry(tmp_path, kfp), settings())
    cluster.create(trainingrun())
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=90)
    status = done["status"]
    assert status["phase"] == "Succeeded", status["message"]
    created = kfp.created()
    assert len(created) == 1
    run_id = status["pipeline"]["runId"]
    assert created[0]["display_name"] == status["pipeline"]["runName"]
    assert status["pipeline"]["runUrl"] == f"{kfp.url}/#/runs/details/{run_id}"
    parameters = created[0]["runtime_config"]["parameters"]
    assert parameters["data_source"] == "builtin://iris" and parameters["run_key"] == status["pipeline"]["runName"]
    # The pipeline spec and its platform spec (the steps' timeouts), as kfp.Client sends a package with both.
    assert created[0]["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "mlcd-training"
    assert created[0]["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]
    registry = (tmp_path / "registry" / "default" / "iris").as_uri()
    assert status["model"] == {"uri": f"{registry}/v1", "version": 1}
    assert status["metrics"]["accuracy"] >= 0.8  # read from the run record the pipeline wrote
    paths = {(m, p) for m, p, _ in kfp.requests}
    assert {("GET", "/apis/v2beta1/runs"), ("POST", "/apis/v2beta1/runs"),
            ("GET", f"/apis/v2beta1/runs/{run_id}")} == paths
    assert set(kfp.token_seen) == {f"Bearer {TOKEN}"}
    assert TOKEN not in str(done) and TOKEN not in caplog.text
    assert all(TOKEN not in (e.message or "") for e in cluster.events("iris"))


def test_a_failed_run_reports_kfps_error(cluster, kfp, tmp_path, run_operator, wait_for):
    run_operator(kfp_registry(tmp_path, kfp), settings())
    missing = (tmp_path / "nowhere.csv").as_uri()
    cluster.create(trainingrun(data={"source": missing, "target": "label"}))
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=90)
    assert done["status"]["phase"] == "Failed"
    assert "nowhere.csv" in done["status"]["message"]
    assert condition(done, "Trained")["reason"] == "RunFailed"
    assert wait_for(lambda: cluster.reasons("iris"), lambda r: "RunFailed" in r)


def test_an_unavailable_kfp_api_is_retried_then_succeeds(cluster, kfp, tmp_path, run_operator, wait_for):
    kfp.fail_next = [503, 503, 503]
    run_operator(kfp_registry(tmp_path, kfp), settings())
    cluster.create(trainingrun())
    waiting = wait_for(cluster.fetch("iris"), lambda o: any(
        c["type"] == "Submitted" and c["reason"] == "BackendUnavailable" for c in (o.get("status") or {}).get(
            "conditions", [])), deadline=30)
    assert condition(waiting, "Submitted")["status"] == "False"
    assert "503" in condition(waiting, "Submitted")["message"]
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed"), deadline=90)
    assert done["status"]["phase"] == "Succeeded"
    assert condition(done, "Submitted")["reason"] == "RunSubmitted"
    assert len(kfp.created()) == 1
    reasons = cluster.reasons("iris")
    assert reasons.count("BackendUnavailable") == 1


def test_unreachable_host_is_backend_unavailable():
    from mlcd.backends.base import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="unreachable"):
        KfpBackend("http://127.0.0.1:9", timeout=2).find("anything")


class HaltAfterSubmit(KfpBackend):
    """Submits, then never returns: the operator dies before it can write status."""

    def __init__(self, host):
        super().__init__(host)
        self.submitted = threading.Event()
        self.release = threading.Event()

    def submit(self, *args, **kwargs):
        super().submit(*args, **kwargs)
        self.submitted.set()
        self.release.wait(30)
        raise RuntimeError("the operator was killed")


def test_a_restart_between_submission_and_status_write_adopts_the_run(cluster, kfp, tmp_path, run_operator,
                                                                        wait_for):
    halting = HaltAfterSubmit(kfp.url)
    # No timer in the first operator: when stopping cancels the hanging create handler, a timer waiting for
    # the object's lock would take it, adopt the run and write status before the test looks (and be left
    # running past the stop, its session leaking into later tests).
    first = run_operator(kfp_registry(tmp_path, kfp, backend=halting, poll=3600), settings())
    cluster.create(trainingrun())
    assert halting.submitted.wait(30)
    assert "pipeline" not in (cluster.get("iris").get("status") or {})
    # The operator stops with the submit call still hanging; it ends once the thread is let go.
    threading.Timer(1.0, halting.release.set).start()
    first.stop()
    assert "pipeline" not in (cluster.get("iris").get("status") or {})
    run_operator(kfp_registry(tmp_path, kfp), settings())
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed"), deadline=90)
    assert done["status"]["phase"] == "Succeeded"
    assert len(kfp.created()) == 1
    assert condition(done, "Submitted")["reason"] == "RunAdopted"


def test_delete_and_recreate_is_a_new_distinct_run(cluster, kfp, tmp_path, run_operator, wait_for):
    run_operator(kfp_registry(tmp_path, kfp), settings())
    cluster.create(trainingrun())
    old = wait_for(cluster.fetch("iris"), phase("Succeeded"), deadline=90)
    cluster.delete("iris")
    wait_for(lambda: [i["metadata"]["name"] for i in cluster.crs.list_namespaced_custom_object(
        "mlcd.io", "v1alpha1", "default", "trainingruns")["items"]], lambda names: "iris" not in names)
    cluster.create(trainingrun())
    new = wait_for(cluster.fetch("iris"), lambda o: phase("Succeeded")(o) and o["metadata"]["uid"] != old[
        "metadata"]["uid"], deadline=90)
    assert new["status"]["pipeline"]["runName"] != old["status"]["pipeline"]["runName"]
    assert len(kfp.created()) == 2
    assert new["status"]["model"]["version"] == 2  # the registry kept v1


def test_a_spec_change_in_flight_finishes_then_runs_the_new_generation(cluster, kfp, tmp_path, run_operator,
                                                                       wait_for):
    run_operator(kfp_registry(tmp_path, kfp), settings())
    cluster.create(trainingrun())
    wait_for(cluster.fetch("iris"), phase("Pending", "Running"), deadline=30)
    cluster.patch_spec("iris", {"model": {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 2}}})
    done = wait_for(cluster.fetch("iris"), lambda o: phase("Succeeded")(o) and o["status"]["pipeline"][
        "generation"] == 2, deadline=120)
    created = kfp.created()
    assert [c["runtime_config"]["parameters"]["run_generation"] for c in created] == [1, 2]
    assert done["status"]["observedGeneration"] == 2
    events = [e.message for e in cluster.events("iris") if e.reason == "RunSucceeded"]
    assert len(events) == 2 and created[0]["display_name"] in events[0] and created[1]["display_name"] in events[1]
