"""Two teams on one cluster: the operator acts for each namespace with that namespace's storage identity.

The API emulator (with KServe's webhook and a fake KServe controller per namespace), a KFP stand-in
whose runs really execute with the Secrets their steps mount, and SeaweedFS with one access key per
team that may touch only that team's buckets. team-a plays the hostile tenant.
"""

import io
import json
import logging
import uuid

import kubernetes
import pytest

from mlcd.storage import open_registry
from tests.argocd_health import health
from tests.integration import s3server
from tests.k8s import ServedEmulator
from tests.kfp_standin import KfpStandIn
from tests.operator.helpers import Cluster, condition, load_crds, phase, registry_for, settings, trainingrun
from tests.operator.kserve_controller import GROUP, PLURAL, VERSION, FakeKServe, KServeEmulator

pytestmark = pytest.mark.s3

TEAMS = {"team-a": ("team-a-data", "team-a-models"), "team-b": ("team-b-private", "team-b-models")}
# Column names and values of team-b's private data: none may ever show up where team-a can look.
PRIVATE_COLUMN, PRIVATE_VALUE = "zeta_diagnosis_code", "ZX-91-PRIVATE"
POLL = 0.3


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    server = s3server.start(tmp_path_factory.mktemp("s3-teams"), teams=TEAMS)
    rows = "\n".join(f"{i},{i % 3},{PRIVATE_VALUE}-{i}" for i in range(200))
    patients = f"age,{PRIVATE_COLUMN},note\n{rows}\n".encode()
    server.client(identity="team-b").put_object("team-b-private", "patients.csv", io.BytesIO(patients),
                                                len(patients))
    yield server
    server.stop()


@pytest.fixture
def k8s_emulator():
    with ServedEmulator(KServeEmulator()) as served:
        load_crds(served)
        yield served


@pytest.fixture
def teams(k8s_api_client):
    return {name: Cluster(k8s_api_client, namespace=name) for name in TEAMS}


@pytest.fixture
def kserve(k8s_emulator, kubeconfig):
    with kubernetes.config.new_client_from_config(config_file=str(kubeconfig)) as client:
        with FakeKServe(client, "team-a") as a, FakeKServe(client, "team-b") as b:
            yield {"team-a": a, "team-b": b}


@pytest.fixture
def kfp(tmp_path, teams):
    standin = KfpStandIn(secrets=teams["team-a"].read_secret, home=tmp_path / "kfp-cluster").start()
    yield standin
    standin.stop()


