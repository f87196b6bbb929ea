"""The operator with the `kfp` backend against a stand-in KFP API server (v2beta1 contract, real execution),
in single-user mode and in multi-user mode with KFP's own auth and namespace rules; registries on a real S3
server, reached by the operator and the steps with each namespace's storage Secret."""

import os
import threading

import pytest

from mlcd.backends.kfp import KfpBackend
from mlcd.storage import open_registry
from tests.kfp_standin import KfpStandIn
from tests.operator.helpers import Cluster, condition, phase, registry_for, settings, trainingrun

pytestmark = pytest.mark.s3

TOKEN = "kfp-token-do-not-leak-7d1e"
OPERATOR = "system:serviceaccount:mlcd-system:mlcd"  # who the projected token says the operator is


def with_storage(standin: KfpStandIn, cluster, s3_server, namespaces: tuple[str, ...]) -> KfpStandIn:
    """Each namespace's storage Secret, a bucket for the registries, and the client the operator reads
    the Secrets with."""
    for namespace in namespaces:
        cluster.storage_secret(s3_server.env(), namespace)
    standin.registry_base = f"s3://{s3_server.create_bucket()}/registry"
    standin.storage_env = s3_server.env()
    standin.kube_client = cluster.api_client
    return standin


@pytest.fixture
def kfp(tmp_path, monkeypatch, cluster, s3_server):
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCD_KFP_TOKEN", TOKEN)
    standin = KfpStandIn(secrets=cluster.read_secret, home=tmp_path / "kfp-cluster").start()
    yield with_storage(standin, cluster, s3_server, ("default",))
    standin.stop()


@pytest.fixture
def kfp_multi(tmp_path, monkeypatch, cluster, s3_server):
    """Multi-user KFP; the operator's projected token in a file, as the kubelet writes it; RoleBindings to
    kubeflow-pipelines-edit in team-a and team-b."""
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLCD_KFP_TOKEN", raising=False)
    token_file = tmp_path / "kubeflow-pipelines" / "token"
    token_file.parent.mkdir()
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token_file))
    standin = KfpStandIn(multi_user=True, secrets=cluster.read_secret, home=tmp_path / "kfp-cluster").start()
    standin.issue_token(TOKEN, OPERATOR)
    standin.token_file = token_file
    for namespace in ("team-a", "team-b"):
        standin.bind_edit(OPERATOR, namespace)
    yield with_storage(standin, cluster, s3_server, ("team-a", "team-b"))
    standin.stop()


def kfp_registry(tmp_path, kfp, backend=None, poll: float = 0.3, **config):
    return registry_for(tmp_path / "home", backend=backend, backend_name="kfp", kfp_host=kfp.url,
                        registry_base=kfp.registry_base, poll=poll, kube_client=kfp.kube_client, **config)


