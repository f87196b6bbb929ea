"""CustomResourceDefinitions generated from the pydantic models (kubebuilder-style: types first).

Kubernetes wants a structural schema in OpenAPI v3.0 terms, so the JSON Schema pydantic
produces is rewritten: `$ref` inlined, `anyOf [X, null]` reduced to X (a null is pruned by
the API server), exclusive bounds in the 3.0 form, titles dropped, and free-form maps marked
`x-kubernetes-preserve-unknown-fields` (only estimator params are truly free-form).
"""

from __future__ import annotations

from typing import Any

import yaml

from mlcd.api.v1alpha1 import (
    GROUP,
    VERSION,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    TrainingRunSpec,
    TrainingRunStatus,
)

_DROP = {"title", "$defs"}


def _inline(node: Any, defs: dict) -> Any:
    if isinstance(node, list):
        return [_inline(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    if "anyOf" in node:
        kept = [n for n in node["anyOf"] if n != {"type": "null"}]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        if len(kept) == 1:
            if node.get("default") is not None:
                rest["default"] = node["default"]
            return _inline({**kept[0], **rest}, defs)
        raise ValueError(f"a structural schema cannot hold a union: {node}")
    out = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
            continue
        if key == "const":
            out["enum"] = [value]
            continue
        out[key] = _inline(value, defs)
    if out.get("additionalProperties") is False:
        # Structural schemas forbid it; the API server prunes unknown fields instead.
        out.pop("additionalProperties")
    if out.get("type") == "object" and out.get("additionalProperties") in (True, {}):
        out.pop("additionalProperties")
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def _without_defaults(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_defaults(v) for k, v in node.items() if k != "default"}
    if isinstance(node, list):
        return [_without_defaults(n) for n in node]
    return node


def structural_schema(model, *, defaults: bool = True) -> dict:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    flat = _inline(schema, schema.get("$defs", {}))
    return flat if defaults else _without_defaults(flat)


def _crd(kind: str, plural: str, short: str, spec_model, status_model, columns: list[dict]) -> dict:
    spec_schema = structural_schema(spec_model)
    status_schema = structural_schema(status_model, defaults=False)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/part-of": "mlcd"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["mlcd"],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": (spec_model.__doc__ or kind).strip().splitlines()[0],
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec_schema,
                        "status": status_schema,
                    },
                }},
            }],
        },
    }


def _column(name: str, path: str, type_: str = "string", priority: int = 0, description: str = "") -> dict:
    col = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        col["priority"] = priority
    if description:
        col["description"] = description
    return col


def trainingrun_crd() -> dict:
    return _crd("TrainingRun", "trainingruns", "tr", TrainingRunSpec, TrainingRunStatus, [
        _column("Phase", ".status.phase", description="Pending, Running, Succeeded, Rejected, Failed or Invalid"),
        _column("Metric", ".status.keyMetric", description="The key metric of the last run"),
        _column("Version", ".status.model.version", "integer", description="Registered model version"),
        _column("Estimator", ".spec.model.estimator", priority=1),
        _column("Run", ".status.pipeline.runName", priority=1),
        _column("Next Run", ".status.nextScheduledRun", "date", priority=1,
                description="When the schedule next retrains"),
        _column("Last Trigger", ".status.lastRetrain.reason", priority=1),
        _column("Message", ".status.message", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ])


def modeldeployment_crd() -> dict:
    return _crd("ModelDeployment", "modeldeployments", "md", ModelDeploymentSpec, ModelDeploymentStatus, [
        _column("Phase", ".status.phase", description="Pending, Progressing, Ready, RolledBack or Failed"),
        _column("Active", ".status.activeModel", description="The model taking the traffic"),
        _column("Canary", ".status.canaryModel", description="The model under trial"),
        _column("Canary%", ".status.traffic.canary", "integer"),
        _column("URL", ".status.url", priority=1),
        _column("Age", ".metadata.creationTimestamp", "date"),
    ])


def all_crds() -> list[dict]:
    return [trainingrun_crd(), modeldeployment_crd()]


def crd_files() -> dict[str, str]:
    """File name -> YAML text, as committed under manifests/crd/."""
    return {
        f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml": dump(crd) for crd in all_crds()
    }


def dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=100)
