"""Structural-schema handling of custom resources, as the API server does it on every write.

Order (Kubernetes docs, "Custom Resource Definitions": pruning, defaulting, validation):
unknown fields are pruned, nulls of non-nullable fields are dropped, ``default:`` values are
applied, and only then is the object validated against ``openAPIV3Schema``. Field paths and
messages follow kube-openapi's (``spec.gates[0].min: Invalid value: ...``) because tests and
users match on them.

The CEL rules (``x-kubernetes-validations``) are evaluated last, by tests/k8s/cel.py.

Not covered: ``format`` checks; they are accepted.
"""

import copy
import json
import re
from typing import Any

from tests.k8s import cel

Cause = dict[str, str]

# apiVersion, kind and metadata of a resource are handled by the server, never pruned by the schema.
RESOURCE_KEYS = frozenset({"apiVersion", "kind", "metadata"})

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def admit(obj: dict[str, Any], schema: dict[str, Any]) -> tuple[dict[str, Any], list[Cause]]:
    """Return the pruned and defaulted copy of ``obj`` and the validation causes against it."""
    shaped = copy.deepcopy(obj)
    _shape(shaped, schema, embedded=True)
    causes: list[Cause] = []
    _validate(shaped, schema, "", causes)
    return shaped, causes + cel.validate(shaped, schema, causes)


def unknown_fields(obj: Any, schema: dict[str, Any], path: str = "", embedded: bool = True) -> list[str]:
    """The paths pruning would drop (what ``fieldValidation=Strict`` refuses), in document order."""
    found: list[str] = []
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(obj):
            found += unknown_fields(item, schema["items"], f"{path}[{index}]", False)
    if not isinstance(obj, dict):
        return found
    embedded = embedded or bool(schema.get("x-kubernetes-embedded-resource"))
    properties: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for key, value in obj.items():
        if embedded and key in RESOURCE_KEYS:
            continue
        child = properties.get(key, additional if isinstance(additional, dict) else None)
        if child is None and not (preserve or additional is True):
            found.append(_join(path, key))
        elif child is not None:
            found += unknown_fields(value, child, _join(path, key), False)
    return found


def _shape(value: Any, schema: dict[str, Any], embedded: bool = False) -> None:
    if isinstance(value, dict):
        _shape_object(value, schema, embedded or bool(schema.get("x-kubernetes-embedded-resource")))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _shape(item, schema["items"])


def _shape_object(value: dict[str, Any], schema: dict[str, Any], embedded: bool) -> None:
    properties: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for key in list(value):
        if embedded and key in RESOURCE_KEYS:
            continue
        child = properties.get(key, additional if isinstance(additional, dict) else None)
        if child is None and not (preserve or additional is True):
            del value[key]
        elif child is not None and value[key] is None and not child.get("nullable"):
            del value[key]
        elif child is not None:
            _shape(value[key], child)
    for key, child in properties.items():
        if key not in value and "default" in child:
            value[key] = copy.deepcopy(child["default"])
            _shape(value[key], child)


