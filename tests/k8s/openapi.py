"""OpenAPI v3 (per group-version) and v2 documents of the served kinds, as kubectl downloads them.

kubectl reads them for three things: whether the server validates fields itself (the PATCH
operation of the kind's path lists a ``fieldValidation`` parameter: ``query_param_verifier_v3.go``
in cli-runtime; then kubectl leaves validation to the server), ``kubectl explain`` (the schema
whose ``x-kubernetes-group-version-kind`` names the kind, walked by its ``properties``), and
strategic-merge patch metadata. Custom resources publish their CRD's ``openAPIV3Schema`` under
``io.<reversed group>.<version>.<Kind>`` with ``apiVersion``, ``kind`` and ``metadata`` filled in,
as apiextensions-apiserver's ``openapi/builder`` does. Built-in kinds here are stored generically,
so their published schema is an open object.
"""

import copy
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from tests.k8s.kinds import Kind

Doc = dict[str, Any]
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_TYPE_META = {
    "apiVersion": (
        "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
        "recognized schemas to the latest internal value, and may reject unrecognized values."
    ),
    "kind": (
        "Kind is a string value representing the REST resource this object represents. Servers may infer this "
        "from the endpoint the client submits requests to. Cannot be updated. In CamelCase."
    ),
}
_OBJECT_META_FIELDS = {
    "name": "Name must be unique within a namespace.",
    "namespace": "Namespace defines the space within which each name must be unique.",
    "generateName": "An optional prefix, used by the server, to generate a unique name.",
    "uid": "UID is the unique in time and space value for this object.",
    "resourceVersion": "An opaque value that represents the internal version of this object.",
    "generation": "A sequence number representing a specific generation of the desired state.",
    "creationTimestamp": "The time this object was created, in RFC 3339 form and UTC.",
    "deletionTimestamp": "The time after which this resource will be deleted.",
    "labels": "Map of string keys and values that can be used to organize and categorize objects.",
    "annotations": "Unstructured key value map stored with a resource, not queryable.",
    "finalizers": "Must be empty before the object is deleted from the registry.",
    "ownerReferences": "List of objects depended by this object.",
}


def definition_name(kind: Kind) -> str:
    """``mlcd.io``/``v1alpha1``/``TrainingRun`` -> ``io.mlcd.v1alpha1.TrainingRun`` (core: ``io.k8s.api.core``)."""
    group = ".".join(reversed(kind.group.split("."))) if kind.group else "io.k8s.api.core"
    return f"{group}.{kind.version}.{kind.kind}"


