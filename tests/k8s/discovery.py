"""Legacy discovery documents (/api, /apis, /apis/GROUP, /apis/GROUP/VERSION) as the API server writes them.

The shapes follow ``customresource_discovery_controller.go`` in apiextensions-apiserver: the main
resource carries the singular name, verbs, short names and categories; its ``/status``
subresource is a resource of its own with the parent's kind, verbs ``get, patch, update`` and no
singular name, short names or categories (so ``kubectl get tr`` or ``kubectl get mlcd`` never
resolves to a subresource). Versions of a group are listed newest first, the first being preferred.
kubectl asks for aggregated discovery first; a plain ``application/json`` answer makes it fall
back to these documents.
"""

import re
from collections.abc import Iterable
from typing import Any

from tests.k8s.kinds import Kind

Doc = dict[str, Any]
MAIN_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
SUBRESOURCE_VERBS = ["get", "patch", "update"]
_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


KUBERNETES_VERSION = (1, 33, 0)


def server_version() -> Doc:
    major, minor, patch = KUBERNETES_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}+mlcd-emulator",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def version_order(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version priority: GA before beta before alpha, higher numbers first, then by name."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def resource_list(group: str, version: str, kinds: Iterable[Kind]) -> Doc:
    resources: list[Doc] = []
    for kind in kinds:
        resources.append(
            {
                "name": kind.plural,
                "singularName": kind.singular,
                "namespaced": kind.namespaced,
                "kind": kind.kind,
                "verbs": MAIN_VERBS,
                **({"shortNames": list(kind.short_names)} if kind.short_names else {}),
                **({"categories": list(kind.categories)} if kind.categories else {}),
            }
        )
        if kind.status_subresource:
            resources.append(
                {
                    "name": f"{kind.plural}/status",
                    "singularName": "",
                    "namespaced": kind.namespaced,
                    "kind": kind.kind,
                    "verbs": SUBRESOURCE_VERBS,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def api_group(group: str, versions: Iterable[str]) -> Doc:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in sorted(set(versions), key=version_order)]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": listed, "preferredVersion": listed[0]}


def api_group_list(kinds: Iterable[Kind]) -> Doc:
    versions: dict[str, set[str]] = {}
    for kind in kinds:
        if kind.group:
            versions.setdefault(kind.group, set()).add(kind.version)
    groups = [api_group(group, found) for group, found in sorted(versions.items())]
    for group in groups:
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