def _validate(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if value is None and schema.get("nullable"):
        return
    if not _type_ok(value, schema):
        expected = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        message = f"must be of type {expected}: {_show(value)}"
        causes.append(_invalid(path, value, message, "FieldValueTypeInvalid"))
        return
    _check_scalar(value, schema, path, causes)
    _check_combinators(value, schema, path, causes)
    if isinstance(value, dict):
        _check_object(value, schema, path, causes)
    elif isinstance(value, list):
        _check_array(value, schema, path, causes)


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    expected = schema.get("type")
    if expected is None:
        return True
    if isinstance(value, bool):
        return expected == "boolean"
    return isinstance(value, _TYPES.get(expected, ()))


def _check_scalar(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(_show(option) for option in schema["enum"])
        causes.append(
            _cause(
                path,
                f"Unsupported value: {_show(value)}: supported values: {supported}",
                "FieldValueNotSupported",
            )
        )
    if isinstance(value, str):
        _check_string(value, schema, path, causes)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, causes)


def _check_string(value: str, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if "pattern" in schema and not re.search(schema["pattern"], value):
        causes.append(_invalid(path, value, f"should match '{schema['pattern']}'"))
    if "minLength" in schema and len(value) < schema["minLength"]:
        causes.append(_invalid(path, value, f"should be at least {schema['minLength']} chars long"))
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        causes.append(_invalid(path, value, f"should be at most {schema['maxLength']} chars long"))


def _check_number(value: float, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if "minimum" in schema:
        low, exclusive = schema["minimum"], schema.get("exclusiveMinimum", False)
        if value < low or (exclusive and value == low):
            relation = "greater than" if exclusive else "greater than or equal to"
            causes.append(_invalid(path, value, f"should be {relation} {_show(low)}"))
    if "maximum" in schema:
        high, exclusive = schema["maximum"], schema.get("exclusiveMaximum", False)
        if value > high or (exclusive and value == high):
            relation = "less than" if exclusive else "less than or equal to"
            causes.append(_invalid(path, value, f"should be {relation} {_show(high)}"))
    if "multipleOf" in schema and value % schema["multipleOf"]:
        causes.append(_invalid(path, value, f"should be a multiple of {_show(schema['multipleOf'])}"))


def _check_combinators(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    # In a structural schema these only constrain values; types, pruning and defaults come from above.
    for sub in schema.get("allOf") or []:
        _validate(value, sub, path, causes)
    if "anyOf" in schema and not any(_passes(value, sub) for sub in schema["anyOf"]):
        causes.append(_invalid(path, value, "must validate at least one schema (anyOf)"))
    if "oneOf" in schema and sum(_passes(value, sub) for sub in schema["oneOf"]) != 1:
        causes.append(_invalid(path, value, "must validate one and only one schema (oneOf)"))
    if "not" in schema and _passes(value, schema["not"]):
        causes.append(_invalid(path, value, "must not validate the schema (not)"))


def _passes(value: Any, schema: dict[str, Any]) -> bool:
    found: list[Cause] = []
    _validate(value, schema, "", found)
    return not found


def _check_object(value: dict[str, Any], schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    for key in schema.get("required") or []:
        if key not in value:
            causes.append(_cause(_join(path, key), "Required value", "FieldValueRequired"))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        causes.append(_invalid(path, len(value), f"should have at least {schema['minProperties']} properties"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        causes.append(_invalid(path, len(value), f"should have at most {schema['maxProperties']} properties"))
    properties: dict[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        child = properties.get(key, additional if isinstance(additional, dict) else None)
        if child is not None and not (path == "" and key in RESOURCE_KEYS and key not in properties):
            _validate(item, child, _join(path, key), causes)


def _check_array(value: list[Any], schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        causes.append(_invalid(path, len(value), f"should have at least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.append(_invalid(path, len(value), f"should have at most {schema['maxItems']} items"))
    _check_duplicates(value, schema, path, causes)
    if isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _validate(item, schema["items"], f"{path}[{index}]", causes)


def _check_duplicates(value: list[Any], schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys") or []
    if list_type not in ("set", "map") and not schema.get("uniqueItems"):
        return
    seen: set[str] = set()
    for index, item in enumerate(value):
        identity = item if list_type != "map" or not isinstance(item, dict) else {k: item.get(k) for k in keys}
        marker = json.dumps(identity, sort_keys=True)
        if marker in seen:
            causes.append(_cause(f"{path}[{index}]", f"Duplicate value: {_show(identity)}", "FieldValueDuplicate"))
        seen.add(marker)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, sort_keys=True)


def _cause(path: str, message: str, reason: str) -> Cause:
    return {"reason": reason, "message": message, "field": path}


def _invalid(path: str, value: Any, problem: str, reason: str = "FieldValueInvalid") -> Cause:
    return _cause(path, f"Invalid value: {_show(value)}: {path} in body {problem}", reason)
