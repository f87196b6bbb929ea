"""Shared pieces of the operator tests: the emulator with mlcd's CRDs, TrainingRun bodies, fetchers."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import kopf
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from mlcd.handlers.app import build_registry
from mlcd.handlers.config import OperatorConfig
from tests.k8s import KSERVE_CRD, mlcd_crd_files, quick_settings

GROUP, VERSION = "mlcd.io", "v1alpha1"

IRIS = {
    "apiVersion": "mlcd.io/v1alpha1",
    "kind": "TrainingRun",
    "metadata": {"name": "iris"},
    "spec": {
        "data": {"source": "builtin://iris", "checks": {"minRows": 50}},
        "model": {"estimator": "DecisionTreeClassifier", "params": {"max_depth": 3}},
        "gates": [{"metric": "accuracy", "min": 0.8}],
    },
}


def trainingrun(name: str = "iris", **spec_changes) -> dict:
    body = copy.deepcopy(IRIS)
    body["metadata"]["name"] = name
    body["spec"].update(spec_changes)
    return body


def load_crds(served) -> None:
    served.load_crds([*mlcd_crd_files(), KSERVE_CRD])


def settings() -> kopf.OperatorSettings:
    return quick_settings()


def registry_for(home: Path, backend=None, poll: float = 0.3, backend_name: str = "local", kube_client=None,
                 **config) -> kopf.OperatorRegistry:
    """The operator's handlers; with the local backend, "default" is its development namespace (file://)."""
    if backend_name == "local":
        config.setdefault("local_namespace", "default")
    return build_registry(OperatorConfig(backend=backend_name, home=home, poll_seconds=poll, **config), backend,
                          kube_client)


class Cluster:
    """The Kubernetes side of a test, through the official client."""

    def __init__(self, api_client, namespace: str = "default"):
        self.api_client = api_client
        self.crs = CustomObjectsApi(api_client)
        self.core = CoreV1Api(api_client)
        self.namespace = namespace

    def create(self, body: dict, plural: str = "trainingruns") -> dict:
        return self.crs.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)

    def get(self, name: str, plural: str = "trainingruns") -> dict:
        return self.crs.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    def fetch(self, name: str, plural: str = "trainingruns"):
        return lambda: self.get(name, plural)

    def patch_spec(self, name: str, spec: dict, plural: str = "trainingruns") -> dict:
        return self.crs.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, {"spec": spec})

    def delete(self, name: str, plural: str = "trainingruns") -> None:
        self.crs.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    def storage_secret(self, environ: dict[str, str], namespace: str | None = None,
                       name: str = "mlcd-storage") -> None:
        """The namespace's storage Secret (keys as the variables), as a team would create it."""
        data = {key: base64.b64encode(value.encode()).decode() for key, value in environ.items()}
        body = {"metadata": {"name": name}, "type": "Opaque", "data": data}
        self.core.create_namespaced_secret(namespace or self.namespace, body)

    def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's keys and values as a step that mounts it sees them; None when it does not exist."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}

    def events(self, name: str) -> list:
        items = self.core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={name}").items
        return sorted(items, key=lambda e: int(e.metadata.resource_version))

    def reasons(self, name: str) -> list[str]:
        return [e.reason for e in self.events(name)]


def phase(*phases: str):
    return lambda obj: (obj.get("status") or {}).get("phase") in phases


def condition(obj: dict, type_: str) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def runs_in(home: Path) -> list[str]:
    runs = home / "runs"
    return sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.exists() else []
