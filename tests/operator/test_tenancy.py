"""Two teams on one cluster: the operator acts for each namespace with that namespace's storage identity.

The API emulator (with KServe's webhook and a fake KServe controller per namespace), a KFP stand-in
whose runs really execute with the Secrets their steps mount, and SeaweedFS with one access key per
team that may touch only that team's buckets. team-a plays the hostile tenant.
"""

import asyncio
import base64
import io
import json
import logging
import pickle
import time
import uuid

import kubernetes
import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from mlcd.handlers.limits import NamespacePool
from mlcd.handlers.storage import StorageIdentities
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


# What reads a dataset or unpickles, in mlcd and below it: the operator must call none of them.
TRAPPED = ("mlcd.storage.datasets.read_dataset", "mlcd.storage.read_dataset", "mlcd.storage.datasets._read_bytes",
           "mlcd.storage.datasets._read_file", "mlcd.storage.datasets._parse", "mlcd.storage.datasets._load_builtin",
           "mlcd.storage.s3store.read_object", "mlcd.storage.registry.load_verified", "mlcd.storage.load_verified",
           "mlcd.storage.registry.Registry.load_model", "joblib.load", "pickle.load", "pickle.loads")


class NeverInTheOperator(Exception):
    """The operator process read a tenant's data or unpickled something."""


@pytest.fixture
def traps(monkeypatch):
    """Every function of TRAPPED raises in this process, where the operator runs (InProcessOperator: a
    thread of the test process). The pipeline steps that do read data and unpickle models run elsewhere:
    the KFP stand-in hands runs to mlcd's local queue, whose worker is a process of its own (started
    detached) that forks each step from its zygote, so they keep the real functions. Calls are kept too, in
    case the operator caught the exception."""
    sprung: list[str] = []

    def trap(name):
        def sprung_trap(*args, **kwargs):
            sprung.append(name)
            raise NeverInTheOperator(f"{name} called in the operator process")
        return sprung_trap

    for name in TRAPPED:
        monkeypatch.setattr(name, trap(name))
    yield sprung
    assert sprung == [], f"the operator process read a dataset or unpickled: {sprung}"


@pytest.fixture
def operator(tmp_path, kfp, k8s_api_client, kubeconfig, kserve, run_operator, monkeypatch, traps):
    """The operator with the kfp backend, and not one storage credential in its environment. The stand-in's
    steps find the cluster through $KUBECONFIG (in KFP: the pipeline's ServiceAccount) for the hand-off.
    Nothing in its process may read a dataset or unpickle (``traps``)."""
    for name in ("MLCD_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "MLCD_S3_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    return run_operator(registry_for(tmp_path / "home", poll=POLL, backend_name="kfp", kfp_host=kfp.url,
                                     kube_client=k8s_api_client), settings())


def condition_of(obj: dict, type_: str) -> dict | None:
    """The condition, or None while the object has none of that type."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


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


def seen_by_team_a(teams, caplog, name: str, team: str = "team-a", plural: str = "trainingruns") -> str:
    """The object, its Events and every log record of the test process (operator, stand-ins, the test)."""
    obj = teams[team].get(name, plural)
    events = [e.message or "" for e in teams[team].events(name)]
    return json.dumps(obj) + "\n".join(events) + caplog.text


# The operator's threads: kopf's event loop (InProcessOperator), the namespace pool, asyncio.to_thread's.
OPERATOR_THREADS = ("kopf-operator", "mlcd-ns", "asyncio_")


def shown_by_the_operator(teams, caplog, name: str, team: str, plural: str = "trainingruns") -> str:
    """The object, its Events and what the operator logs at the level the chart runs it at (INFO): only the
    records of its own threads, since the test's client and the KFP stand-in log the Secrets they create
    and read (the kubernetes client logs every response body at DEBUG)."""
    obj = teams[team].get(name, plural)
    events = [e.message or "" for e in teams[team].events(name)]
    logged = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.INFO and r.threadName.startswith(OPERATOR_THREADS)]
    return json.dumps(obj) + "\n".join(events + logged)


def assert_no_secret_of(environ: dict[str, str], seen: str, shown: str) -> None:
    """Neither credential of a storage Secret is in ``seen`` as it is, nor in ``shown`` as the API carries
    it (base64)."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        value = environ[key]
        assert value not in seen, key
        assert base64.b64encode(value.encode()).decode() not in shown, key


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
    # Nor team-a's own key, the one the operator did read (from team-a's Secret) for its HEAD.
    assert_no_secret_of(storage.env("team-a"), seen, shown_by_the_operator(teams, caplog, "steal", "team-a"))
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
                                                                          tmp_path, wait_for, figures):
    with_secrets(teams, storage)
    # team-b's run alone first: the time it takes here is the "normal time" the one under load is shown beside.
    started = time.monotonic()
    teams["team-b"].create(trainingrun("alone", registry={"uri": f"s3://team-b-models/alone-{uuid.uuid4().hex[:6]}"}))
    alone = wait_for(teams["team-b"].fetch("alone"), phase("Succeeded", "Failed", "Rejected"), deadline=180)
    assert alone["status"]["phase"] == "Succeeded", alone["status"]["message"]
    alone_seconds = time.monotonic() - started
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
    started = time.monotonic()
    teams["team-b"].create(trainingrun("iris", registry={"uri": registry}, deploy={"modelDeployment": "iris"}))
    done = wait_for(teams["team-b"].fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=180)
    assert done["status"]["phase"] == "Succeeded", done["status"]["message"]
    figures(f"team-b's TrainingRun to Succeeded: {alone_seconds:.1f} s alone, {time.monotonic() - started:.1f} s "
            "beside six hostile TrainingRuns in team-a")
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
    figures(f"operator process RSS {before:.1f} MiB before the hostile load, {after:.1f} MiB after "
            f"(a hostile object is {huge / 2**20:.0f} MiB)")
    assert after - before < huge / 2**20 / 3, "the operator process read a tenant's data"


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


