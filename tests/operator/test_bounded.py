"""Bounded status and state (issue 15): condition messages have a size, the operator keeps nothing for an
object that is gone, and what the API server refuses ends in a condition and an Event."""

import gc
import json
from pathlib import Path

import kubernetes
import pytest

from mlcd.api.v1alpha1.conditions import CONDITION_MESSAGE_LIMIT
from mlcd.backends.base import RunRef, RunState
from mlcd.handlers.app import build_registry
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.trainingrun import TrainingRunReconciler
from tests.k8s import cel
from tests.operator.helpers import condition, phase, registry_for, runs_in, settings, trainingrun

CYCLES, BATCH = 300, 100


class IdleBackend:
    """Takes every run and never finishes one: the operator's side of a reconcile, with no work behind it."""

    name = "local"

    def find(self, run_name, place=None):
        return None

    def submit(self, run_name, document, arguments, labels, place=None):
        return RunRef(run_name, run_name)

    def get(self, ref):
        return RunState(ref.run_id, "PENDING", "queued")

    def stop(self, ref):
        return None


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reconcilers() -> set[int]:
    return {id(o) for o in gc.get_objects() if isinstance(o, TrainingRunReconciler)}


def reconciler_of(registry, before: set[int]) -> TrainingRunReconciler:
    """The reconciler build_registry made (handlers hold it; the test reads what it keeps)."""
    found = [o for o in gc.get_objects() if isinstance(o, TrainingRunReconciler) and id(o) not in before]
    assert len(found) == 1
    return found[0]


def test_a_spec_of_a_third_of_a_megabyte_gives_a_small_status(cluster, home, run_operator, wait_for, figures):
    run_operator(registry_for(home, backend=IdleBackend()), settings())
    params = {f"not_a_parameter_{i:05d}": i for i in range(12_000)}
    body = trainingrun("huge", model={"estimator": "DecisionTreeClassifier", "params": params})
    spec_bytes = len(json.dumps(body))
    cluster.create(body)
    done = wait_for(cluster.fetch("huge"), phase("Invalid"), deadline=120)
    status_bytes = len(json.dumps(done["status"]))
    figures(f"spec {spec_bytes / 1e6:.2f} MB -> status {status_bytes / 1e6:.4f} MB")
    assert spec_bytes > 300_000
    valid = condition(done, "Valid")
    assert len(valid["message"]) == CONDITION_MESSAGE_LIMIT
    assert valid["message"].startswith("spec.model.params.not_a_parameter_00000: not a parameter of ")
    assert valid["message"].endswith(" more characters]") and "… [truncated " in valid["message"]
    assert status_bytes < 3 * CONDITION_MESSAGE_LIMIT
    assert wait_for(lambda: cluster.reasons("huge"), lambda found: found) == ["InvalidSpec"]


def test_cpu_lots_in_a_trainingrun_is_invalid_with_its_path_and_one_event(cluster, home, run_operator, wait_for):
    # The CRD types a quantity as a string, so the API server takes `cpu: lots`; the operator's validation
    # (the API server's own quantity grammar) refuses it before any run, with the field's path.
    run_operator(registry_for(home, backend=IdleBackend()), settings())
    cluster.create(trainingrun("lots", resources={"steps": {"requests": {"cpu": "lots"}}}))
    done = wait_for(cluster.fetch("lots"), phase("Invalid"), deadline=60)
    valid = condition(done, "Valid")
    assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec")
    assert valid["message"].startswith("spec.resources.steps.requests.cpu: 'lots' is not a quantity such as "), valid
    assert not runs_in(home)
    events = wait_for(lambda: cluster.events("lots"), lambda found: found)
    assert [(e.reason, e.type, e.count or 1) for e in events] == [("InvalidSpec", "Warning", 1)]
    assert events[0].message.startswith("spec.resources.steps.requests.cpu: 'lots' is not a quantity")


