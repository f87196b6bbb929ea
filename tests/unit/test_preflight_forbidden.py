"""The KServe credentials preflight when RBAC hides what it would read: the ModelDeployment is held, and its
status names the ServiceAccount or Secret and the rule to add, never a value of a Secret."""

import base64
import json
from datetime import UTC, datetime

import pytest
from kubernetes.client import V1ObjectMeta, V1ObjectReference, V1Secret, V1ServiceAccount
from kubernetes.client.exceptions import ApiException

from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.limits import NamespacePool
from mlcd.handlers.modeldeployment import ModelDeploymentReconciler
from mlcd.reconcile import decide

SECRET_KEY = "team-b-kserve-secret-4c3b2a"
MD = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment",
      "metadata": {"name": "iris", "namespace": "team-b", "uid": "uid-1", "generation": 1},
      "spec": {"model": {"uri": "s3://team-b-models/iris/v1"}, "serving": {"serviceAccountName": "models"}}}


def forbidden(resource: str, name: str) -> ApiException:
    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "code": 403, "reason": "Forbidden",
                           "message": f'{resource} "{name}" is forbidden: User "system:serviceaccount:mlcd:mlcd" '
                                      f'cannot get resource "{resource}" in API group "" in the namespace "team-b"'})
    return exc


class Core:
    """What the operator's CoreV1Api finds in team-b: the ServiceAccount and Secrets, or a 403 for those
    named in ``hidden``."""

    def __init__(self, hidden: set[str]):
        self.hidden = hidden
        self.secret_reads: list[str] = []

    def read_namespaced_service_account(self, name, namespace):
        if "serviceaccount" in self.hidden:
            raise forbidden("serviceaccounts", name)
        return V1ServiceAccount(metadata=V1ObjectMeta(name=name, namespace=namespace),
                                secrets=[V1ObjectReference(name="kserve-s3")])

    def read_namespaced_secret(self, name, namespace):
        self.secret_reads.append(name)
        if name in self.hidden:
            raise forbidden("secrets", name)
        data = {"AWS_ACCESS_KEY_ID": "a2V5", "AWS_SECRET_ACCESS_KEY": base64.b64encode(SECRET_KEY.encode()).decode()}
        return V1Secret(metadata=V1ObjectMeta(name=name, namespace=namespace,
                                              annotations={"serving.kserve.io/s3-endpoint": "s3.team-b:9000"}),
                        data=data)


class Reconciler(ModelDeploymentReconciler):
    stub: Core

    @property
    def core(self):
        return self.stub


class Events:
    def record(self, *args):
        pass


@pytest.fixture
def reconciler(tmp_path):
    pool = NamespacePool(workers=2, per_namespace=1, timeout=5)
    found = Reconciler(OperatorConfig(backend="kfp", home=tmp_path), lambda: None, pool, None, Events())
    yield found
    pool.shutdown()


def held(problems: list[str]) -> dict:
    """What the rollout decides with those problems, before any InferenceService exists."""
    decision = decide(MD, None, datetime.now(UTC), credential_problems=problems)
    assert decision.inferenceservice is None  # nothing is created for KServe to fail on
    status = decision.status.to_wire()
    return next(c for c in status["conditions"] if c["type"] == "CredentialsReady")


def test_a_secret_the_service_account_lists_but_rbac_hides_is_named_with_the_chart_setting(reconciler):
    reconciler.stub = Core(hidden={"kserve-s3"})
    problems = reconciler._preflight(MD)
    assert problems == ["spec.serving.serviceAccountName: the operator may not read Secret 'kserve-s3', listed by "
                        "ServiceAccount 'models': it reads Secrets by name only (add the name to the chart's "
                        "rbac.preflightSecrets to have it checked)"]
    assert reconciler.stub.secret_reads == ["kserve-s3"]  # by name: the operator never lists Secrets
    credentials = held(problems)
    assert (credentials["status"], credentials["reason"]) == ("False", "CredentialsInvalid")
    assert credentials["message"] == problems[0]
    assert SECRET_KEY not in credentials["message"] and "system:serviceaccount" not in credentials["message"]


def test_a_service_account_rbac_hides_is_named_with_the_verb_to_grant(reconciler):
    reconciler.stub = Core(hidden={"serviceaccount"})
    problems = reconciler._preflight(MD)
    assert problems == ["spec.serving.serviceAccountName: the operator may not read ServiceAccount 'models' "
                        "(RBAC: get serviceaccounts)"]
    assert reconciler.stub.secret_reads == []
    assert held(problems)["reason"] == "CredentialsInvalid"


def test_a_readable_secret_with_s3_credentials_passes(reconciler):
    reconciler.stub = Core(hidden=set())
    assert reconciler._preflight(MD) == []