@pytest.fixture
def operator(tmp_path, kfp, k8s_api_client, kubeconfig, kserve, run_operator, monkeypatch):
    """The operator with the kfp backend, and not one storage credential in its environment. The stand-in's
    steps find the cluster through $KUBECONFIG (in KFP: the pipeline's ServiceAccount) for the hand-off."""
    for name in ("MLCD_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "MLCD_S3_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return run_operator(registry_for(tmp_path / "home", poll=POLL, backend_name="kfp", kfp_host=kfp.url,
                                     kube_client=k8s_api_client), settings())


def rss_mib() -> float:
    """The resident set of this process (the in-process operator's), now."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


def with_secrets(teams, storage):
    for name, cluster in teams.items():
        cluster.storage_secret(storage.env(name))


def registry_of(storage, uri: str, team: str):
    """A registry as its team sees it (the tests' own reads go through the team's key too)."""
    return open_registry(uri, storage.env(team))


def seen_by_team_a(teams, caplog, name: str) -> str:
    obj = teams["team-a"].get(name)
    events = [e.message or "" for e in teams["team-a"].events(name)]
    return json.dumps(obj) + "\n".join(events) + caplog.text


def test_team_a_cannot_read_team_b_data_through_mlcd(teams, storage, operator, caplog, wait_for):
    caplog.set_level(logging.DEBUG)
    with_secrets(teams, storage)
    stolen = "s3://team-b-private/patients.csv"
    teams["team-a"].create(trainingrun("steal", data={"source": stolen, "target": "age", "checks": {"minRows": 10}},
                                       registry={"uri": "s3://team-a-models/steal"}, retrain={"onDataChange": True}))
    done = wait_for(teams["team-a"].fetch("steal"), phase("Succeeded", "Failed", "Rejected"), deadline=120)
    status = done["status"]
    assert status["phase"] == "Failed"
    assert stolen in status["message"] and "access denied (AccessDenied)" in status["message"]
    assert condition(done, "StorageReady")["reason"] == "SecretFound"
    # The operator's own HEAD for the data-change trigger was refused too: no fingerprint of team-b's object.
    assert not (status.get("retrain") or {}).get("dataFingerprint")
    seen = seen_by_team_a(teams, caplog, "steal")
    assert PRIVATE_COLUMN not in seen and PRIVATE_VALUE not in seen
    assert storage.env("team-b")["AWS_SECRET_ACCESS_KEY"] not in seen
    assert registry_of(storage, "s3://team-a-models/steal", "team-a").versions() == []


def test_team_a_cannot_write_team_b_registry_or_champion(teams, storage, operator, kserve, tmp_path, wait_for):
    with_secrets(teams, storage)
    theirs = f"s3://team-b-models/iris-{uuid.uuid4().hex[:6]}"
    model = tmp_path / "model.joblib"
    model.write_bytes(b"team-b's model (nothing unpickles it here)")
    registry = registry_of(storage, theirs, "team-b")
    for _ in range(2):
        registry.register(model, {"metrics": {"accuracy": 0.99}})
    registry.set_champion(1, reason="team-b's own choice")

    teams["team-a"].create(trainingrun("overwrite", registry={"uri": theirs}))
    ran = wait_for(teams["team-a"].fetch("overwrite"), phase("Succeeded", "Failed", "Rejected"), deadline=120)
    assert ran["status"]["phase"] == "Failed" and "access denied" in ran["status"]["message"]
    assert theirs in ran["status"]["message"]

    md = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "overwrite"},
          "spec": {"model": {"uri": f"{theirs}/v2"}, "rollout": {"stableSeconds": 0}}}
    teams["team-a"].create(md, plural="modeldeployments")
    served = wait_for(teams["team-a"].fetch("overwrite", "modeldeployments"),
                      lambda o: (o.get("status") or {}).get("phase") == "Ready"
                      and any(c["type"] == "ChampionRecorded" for c in o["status"]["conditions"]), deadline=30)
    recorded = condition(served, "ChampionRecorded")
    assert (recorded["status"], recorded["reason"]) == ("False", "ChampionWriteFailed")
    assert "access denied" in recorded["message"] and condition(served, "Ready")["status"] == "True"
    assert registry.versions() == [1, 2]
    assert registry.champion()["version"] == 1 and registry.champion()["reason"] == "team-b's own choice"
    assert wait_for(lambda: teams["team-a"].reasons("overwrite"), lambda r: "ChampionNotSet" in r)


def test_hostile_load_in_team_a_leaves_team_b_working_and_the_operator_small(teams, storage, operator, kserve,
                                                                          tmp_path, wait_for):
    with_secrets(teams, storage)
    huge = 48 * 1024 * 1024
    storage.client(identity="team-a").put_object("team-a-data", "huge.bin", io.BytesIO(b"\0" * huge), huge)
    before = rss_mib()
    for i in range(3):
        teams["team-a"].create(trainingrun(f"zero-{i}", data={"source": "file:///dev/zero", "target": "x"},
                                           registry={"uri": f"s3://team-a-models/zero-{i}"},
                                           retrain={"onDataChange": True, "pollSeconds": 10}))
        teams["team-a"].create(trainingrun(f"huge-{i}", data={"source": "s3://team-a-data/huge.bin", "target": "x"},
                                           registry={"uri": f"s3://team-a-models/huge-{i}"},
                                           retrain={"onDataChange": True, "pollSeconds": 10}))
    registry = f"s3://team-b-models/iris-{uuid.uuid4().hex[:6]}"
    teams["team-b"].create(trainingrun("iris", registry={"uri": registry}, deploy={"modelDeployment": "iris"}))
    done = wait_for(teams["team-b"].fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=180)
    assert done["status"]["phase"] == "Succeeded", done["status"]["message"]
    md = wait_for(teams["team-b"].fetch("iris", "modeldeployments"), phase("Ready"), deadline=60)
    assert md["status"]["activeModel"] == f"{registry}/v1"
    assert condition(md, "ChampionRecorded")["status"] == "True"
    for i in range(3):
        zero = wait_for(teams["team-a"].fetch(f"zero-{i}"), phase("Invalid"), deadline=30)
        assert "spec.data.source: file:///dev/zero: file:// names the operator's own files" in zero["status"]["message"]
        assert condition(zero, "Valid")["status"] == "False"
        hostile = wait_for(teams["team-a"].fetch(f"huge-{i}"), phase("Failed", "Succeeded", "Rejected"), deadline=60)
        assert "huge.bin" in hostile["status"]["message"]
    after = rss_mib()
    print(f"operator process RSS {before:.1f} MiB before the hostile load, {after:.1f} MiB after "
          f"(a hostile object is {huge / 2**20:.0f} MiB)")
    assert after - before < huge / 2**20, "the operator process read a tenant's data"


def test_a_namespace_without_the_secret_waits_and_runs_once_it_is_added(teams, storage, operator, kfp, wait_for):
    teams["team-a"].create(trainingrun("iris", registry={"uri": "s3://team-a-models/waits"}))
    waiting = wait_for(teams["team-a"].fetch("iris"),
                       lambda o: (o.get("status") or {}).get("phase") == "Pending", deadline=20)
    storage_ready = condition(waiting, "StorageReady")
    assert (storage_ready["status"], storage_ready["reason"]) == ("False", "SecretMissing")
    assert "Secret mlcd-storage in namespace team-a does not exist" in storage_ready["message"]
    assert health("TrainingRun", waiting) == {"status": "Suspended", "message": storage_ready["message"]}
    assert kfp.created() == []
    assert wait_for(lambda: teams["team-a"].reasons("iris"), lambda r: "SecretMissing" in r)

    teams["team-a"].storage_secret(storage.env("team-a"))
    done = wait_for(teams["team-a"].fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=120)
    assert done["status"]["phase"] == "Succeeded", done["status"]["message"]
    assert condition(done, "StorageReady")["reason"] == "SecretFound" and len(kfp.created()) == 1
    assert teams["team-a"].reasons("iris").count("SecretMissing") == 1


@pytest.mark.parametrize("uri", ["gs://team-a-models/iris/v1", "https://models.example.com/iris/v1"])
def test_a_model_outside_an_mlcd_registry_is_ready_without_a_champion(teams, operator, kserve, uri, wait_for):
    md = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "outside"},
          "spec": {"model": {"uri": uri}}}
    teams["team-a"].create(md, plural="modeldeployments")
    ready = wait_for(teams["team-a"].fetch("outside", "modeldeployments"), phase("Ready"), deadline=30)
    assert ready["status"]["activeModel"] == uri and condition(ready, "Ready")["status"] == "True"
    recorded = condition(ready, "ChampionRecorded")
    assert (recorded["status"], recorded["reason"]) == ("False", "NotInRegistry") and uri in recorded["message"]
    assert "does not exist" not in ready["status"]["message"]


def test_an_inferenceservice_mlcd_does_not_own_is_left_untouched(teams, operator, kserve, wait_for):
    crs = teams["team-b"].crs
    theirs = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
              "metadata": {"name": "iris", "namespace": "team-b", "labels": {"owner": "another-team"}},
              "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://theirs/v7"}}}}
    created = crs.create_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, theirs)
    md = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
          "spec": {"model": {"uri": "s3://team-b-models/iris/v1"}}}
    teams["team-b"].create(md, plural="modeldeployments")
    refused = wait_for(teams["team-b"].fetch("iris", "modeldeployments"), phase("Failed"), deadline=30)
    ready = condition(refused, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InferenceServiceConflict")
    assert "not owned by this ModelDeployment" in refused["status"]["message"]
    assert wait_for(lambda: teams["team-b"].reasons("iris"), lambda r: "InferenceServiceConflict" in r)
    now = crs.get_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, "iris")
    assert now["spec"]["predictor"]["model"]["storageUri"] == "gs://theirs/v7"
    assert now["metadata"]["generation"] == created["metadata"]["generation"]
    assert "ownerReferences" not in now["metadata"] and now["metadata"]["labels"] == {"owner": "another-team"}