def test_the_operator_keeps_nothing_for_objects_that_are_gone(cluster, home, run_operator, wait_for, figures):
    before = reconcilers()
    registry = registry_for(home, backend=IdleBackend())
    reconciler = reconciler_of(registry, before)
    run_operator(registry, settings())
    reconciler.writer.echo_seconds = 1.0  # the echo window, shortened: what it holds for a deleted object goes
    rss = []
    for start in range(0, CYCLES, BATCH):
        names = [f"cycle-{i}" for i in range(start, start + BATCH)]
        # Invalid specs: the reconciler's whole bookkeeping (a lock, the status it wrote) without a compile.
        for name in names:
            cluster.create(trainingrun(name, model={"estimator": "NoSuchClassifier"}))
        for name in names:
            wait_for(cluster.fetch(name), phase("Invalid"), deadline=120)
        for name in names:
            cluster.delete(name)
        # A lock lives while a reconcile runs; a write is kept no longer than the echo window.
        wait_for(lambda: (len(reconciler._locks), reconciler.writer.held()), lambda held: held == (0, 0),
                 deadline=120)
        rss.append(rss_mib())
    figures(f"{CYCLES} create/delete cycles: RSS after each {BATCH}: " + " ".join(f"{f:.0f}" for f in rss)
            + f" MiB (growth from the first batch: {rss[-1] - rss[0]:+.1f} MiB)")
    assert reconciler._locks == {} and reconciler._namespaces == {} and reconciler.writer._written == {}


@pytest.fixture
def md_operator(cluster, home, kubeconfig, run_operator):
    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:
        yield run_operator(build_registry(OperatorConfig(home=home, poll_seconds=0.2), backend=IdleBackend(),
                                          kube_client=client), settings())


def modeldeployment(name: str, **serving) -> dict:
    return {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": name},
            "spec": {"model": {"uri": "s3://models/iris/v1"}, "serving": serving}}


def test_a_422_from_the_api_server_is_a_condition_and_one_event(k8s_emulator, cluster, md_operator, wait_for):
    k8s_emulator.emulator.faults.error(422, limit=1000, verbs={"create"}, resource="inferenceservices")
    cluster.create(modeldeployment("refused"), plural="modeldeployments")
    done = wait_for(cluster.fetch("refused", "modeldeployments"), phase("Failed"), deadline=60)
    ready = condition(done, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RefusedByApiServer")
    assert ready["message"] == ("the API server refused InferenceService refused: "
                                "the object is invalid: injected refusal")
    assert done["status"]["message"] == ready["message"]
    # Retried on every tick (level-triggered), told once.
    wait_for(lambda: len(k8s_emulator.call(list, k8s_emulator.emulator.faults.injected)), lambda n: n >= 3)
    assert cluster.reasons("refused") == ["RefusedByApiServer"]


def test_the_crd_refuses_minreplicas_above_maxreplicas_at_apply_time(cluster):
    with pytest.raises(kubernetes.client.ApiException) as refused:
        cluster.create(modeldeployment("backwards", minReplicas=5, maxReplicas=2), plural="modeldeployments")
    assert refused.value.status == 422
    assert "minReplicas must not be above maxReplicas" in refused.value.body


def test_a_modeldeployment_an_api_server_let_through_is_reported_invalid(cluster, md_operator, wait_for, monkeypatch):
    # An API server that does not evaluate the CRD's CEL rules (a CRD applied from an older mlcd, say): the
    # operator's own validation still refuses the spec, with a condition and an Event.
    monkeypatch.setattr(cel, "validate", lambda *_args, **_kwargs: [])
    cluster.create(modeldeployment("backwards", minReplicas=5, maxReplicas=2), plural="modeldeployments")
    done = wait_for(cluster.fetch("backwards", "modeldeployments"), phase("Failed"), deadline=60)
    ready = condition(done, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"] == "spec.serving: minReplicas 5 is above maxReplicas 2"
    assert wait_for(lambda: cluster.reasons("backwards"), lambda found: found) == ["InvalidSpec"]
