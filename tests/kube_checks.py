"""Checks shared by the manifest, sample and chart tests: schemas and pod security, no cluster needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]

# The newest Kubernetes whose schemas kubernetes-validate ships; they are bundled in the wheel,
# so validating never downloads anything.
KUBE_VERSION = kubernetes_validate.latest_version()


def load_all(text: str) -> list[dict]:
    """The non-empty YAML documents of a multi-document text."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate_builtin(obj: dict) -> None:
    """Validate a built-in kind strictly (unknown fields fail) against the bundled OpenAPI schemas."""
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def openapi_to_jsonschema(node: Any) -> Any:
    """A CRD's openAPIV3Schema as JSON Schema 2020-12, with pruning turned into rejection.

    OpenAPI 3.0 spells `nullable: true` and boolean exclusive bounds; JSON Schema wants a type
    list and numeric bounds. An object with declared properties and no
    `x-kubernetes-preserve-unknown-fields` is closed, because the API server would silently prune
    any other field: a sample must not carry fields that Kubernetes would throw away.
    """
    if isinstance(node, list):
        return [openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    for bound, numeric in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:
            out[bound] = out.pop(numeric)
        elif out.get(bound) is False:
            out.pop(bound)
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


def containers(deployment: dict) -> list[dict]:
    pod = deployment["spec"]["template"]["spec"]
    return pod.get("initContainers", []) + pod["containers"]


def assert_restricted(deployment: dict) -> None:
    """The Pod Security Standards' `restricted` profile, and the operator's own hardening, field by field."""
    pod = deployment["spec"]["template"]["spec"]
    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    for volume in pod.get("volumes", []):
        assert "hostPath" not in volume, volume
    for container in containers(deployment):
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert sc.get("privileged", False) is False, container["name"]
        assert sc.get("runAsNonRoot", True) is True, container["name"]
        assert sc.get("runAsUser", pod_sc["runAsUser"]) > 0, container["name"]
        assert sc.get("seccompProfile", pod_sc["seccompProfile"]) == {"type": "RuntimeDefault"}
        assert not any(port.get("hostPort") for port in container.get("ports", [])), container["name"]


def assert_operator_container(deployment: dict) -> None:
    """Probes, resources and writable scratch space for MLCD_HOME and /tmp under a read-only root."""
    pod = deployment["spec"]["template"]["spec"]
    (operator,) = [c for c in pod["containers"] if c["name"] == "operator"]
    assert operator["command"][:2] == ["mlcd", "operator"]
    assert operator["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert operator["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= operator["resources"]["requests"].keys()
    assert "memory" in operator["resources"]["limits"]
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = {m["mountPath"]: m["name"] for m in operator["volumeMounts"]}
    env = {e["name"]: e for e in operator["env"]}
    assert mounts[env["MLCD_HOME"]["value"]] in empty_dirs
    assert mounts["/tmp"] in empty_dirs
    assert deployment["spec"]["replicas"] == 1


def wildcards(rules_owner: dict) -> list[str]:
    """Every `*` in the verbs, resources, API groups or names of a Role or ClusterRole."""
    found = []
    for i, rule in enumerate(rules_owner.get("rules", [])):
        for field in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs"):
            if any("*" in item for item in rule.get(field, [])):
                found.append(f"rules[{i}].{field}")
    return found


def validate_custom(obj: dict, crd_path: Path) -> None:
    """Validate a custom object against its CRD's schema for the object's version, strictly (what the API
    server would prune fails here)."""
    import jsonschema

    crd = yaml.load(crd_path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    group, version = obj["apiVersion"].split("/")
    assert (crd["spec"]["group"], crd["spec"]["names"]["kind"]) == (group, obj["kind"]), crd_path.name
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    jsonschema.validate(obj, openapi_to_jsonschema(served["schema"]["openAPIV3Schema"]),
                        cls=jsonschema.Draft202012Validator)
