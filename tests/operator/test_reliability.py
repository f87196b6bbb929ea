"""Exactly once under API faults, a killed operator process, and deletion with stopRuns."""

import json
import signal
import sys
import urllib.request

from tests.operator.helpers import condition, phase, registry_for, runs_in, settings, trainingrun
from tests.ports import free_port


def test_api_faults_give_the_same_final_state_and_one_run_per_generation(k8s_emulator, cluster, home,
                                                                         run_operator, wait_for):
    faults = k8s_emulator.emulator.faults
    faults.error(500, limit=6, share=0.3, verbs={"patch"}, resource="trainingruns/status")
    faults.error(409, limit=4, share=0.3, verbs={"patch"}, resource="trainingruns")
    faults.error(429, limit=4, share=0.3, retry_after=0, resource="trainingruns")
    faults.error(500, limit=3, share=0.3, verbs={"create"}, resource="events")
    faults.drop_watches(limit=2, after_events=(1, 3), resource="trainingruns")
    run_operator(registry_for(home), settings())
    for name in ("a", "b", "c"):
        cluster.create(trainingrun(name))
    for name in ("a", "b", "c"):
        done = wait_for(cluster.fetch(name), phase("Succeeded", "Failed", "Rejected"), deadline=120)
        assert done["status"]["phase"] == "Succeeded", done["status"]
        assert condition(done, "Ready")["status"] == "True"
    names = [cluster.get(n)["status"]["pipeline"]["runName"] for n in ("a", "b", "c")]
    assert runs_in(home) == sorted(names)  # one run each, whatever was retried
    injected = {(i.what, i.code) for i in k8s_emulator.call(list, faults.injected)}
    assert {("error", 500), ("error", 409), ("error", 429)} & injected


def test_delete_with_stop_runs_stops_the_run_and_never_hangs(cluster, home, run_operator, wait_for):
    run_operator(registry_for(home), settings())
    slow = trainingrun("slow", model={"estimator": "RandomForestClassifier", "params": {"n_estimators": 3000}},
                       deletePolicy="stopRuns")
    cluster.create(slow)
    running = wait_for(cluster.fetch("slow"), phase("Running"), deadline=60)
    cluster.delete("slow")
    wait_for(lambda: [i["metadata"]["name"] for i in cluster.crs.list_namespaced_custom_object(
        "mlcd.io", "v1alpha1", "default", "trainingruns")["items"]], lambda names: names == [], deadline=30)
    result = home / "runs" / running["status"]["pipeline"]["runName"] / "result.json"
    recorded = wait_for(lambda: json.loads(result.read_text()), lambda r: r["state"] in ("CANCELED", "FAILED"))
    assert recorded["state"] == "CANCELED"



def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_mlcd_operator_process_killed_mid_run_is_replaced_without_a_second_run(cluster, home, operator_process,
                                                                               wait_for):
    liveness, metrics = free_port(), free_port()
    argv = [sys.executable, "-m", "mlcd", "operator", "--backend", "local", "--poll-seconds", "0.5",
            "--liveness-port", str(liveness), "--metrics-port", str(metrics), "--log-format", "json"]
    development = {"MLCD_LOCAL_NAMESPACE": "default"}  # the local backend's one namespace, where file:// is allowed
    first = operator_process(argv, development)
    cluster.create(trainingrun(model={"estimator": "RandomForestClassifier", "params": {"n_estimators": 400}}))
    submitted = wait_for(cluster.fetch("iris"), phase("Pending", "Running"), deadline=60)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    second = operator_process(argv, development)
    done = wait_for(cluster.fetch("iris"), phase("Succeeded", "Failed"), deadline=120)
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["pipeline"]["runName"] == submitted["status"]["pipeline"]["runName"]
    assert runs_in(home) == [done["status"]["pipeline"]["runName"]]
    status, body = wait_for(lambda: get(f"http://127.0.0.1:{liveness}/healthz"), lambda r: r[0] == 200)
    _, text = get(f"http://127.0.0.1:{metrics}/metrics")
    assert 'mlcd_runs_finished_total{phase="Succeeded"} 1.0' in text
    assert "mlcd_reconciles_total" in text and "mlcd_run_duration_seconds_bucket" in text
    lines = [line for line in second.logs().splitlines() if line.startswith("{")]
    assert lines and all(json.loads(line)["message"] for line in lines)
    assert any("run finished" in json.loads(line)["message"] for line in lines)


class DownOnStop:
    """The local backend, except that stopping a run finds the backend down."""

    def __init__(self, inner):
        self.inner, self.name, self.stops = inner, inner.name, 0

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)

    def stop(self, ref):
        from mlcd.backends.base import BackendUnavailable

        self.stops += 1
        raise BackendUnavailable("KFP API at http://kfp.invalid is unreachable: ConnectionError")


def test_delete_never_hangs_on_a_backend_that_is_down(cluster, home, run_operator, wait_for):
    from mlcd.backends.queue import LocalQueueBackend

    backend = DownOnStop(LocalQueueBackend(home))
    run_operator(registry_for(home, backend=backend), settings())
    cluster.create(trainingrun("slow", model={"estimator": "RandomForestClassifier",
                                              "params": {"n_estimators": 3000}}, deletePolicy="stopRuns"))
    running = wait_for(cluster.fetch("slow"), phase("Pending", "Running"), deadline=60)
    # A run is submitted only once the finalizer is on the object: deleted at once, it is still stopped.
    assert "mlcd.io/finalizer" in running["metadata"]["finalizers"]
    cluster.delete("slow")
    wait_for(lambda: [i["metadata"]["name"] for i in cluster.crs.list_namespaced_custom_object(
        "mlcd.io", "v1alpha1", "default", "trainingruns")["items"]], lambda names: names == [], deadline=30)
    assert backend.stops == 1  # tried once, then let the object go: KFP's history is left alone
    from mlcd.backends.base import RunRef

    name = running["status"]["pipeline"]["runName"]
    backend.inner.stop(RunRef(name, name))  # leave no training behind for the tests that follow