def rotate(token_file, token: str) -> None:
    """As the kubelet does: the new token replaces the file in one step."""
    fresh = token_file.with_name(".token.new")
    fresh.write_text(token + "\n")
    os.replace(fresh, token_file)


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
    document = created[0]["pipeline_spec"]  # the pipeline spec and its platform spec, as kfp.Client sends them
    assert document["pipeline_spec"]["pipelineInfo"]["name"] == "mlcd-training"
    executors = document["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # The namespace's storage Secret, mounted only by the steps that touch storage.
    assert {ref["secretName"] for config in executors.values() for ref in config.get("secretAsEnv", [])} == {
        "mlcd-storage"}
    assert not executors["exec-train"].get("secretAsEnv")
    registry = f"{kfp.registry_base}/default/iris"
    registered = open_registry(registry, kfp.storage_env).metadata(1)["model"]["sha256"]
    assert status["model"] == {"uri": f"{registry}/v1", "version": 1, "sha256": registered}
    assert status["metrics"]["accuracy"] >= 0.8  # read from the run record the pipeline wrote
    paths = {(m, p) for m, p, _ in kfp.requests}
    assert {("GET", "/apis/v2beta1/experiments"), ("POST", "/apis/v2beta1/experiments"),
            ("GET", "/apis/v2beta1/runs"), ("POST", "/apis/v2beta1/runs"),
            ("GET", f"/apis/v2beta1/runs/{run_id}")} == paths
    # Single-user KFP: the experiment is made once and holds the run, whatever the namespace says.
    [experiment] = kfp.experiments.values()
    assert experiment["display_name"] == "mlcd" and created[0]["experiment_id"] == experiment["experiment_id"]
    assert set(kfp.token_seen) == {f"Bearer {TOKEN}"}
    assert TOKEN not in str(done) and TOKEN not in caplog.text
    assert all(TOKEN not in (e.message or "") for e in cluster.events("iris"))


def test_a_failed_run_reports_kfps_error(cluster, kfp, tmp_path, run_operator, wait_for):
    run_operator(kfp_registry(tmp_path, kfp), settings())
    missing = f"{kfp.registry_base}/nowhere.csv"
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
    assert done["status"]["phase"] == "Succeeded", done["status"]
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


@pytest.mark.parametrize("mode", ["kfp", "kfp_multi"])
def test_a_restart_between_submission_and_status_write_adopts_the_run(mode, request, cluster, tmp_path, run_operator,
                                                                        wait_for):
    kfp = request.getfixturevalue(mode)
    where = in_namespace(cluster, "team-a") if kfp.multi_user else cluster
    halting = HaltAfterSubmit(kfp.url)
    # No timer in the first operator: when stopping cancels the hanging create handler, a timer waiting for
    # the object's lock would take it, adopt the run and write status before the test looks (and be left
    # running past the stop, its session leaking into later tests).
    first = run_operator(kfp_registry(tmp_path, kfp, backend=halting, poll=3600), settings())
    where.create(trainingrun())
    assert halting.submitted.wait(30)
    assert "pipeline" not in (where.get("iris").get("status") or {})
    # The operator stops with the submit call still hanging; it ends once the thread is let go.
    threading.Timer(1.0, halting.release.set).start()
    first.stop()
    assert "pipeline" not in (where.get("iris").get("status") or {})
    run_operator(kfp_registry(tmp_path, kfp), settings())
    done = wait_for(where.fetch("iris"), phase("Succeeded", "Failed"), deadline=90)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    assert len(kfp.created()) == 1
    assert condition(done, "Submitted")["reason"] == "RunAdopted"
    assert len(kfp.experiments) == 1  # the restarted operator found the experiment too


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
    # Events are posted in the background after the status write: wait for the second one to arrive.
    events = wait_for(lambda: [e.message for e in cluster.events("iris") if e.reason == "RunSucceeded"],
                      lambda found: len(found) >= 2, deadline=30)
    assert len(events) == 2 and created[0]["display_name"] in events[0] and created[1]["display_name"] in events[1]


def in_namespace(cluster: Cluster, namespace: str) -> Cluster:
    return Cluster(cluster.crs.api_client, namespace)


def test_multi_user_runs_go_to_an_experiment_of_their_namespace_with_the_projected_token(
        cluster, kfp_multi, tmp_path, run_operator, wait_for, caplog):
    run_operator(kfp_registry(tmp_path, kfp_multi, kfp_service_account="mlcd-runner",
                              kfp_ui_url="https://kubeflow.example.com/pipeline"), settings())
    team_a, team_b = in_namespace(cluster, "team-a"), in_namespace(cluster, "team-b")
    team_a.create(trainingrun())
    team_b.create(trainingrun(serviceAccountName="trainer"))
    done = {team.namespace: wait_for(team.fetch("iris"), phase("Succeeded", "Failed"), deadline=120)
            for team in (team_a, team_b)}
    assert {ns: obj["status"]["phase"] for ns, obj in done.items()} == {"team-a": "Succeeded", "team-b": "Succeeded"}
    created = kfp_multi.created()
    assert len(created) == 2
    experiments = {e["namespace"]: e for e in kfp_multi.experiments.values()}
    assert sorted(experiments) == ["team-a", "team-b"]
    assert {e["display_name"] for e in experiments.values()} == {"mlcd"}
    for namespace, obj in done.items():
        pipeline = obj["status"]["pipeline"]
        run = kfp_multi.runs[pipeline["runId"]]
        assert run["display_name"] == pipeline["runName"]
        assert run["experiment_id"] == experiments[namespace]["experiment_id"]
        assert run["_namespace"] == namespace  # KFP gave the run its experiment's namespace
        assert pipeline["runUrl"] == f"https://kubeflow.example.com/pipeline/#/runs/details/{run['run_id']}"
    by_namespace = {kfp_multi.runs[o["status"]["pipeline"]["runId"]]["_namespace"]:
                    kfp_multi.runs[o["status"]["pipeline"]["runId"]] for o in done.values()}
    assert by_namespace["team-a"]["service_account"] == "mlcd-runner"  # the operator's default
    assert by_namespace["team-b"]["service_account"] == "trainer"  # spec.serviceAccountName
    # Every lookup was scoped: runs to the namespace's experiment, experiments to the namespace.
    ids = {e["experiment_id"] for e in experiments.values()}
    for (method, path, _), query in zip(kfp_multi.requests, kfp_multi.queries, strict=True):
        if method == "GET" and path == "/apis/v2beta1/runs":
            assert query["experiment_id"][0] in ids
        if method == "GET" and path == "/apis/v2beta1/experiments":
            assert query["namespace"][0] in experiments
    assert set(kfp_multi.token_seen) == {f"Bearer {TOKEN}"}
    assert not any("kubeflow-userid" in headers for headers in kfp_multi.headers_seen)
    assert TOKEN not in caplog.text and all(TOKEN not in str(o) for o in done.values())


def test_a_rotated_token_file_is_read_on_the_next_request(cluster, kfp_multi, tmp_path, run_operator, wait_for):
    run_operator(kfp_registry(tmp_path, kfp_multi), settings())
    team_a = in_namespace(cluster, "team-a")
    team_a.create(trainingrun())
    wait_for(team_a.fetch("iris"), lambda o: (o.get("status") or {}).get("pipeline", {}).get("runId"), deadline=60)
    seen = len(kfp_multi.token_seen)
    kfp_multi.issue_token("kfp-token-rotated-0b52", OPERATOR)
    rotate(kfp_multi.token_file, "kfp-token-rotated-0b52")
    del kfp_multi.tokens[TOKEN]  # the old token has expired: it would get a 401
    done = wait_for(team_a.fetch("iris"), phase("Succeeded", "Failed"), deadline=90)
    assert done["status"]["phase"] == "Succeeded", done["status"]["message"]
    # A poll that read the file just before the rotation may still arrive with the old token (and get
    # its 401); from the first request with the new token on, none carries the old one.
    after = kfp_multi.token_seen[seen:]
    rotated = "Bearer kfp-token-rotated-0b52"
    assert rotated in after and set(after[after.index(rotated):]) == {rotated}
    assert set(after[:after.index(rotated)]) <= {f"Bearer {TOKEN}"}
    assert set(kfp_multi.token_seen[:seen]) == {f"Bearer {TOKEN}"}


def test_missing_rbac_in_one_namespace_is_access_denied_there_only(cluster, kfp_multi, tmp_path, run_operator,
                                                                    wait_for):
    del kfp_multi.grants[(OPERATOR, "team-b")]
    run_operator(kfp_registry(tmp_path, kfp_multi), settings())
    team_a, team_b = in_namespace(cluster, "team-a"), in_namespace(cluster, "team-b")
    team_a.create(trainingrun())
    team_b.create(trainingrun())
    denied = wait_for(team_b.fetch("iris"), lambda o: any(
        c["type"] == "Submitted" and c["reason"] == "PipelinesAccessDenied"
        for c in (o.get("status") or {}).get("conditions", [])), deadline=60)
    submitted = condition(denied, "Submitted")
    assert submitted["status"] == "False"
    message = submitted["message"]
    assert "RoleBinding to ClusterRole kubeflow-pipelines-edit in namespace team-b" in message
    assert "403" in message and "experiments" in message
    assert denied["status"]["phase"] == "Pending"
    assert wait_for(lambda: team_b.reasons("iris"), lambda r: "PipelinesAccessDenied" in r)
    done_a = wait_for(team_a.fetch("iris"), phase("Succeeded", "Failed"), deadline=90)
    assert done_a["status"]["phase"] == "Succeeded"
    assert condition(done_a, "Submitted")["reason"] == "RunSubmitted"
    assert "PipelinesAccessDenied" not in team_a.reasons("iris")
    assert [e["namespace"] for e in kfp_multi.experiments.values()] == ["team-a"]
    # The RoleBinding arrives: the next attempt gets through, with no spec change.
    kfp_multi.bind_edit(OPERATOR, "team-b")
    done_b = wait_for(team_b.fetch("iris"), phase("Succeeded", "Failed"), deadline=120)
    assert done_b["status"]["phase"] == "Succeeded"
    assert condition(done_b, "Submitted")["reason"] == "RunSubmitted"
    assert len(kfp_multi.created()) == 2
