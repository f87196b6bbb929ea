"""The KFP stand-in's multi-user rules, checked with KFP's own SDK (kfp.Client), and mlcd's kfp backend
against them: what it sends, and what it says when KFP refuses it."""

import json
import warnings

import kfp_server_api
import pytest
from kfp import Client
from kfp.client import ServiceAccountTokenVolumeCredentials

from mlcd.backends.base import AccessDenied, BackendUnavailable, Placement
from mlcd.backends.kfp import KfpBackend
from tests.kfp_standin import KUBERNETES_AUDIENCE, KfpStandIn

TOKEN = "projected-token-9c1f"
OPERATOR = "system:serviceaccount:mlcd-system:mlcd"
PIPELINE = {"pipelineInfo": {"name": "p"}, "root": {}, "schemaVersion": "2.1.0", "sdkVersion": "kfp-2.17.3"}


@pytest.fixture
def standin():
    served = KfpStandIn(multi_user=True).start()
    served.issue_token(TOKEN, OPERATOR)
    served.issue_token("default-sa-token", OPERATOR, audiences=(KUBERNETES_AUDIENCE,))
    yield served
    served.stop()


@pytest.fixture
def token_file(tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(path))
    monkeypatch.delenv("MLCD_KFP_TOKEN", raising=False)
    return path