def _object_meta() -> Doc:
    properties: dict[str, Doc] = {}
    for field, description in _OBJECT_META_FIELDS.items():
        if field in ("labels", "annotations"):
            schema: Doc = {"type": "object", "additionalProperties": {"type": "string"}}
        elif field in ("finalizers",):
            schema = {"type": "array", "items": {"type": "string"}}
        elif field == "ownerReferences":
            schema = {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
        elif field == "generation":
            schema = {"type": "integer", "format": "int64"}
        elif field.endswith("Timestamp"):
            schema = {"type": "string", "format": "date-time"}
        else:
            schema = {"type": "string"}
        properties[field] = {**schema, "description": description}
    return {
        "type": "object",
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "properties": properties,
    }


def _gvk(kind: Kind) -> Doc:
    return {"group": kind.group, "version": kind.version, "kind": kind.kind}


def _kind_schema(kind: Kind, ref_prefix: str) -> Doc:
    schema = copy.deepcopy(kind.schema) if kind.schema else {"type": "object"}
    if not kind.schema:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    properties = schema.setdefault("properties", {})
    for field, description in _TYPE_META.items():
        properties[field] = {**properties.get(field, {}), "type": "string", "description": description}
    meta_ref = {"$ref": f"{ref_prefix}{OBJECT_META}"}
    properties["metadata"] = {"allOf": [meta_ref], "default": {}} if ref_prefix.startswith("#/components") else meta_ref
    schema["x-kubernetes-group-version-kind"] = [_gvk(kind)]
    return schema


def _parameters(kind: Kind, item: bool) -> list[Doc]:
    params = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}] if item else []
    if kind.namespaced:
        params.append({"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}})
    return params


def _operation(kind: Kind, action: str, ref: str, extra: Iterable[str] = ()) -> Doc:
    op: Doc = {
        "operationId": f"{action}{kind.kind}",
        "parameters": [
            {"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": True} for name in extra
        ],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(kind),
    }
    return op


def _paths(kind: Kind, ref: str) -> Doc:
    prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    scope = f"{prefix}/namespaces/{{namespace}}" if kind.namespaced else prefix
    writes = ("dryRun", "fieldManager", "fieldValidation")
    collection = {
        "parameters": _parameters(kind, item=False),
        "get": _operation(kind, "list", ref, ("labelSelector", "fieldSelector", "watch", "resourceVersion")),
        "post": _operation(kind, "post", ref, writes),
    }
    item = {
        "parameters": _parameters(kind, item=True),
        "get": _operation(kind, "get", ref),
        "put": _operation(kind, "put", ref, writes),
        "patch": _operation(kind, "patch", ref, (*writes, "force")),
        "delete": _operation(kind, "delete", ref, ("dryRun", "propagationPolicy", "gracePeriodSeconds")),
    }
    paths = {f"{scope}/{kind.plural}": collection, f"{scope}/{kind.plural}/{{name}}": item}
    if kind.status_subresource:
        paths[f"{scope}/{kind.plural}/{{name}}/status"] = {
            "parameters": _parameters(kind, item=True),
            "get": _operation(kind, "get", ref),
            "patch": _operation(kind, "patch", ref, (*writes, "force")),
            "put": _operation(kind, "put", ref, writes),
        }
    return paths


def group_version_path(kind: Kind) -> str:
    return f"apis/{kind.group}/{kind.version}" if kind.group else f"api/{kind.version}"


def v3_document(kinds: Iterable[Kind]) -> Doc:
    """The OpenAPI v3 document of one group-version (all ``kinds`` share it)."""
    schemas: Doc = {OBJECT_META: _object_meta()}
    paths: Doc = {}
    for kind in kinds:
        name = definition_name(kind)
        schemas[name] = _kind_schema(kind, "#/components/schemas/")
        paths.update(_paths(kind, f"#/components/schemas/{name}"))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "mlcd-emulator"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def v3_root(documents: dict[str, Doc]) -> Doc:
    """``/openapi/v3``: each group-version's document by its path, with a hash of its content."""
    paths = {}
    for path, document in sorted(documents.items()):
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def v2_document(kinds: Iterable[Kind]) -> Doc:
    definitions: Doc = {OBJECT_META: _object_meta()}
    paths: Doc = {}
    for kind in kinds:
        name = definition_name(kind)
        definitions[name] = _v2_schema(_kind_schema(kind, "#/definitions/"))
        for path, item in _paths(kind, f"#/definitions/{name}").items():
            paths[path] = {
                method: _v2_parameters(op) if method == "parameters" else _v2_operation(op)
                for method, op in item.items()
            }
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "mlcd-emulator"},
        "paths": paths,
        "definitions": definitions,
    }


def _v2_operation(op: Doc) -> Doc:
    converted = {key: value for key, value in op.items() if key != "responses"}
    converted["parameters"] = _v2_parameters(op["parameters"])
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    converted["responses"] = {"200": {"description": "OK", "schema": schema}}
    return converted


def _v2_parameters(params: list[Doc]) -> list[Doc]:
    return [{key: value for key, value in param.items() if key != "schema"} | {"type": "string"} for param in params]


def _v2_schema(schema: Any) -> Any:
    # OpenAPI v2 has no nullable; apiextensions-apiserver drops it when it publishes v2.
    if isinstance(schema, dict):
        return {key: _v2_schema(value) for key, value in schema.items() if key != "nullable"}
    if isinstance(schema, list):
        return [_v2_schema(item) for item in schema]
    return schema
