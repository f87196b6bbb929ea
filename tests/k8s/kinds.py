"""What the emulator knows about each resource it serves: built-in kinds and CRD-defined ones."""

import functools
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import kmock
import yaml

NAME_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
EVENT_FIELDS = (
    NAME_FIELDS
    | {
        f"involvedObject.{key}"
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    | {"reason", "reportingComponent", "source", "type"}
)
# What the CRD defaulting adds when a version declares no additionalPrinterColumns.
DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)
VERBS = frozenset({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"})


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    status_subresource: bool
    custom: bool = True
    storage_version: str = ""
    schema: dict[str, Any] | None = None
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_labels: frozenset[str] = NAME_FIELDS
    # additionalPrinterColumns of a CRD version (name, type, jsonPath, description, priority, format).
    printer_columns: tuple[dict[str, Any], ...] = ()

    @property
    def resource(self) -> kmock.resource:
        return kmock.resource(self.group, self.version, self.plural)

    @property
    def storage(self) -> kmock.resource:
        """Where objects live: one store per resource whatever version a client asks for."""
        return kmock.resource(self.group, self.storage_version or self.version, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group``, the way the API server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def info(self) -> kmock.ResourceInfo:
        return kmock.ResourceInfo(
            kind=self.kind,
            singular=self.singular,
            namespaced=self.namespaced,
            verbs=VERBS,
            shortnames=self.short_names,
            categories=self.categories,
            subresources={"status"} if self.status_subresource else set(),
        )


def _builtin(
    group_version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    status: bool = False,
    short_names: tuple[str, ...] = (),
    field_labels: frozenset[str] = NAME_FIELDS,
) -> Kind:
    group, _, version = group_version.rpartition("/")
    return Kind(
        group,
        version,
        plural,
        kind,
        kind.lower(),
        namespaced=namespaced,
        status_subresource=status,
        custom=False,
        short_names=short_names,
        field_labels=field_labels,
    )


# Built-in kinds are stored generically (no per-kind defaulting or validation): what kopf needs to
# start (namespaces, events, CRDs), and what `helm install` of mlcd's chart and the operator touch.
BUILTINS = (
    _builtin("v1", "namespaces", "Namespace", False, True, ("ns",), NAME_FIELDS | {"status.phase"}),
    _builtin("v1", "events", "Event", short_names=("ev",), field_labels=EVENT_FIELDS),
    _builtin(
        "apiextensions.k8s.io/v1", "customresourcedefinitions", "CustomResourceDefinition", False, True, ("crd", "crds")
    ),
    _builtin("v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("v1", "secrets", "Secret", field_labels=NAME_FIELDS | {"type"}),
    _builtin("v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _builtin("v1", "services", "Service", status=True, short_names=("svc",)),
    _builtin(
        "v1",
        "pods",
        "Pod",
        status=True,
        short_names=("po",),
        field_labels=NAME_FIELDS | {"spec.nodeName", "spec.serviceAccountName", "status.phase"},
    ),
    _builtin("apps/v1", "deployments", "Deployment", status=True, short_names=("deploy",)),
    _builtin("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False),
    _builtin("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _builtin("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _builtin("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _builtin("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)),
)
NAMESPACE_RESOURCE = BUILTINS[0].resource
CRD_RESOURCE = BUILTINS[2].resource


def kinds_of(crd: dict[str, Any]) -> list[Kind]:
    """One Kind per served version of a CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    spec = crd["spec"]
    names = spec["names"]
    versions = spec["versions"]
    storage = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])
    return [
        Kind(
            group=spec["group"],
            version=version["name"],
            plural=names["plural"],
            kind=names["kind"],
            singular=names.get("singular") or names["kind"].lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            status_subresource="status" in (version.get("subresources") or {}),
            storage_version=storage,
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            printer_columns=tuple(version.get("additionalPrinterColumns") or DEFAULT_COLUMNS),
        )
        for version in versions
        if version.get("served", True)
    ]


def read_crds(paths: Iterable[str | pathlib.Path]) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions in these YAML files, in order; other documents are skipped."""
    crds: list[dict[str, Any]] = []
    for path in paths:
        stat = pathlib.Path(path).stat()
        crds.extend(_parse(str(path), stat.st_mtime_ns, stat.st_size))
    return crds


@functools.lru_cache(maxsize=32)
def _parse(path: str, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...]:
    # KServe's CRD is 2 MB of YAML (~0.7 s to parse); cached per file version, never mutated by callers.
    with open(path, encoding="utf-8") as stream:
        docs = list(yaml.load_all(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return tuple(doc for doc in docs if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition")