class ForbiddenByRbac(CoreV1Api):
    """The operator's CoreV1Api when the chart's RBAC does not name these Secrets: the API server answers 403
    to the operator only (the stand-in's steps and the test read them with their own client)."""

    hidden = {("team-b", "mlcd-storage"), ("team-b", "kserve-s3")}

    def read_namespaced_secret(self, name, namespace, **kwargs):
        if (namespace, name) in self.hidden:
            exc = ApiException(status=403, reason="Forbidden")
            exc.body = json.dumps({"kind": "Status", "code": 403, "reason": "Forbidden",
                                   "message": f'secrets "{name}" is forbidden: User "system:serviceaccount:mlcd:'
                                              f'mlcd" cannot get resource "secrets" in the namespace "{namespace}"'})
            raise exc
        return super().read_namespaced_secret(name, namespace, **kwargs)


def test_an_incomplete_or_unreadable_secret_holds_the_run_and_is_named_never_echoed(
        teams, storage, operator, kfp, kserve, caplog, monkeypatch, wait_for):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr("mlcd.handlers.storage.CoreV1Api", ForbiddenByRbac)
    monkeypatch.setattr("mlcd.handlers.modeldeployment.CoreV1Api", ForbiddenByRbac)
    # team-a's Secret lacks its secret key; team-b's Secrets are complete, but RBAC hides them from the operator.
    teams["team-a"].storage_secret({k: v for k, v in storage.env("team-a").items() if k != "AWS_SECRET_ACCESS_KEY"})
    teams["team-b"].storage_secret(storage.env("team-b"))
    teams["team-b"].storage_secret(storage.env("team-b"), name="kserve-s3")
    teams["team-b"].core.create_namespaced_service_account("team-b", {"metadata": {"name": "models"},
                                                                      "secrets": [{"name": "kserve-s3"}]})
    for team in TEAMS:
        teams[team].create(trainingrun("iris", registry={"uri": f"s3://{TEAMS[team][1]}/held"}))
    teams["team-b"].create({"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
                            "spec": {"model": {"uri": "gs://team-b-models/iris/v1"},
                                     "serving": {"serviceAccountName": "models"}}}, plural="modeldeployments")

    expected = {
        "team-a": ("SecretInvalid", "Secret mlcd-storage in namespace team-a lacks the keys AWS_SECRET_ACCESS_KEY"),
        "team-b": ("SecretUnreadable", "the operator may not read Secret mlcd-storage in namespace team-b (RBAC: get "
                                       "secrets with resourceNames [mlcd-storage])"),
    }
    for team, (reason, message) in expected.items():
        held = wait_for(teams[team].fetch("iris"), lambda o: condition_of(o, "StorageReady"), deadline=30)
        storage_ready = condition(held, "StorageReady")
        assert (storage_ready["status"], storage_ready["reason"], storage_ready["message"]) == ("False", reason,
                                                                                               message)
        assert held["status"]["phase"] == "Pending" and held["status"]["message"] == message
        assert wait_for(lambda t=team: teams[t].reasons("iris"), lambda r, why=reason: why in r)

    md = wait_for(teams["team-b"].fetch("iris", "modeldeployments"), lambda o: condition_of(o, "CredentialsReady"),
                  deadline=30)
    credentials = condition(md, "CredentialsReady")
    assert (credentials["status"], credentials["reason"]) == ("False", "CredentialsInvalid")
    assert credentials["message"] == (
        "spec.serving.serviceAccountName: the operator may not read Secret 'kserve-s3', listed by ServiceAccount "
        "'models': it reads Secrets by name only (add the name to the chart's rbac.preflightSecrets to have it "
        "checked)")
    assert md["status"]["phase"] == "Pending"
    with pytest.raises(ApiException) as absent:
        teams["team-b"].crs.get_namespaced_custom_object(GROUP, VERSION, "team-b", PLURAL, "iris")
    assert absent.value.status == 404  # no InferenceService for KServe to fail on

    assert kfp.created() == []  # neither namespace's run was submitted
    assert "reason=SecretUnreadable" in shown_by_the_operator(teams, caplog, "iris", "team-b")  # its log is looked at
    for team in TEAMS:
        assert teams[team].reasons("iris").count(expected[team][0]) == 1
        assert_no_secret_of(storage.env(team), seen_by_team_a(teams, caplog, "iris", team),
                            shown_by_the_operator(teams, caplog, "iris", team))
    assert_no_secret_of(storage.env("team-b"), seen_by_team_a(teams, caplog, "iris", "team-b", "modeldeployments"),
                        shown_by_the_operator(teams, caplog, "iris", "team-b", "modeldeployments"))