def sdk(standin, token_path, namespace="team-a") -> Client:
    """KFP's own client, as a notebook in the cluster would make it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "This client only works with KFP v2.0.0-beta.2 and later"
        return Client(host=standin.url, namespace=namespace,
                      credentials=ServiceAccountTokenVolumeCredentials(str(token_path)))


def refused(call) -> tuple[int, str]:
    with pytest.raises(kfp_server_api.ApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)["message"]


def test_the_token_must_carry_kfps_audience(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a")
    token_file.write_text("default-sa-token")  # a pod's own ServiceAccount token: the API server's audience
    status, message = refused(lambda: sdk(standin, token_file).list_experiments(namespace="team-a"))
    assert status == 401
    assert ("Failed to find all of '[pipelines.kubeflow.org]' in audience: "
            "[https://kubernetes.default.svc.cluster.local]") in message
    assert "User identity is empty in the request header" in message
    token_file.write_text(TOKEN)
    assert sdk(standin, token_file).list_experiments(namespace="team-a").experiments is None


def test_no_token_is_unauthenticated(standin, tmp_path):
    client = sdk(standin, tmp_path / "token")
    client._experiment_api.api_client.configuration.refresh_api_key_hook = None  # send nothing at all
    client._experiment_api.api_client.configuration.api_key.clear()
    status, message = refused(lambda: client.list_experiments(namespace="team-a"))
    assert status == 401 and "there is no user identity header" in message


def test_a_run_needs_an_experiment_and_takes_its_namespace(standin, token_file, tmp_path):
    standin.bind_edit(OPERATOR, "team-a")
    client = sdk(standin, token_file)
    package = tmp_path / "pipeline.yaml"
    package.write_text(json.dumps(PIPELINE))
    status, message = refused(lambda: client.run_pipeline(experiment_id="", job_name="r", pipeline_package_path=str(
        package)))
    assert status == 400
    assert message == ("Failed to create a new run: Failed to create a run due to invalid experimentId and namespace "
                       "combination: Invalid input error: Experiment id can not be empty in multi-user mode")
    experiment = client.create_experiment("mlcd", namespace="team-a")
    run = client.run_pipeline(experiment_id=experiment.experiment_id, job_name="r",
                              pipeline_package_path=str(package))
    assert standin.runs[run.run_id]["_namespace"] == "team-a"
    assert run.service_account == "default-editor"  # KFP's default in multi-user Kubeflow
    assert [r.run_id for r in client.list_runs(experiment_id=experiment.experiment_id).runs] == [run.run_id]


def test_listing_runs_needs_a_namespace_or_an_experiment(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a")
    api = sdk(standin, token_file)._run_api
    status, message = refused(lambda: api.run_service_list_runs())
    assert status == 400
    assert message.endswith("Invalid input error: A run cannot have an empty namespace in multi-user mode")
    assert api.run_service_list_runs(namespace="team-a").runs is None


def test_rbac_is_checked_per_namespace_and_resource(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a")
    client = sdk(standin, token_file, namespace="team-b")
    status, message = refused(lambda: client.list_experiments(namespace="team-b"))
    assert status == 403
    assert f"User '{OPERATOR}' is not authorized" in message and "Namespace:team-b,Verb:list" in message


def test_istio_denies_a_kubeflow_userid_header(standin, token_file):
    client = sdk(standin, token_file)
    client._experiment_api.api_client.default_headers["kubeflow-userid"] = "someone@example.com"
    with pytest.raises(kfp_server_api.ApiException) as caught:
        client.list_experiments(namespace="team-a")
    assert caught.value.status == 403 and caught.value.body == "RBAC: access denied"


# -- mlcd's backend ------------------------------------------------------------------------------------------
def test_the_backend_sends_the_files_token_and_one_experiment_per_namespace(standin, token_file):
    for namespace in ("team-a", "team-b"):
        standin.bind_edit(OPERATOR, namespace)
    backend = KfpBackend(standin.url)
    refs = {ns: backend.submit(f"run-{ns}", PIPELINE, {}, {}, Placement(ns)) for ns in ("team-a", "team-b")}
    assert {ns: backend.find(f"run-{ns}", Placement(ns)).run_id for ns in refs} == {
        ns: ref.run_id for ns, ref in refs.items()}
    assert backend.find("run-team-a", Placement("team-b")) is None  # lookups stay in their experiment
    assert sorted(e["namespace"] for e in standin.experiments.values()) == ["team-a", "team-b"]
    assert {standin.runs[ref.run_id]["_namespace"] for ref in refs.values()} == {"team-a", "team-b"}
    assert set(standin.token_seen) == {f"Bearer {TOKEN}"}
    assert not any("kubeflow-userid" in h for h in standin.headers_seen)


def test_a_deleted_experiment_is_made_again_on_the_next_attempt(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a")
    backend = KfpBackend(standin.url)
    first = backend.submit("r1", PIPELINE, {}, {}, Placement("team-a"))
    standin.experiments.clear()  # deleted in the KFP UI
    with pytest.raises(BackendUnavailable, match="experiment mlcd of namespace team-a is gone"):
        backend.submit("r2", PIPELINE, {}, {}, Placement("team-a"))
    second = backend.submit("r2", PIPELINE, {}, {}, Placement("team-a"))
    [experiment] = standin.experiments.values()
    assert standin.runs[second.run_id]["experiment_id"] == experiment["experiment_id"] != standin.runs[
        first.run_id]["experiment_id"]


def test_a_missing_token_file_is_named(standin, tmp_path, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "absent"))
    monkeypatch.delenv("MLCD_KFP_TOKEN", raising=False)
    with pytest.raises(AccessDenied) as caught:
        KfpBackend(standin.url).find("r", Placement("team-a"))
    message = str(caught.value)
    assert f"{tmp_path / 'absent'} does not exist" in message and "audience pipelines.kubeflow.org" in message
    assert standin.token_seen == [""]


def test_a_token_file_that_goes_away_is_named(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a")
    backend = KfpBackend(standin.url)
    assert backend.find("r", Placement("team-a")) is None
    token_file.unlink()
    with pytest.raises(AccessDenied, match=f"cannot read the KFP token file {token_file} "):
        backend.find("r", Placement("team-a"))


def test_a_token_with_the_wrong_audience_is_named(standin, token_file):
    token_file.write_text("default-sa-token")
    with pytest.raises(AccessDenied) as caught:
        KfpBackend(standin.url).find("r", Placement("team-a"))
    assert f"did not accept the token from {token_file}" in str(caught.value)
    assert "audience pipelines.kubeflow.org" in str(caught.value)
    assert "default-sa-token" not in str(caught.value)


def test_a_missing_experiment_permission_is_named(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a", resources=("runs",))
    with pytest.raises(AccessDenied) as caught:
        KfpBackend(standin.url).submit("r", PIPELINE, {}, {}, Placement("team-a"))
    message = str(caught.value)
    assert message.startswith("KFP refused to list experiments in namespace team-a (403)")
    assert "RoleBinding to ClusterRole kubeflow-pipelines-edit in namespace team-a" in message


def test_single_user_kfp_needs_no_token(tmp_path, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(tmp_path / "absent"))
    monkeypatch.delenv("MLCD_KFP_TOKEN", raising=False)
    served = KfpStandIn().start()
    try:
        backend = KfpBackend(served.url, service_account="runner")
        ref = backend.submit("r", PIPELINE, {"a": 1}, {}, Placement("team-a"))
        assert backend.find("r", Placement("team-b")).run_id == ref.run_id  # one experiment, no namespaces
        assert served.runs[ref.run_id]["service_account"] == "runner"
        assert served.token_seen == [""] * len(served.requests)
    finally:
        served.stop()


def test_mlcd_kfp_token_wins_over_the_token_file(standin, token_file, monkeypatch):
    standin.bind_edit(OPERATOR, "team-a")
    token_file.write_text("default-sa-token")  # the file holds a token KFP would refuse
    monkeypatch.setenv("MLCD_KFP_TOKEN", TOKEN)
    backend = KfpBackend(standin.url)
    assert backend.token_source == "MLCD_KFP_TOKEN"
    assert backend.find("r", Placement("team-a")) is None
    assert set(standin.token_seen) == {f"Bearer {TOKEN}"}


def test_runs_go_to_the_experiment_named_by_the_chart(standin, token_file):
    standin.bind_edit(OPERATOR, "team-a")
    backend = KfpBackend(standin.url, experiment_name="nightly")
    ref = backend.submit("r", PIPELINE, {}, {}, Placement("team-a"))
    [experiment] = standin.experiments.values()
    assert (experiment["display_name"], experiment["namespace"]) == ("nightly", "team-a")
    assert standin.runs[ref.run_id]["experiment_id"] == experiment["experiment_id"]
    assert backend.find("r", Placement("team-a")).run_id == ref.run_id
    assert KfpBackend(standin.url).find("r", Placement("team-a")) is None  # not in the default experiment