def test_a_team_run_and_its_deployment_succeed_with_no_dataset_read_or_unpickling_in_the_operator(
        teams, storage, operator, kserve, traps, wait_for):
    """Every reader of data and every unpickler raises in the operator's process (``traps``); the run on
    team-a's S3 data, its data-change HEAD, the hand-off and the rollout with its champion all go through."""
    import joblib
    from sklearn.datasets import load_iris  # the test's data, made without mlcd's readers

    import mlcd.storage.datasets

    armed = [mlcd.storage.datasets.read_dataset, mlcd.storage.datasets._parse, joblib.load, pickle.loads]
    assert all(f.__name__ == "sprung_trap" for f in armed)
    data = load_iris(as_frame=True).frame.to_csv(index=False).encode()
    storage.client(identity="team-a").put_object("team-a-data", "iris.csv", io.BytesIO(data), len(data))
    with_secrets(teams, storage)
    registry = f"s3://team-a-models/iris-{uuid.uuid4().hex[:6]}"
    teams["team-a"].create(trainingrun("iris", data={"source": "s3://team-a-data/iris.csv", "target": "target",
                                                     "checks": {"minRows": 50}},
                                       registry={"uri": registry}, retrain={"onDataChange": True},
                                       deploy={"modelDeployment": "iris"}))
    done = wait_for(teams["team-a"].fetch("iris"), phase("Succeeded", "Failed", "Rejected"), deadline=180)
    assert done["status"]["phase"] == "Succeeded", done["status"]["message"]
    assert (done["status"].get("retrain") or {}).get("dataFingerprint")  # the operator's HEAD, with team-a's key
    md = wait_for(teams["team-a"].fetch("iris", "modeldeployments"), phase("Ready"), deadline=60)
    assert md["status"]["activeModel"] == f"{registry}/v1"
    recorded = wait_for(teams["team-a"].fetch("iris", "modeldeployments"),
                        lambda o: (condition_of(o, "ChampionRecorded") or {}).get("status") == "True", deadline=30)
    assert registry_of(storage, registry, "team-a").champion()["version"] == 1, recorded["status"]
    assert traps == []


def test_even_at_debug_the_operator_logs_no_secret_it_reads(teams, k8s_api_client, caplog):
    values = {"MLCD_S3_ENDPOINT": "http://s3.team-a:9000", "AWS_ACCESS_KEY_ID": "team-a-debug-id",
              "AWS_SECRET_ACCESS_KEY": f"team-a-debug-secret-{uuid.uuid4().hex}"}
    teams["team-a"].storage_secret(values)
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    pool = NamespacePool(workers=2, per_namespace=1, timeout=30)
    try:  # the operator's own read, as its TrainingRun and ModelDeployment handlers make it
        assert asyncio.run(StorageIdentities("mlcd-storage", pool, lambda: k8s_api_client).environ("team-a")) == values
    finally:
        pool.shutdown()
    assert_no_secret_of(values, caplog.text, caplog.text)
