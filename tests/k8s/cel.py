"""The CEL rules of a structural schema (``x-kubernetes-validations``), evaluated as the API server does.

The API server (apiextensions-apiserver, pkg/apiserver/schema/cel/validation.go) walks the object
with its schema; at every node that carries rules it binds ``self`` to the node's value, typed by
the schema (``number`` is a double even when the JSON has ``1``, ``integer`` an int), and evaluates
each rule. Null values are not validated. A rule that is not true fails its node, or the field its
``fieldPath`` names, with the rule's ``message`` (``failed rule: RULE`` without one); the value is
shown for scalars and omitted for objects and arrays. A rule that cannot be evaluated is a failure
too. The rules are evaluated by cel-python, an implementation of the CEL specification.

With no rule in the schema the API server has no CEL validator at all; with rules, it skips them
when the schema already found a type, enum, size or required-field error (strategy.go,
hasBlockingErr): the object lacks the shape they were written for.

Not covered: transition rules (``oldSelf``), ``messageExpression``, ``reason``, and the cost budget.
"""

import json
from functools import cache, lru_cache
from typing import Any

import celpy
from celpy import celtypes

Cause = dict[str, str]
_ENV = celpy.Environment()
BLOCKING = frozenset({"FieldValueNotSupported", "FieldValueRequired", "FieldValueTooLong", "FieldValueTooMany",
                      "FieldValueTypeInvalid"})
NOT_CHECKED: Cause = {
    "reason": "FieldValueInvalid",
    "message": 'Invalid value: "null": some validation rules were not checked because the object was invalid; '
               "correct the existing errors to complete validation",
    "field": "<nil>",
}


@cache
def _program(rule: str) -> celpy.Runner:
    return _ENV.program(_ENV.compile(rule))


def validate(obj: dict[str, Any], schema: dict[str, Any], schema_causes: list[Cause]) -> list[Cause]:
    """What the rules add to the schema's causes of a whole object (nothing when the schema has no rule)."""
    if not has_rules(schema):
        return []
    if any(cause["reason"] in BLOCKING for cause in schema_causes):
        return [NOT_CHECKED]
    return evaluate(obj, schema)


def has_rules(schema: Any) -> bool:
    if isinstance(schema, list):
        return any(has_rules(item) for item in schema)
    if not isinstance(schema, dict):
        return False
    return "x-kubernetes-validations" in schema or any(has_rules(value) for value in schema.values())


def evaluate(value: Any, schema: dict[str, Any], path: str = "") -> list[Cause]:
    """The causes of every rule in ``schema`` (recursively) that ``value`` breaks."""
    causes: list[Cause] = []
    _walk(value, schema, path, causes)
    return causes


def _walk(value: Any, schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    if value is None:
        return
    for rule in schema.get("x-kubernetes-validations") or []:
        cause = _check(rule, value, schema, path)
        if cause:
            causes.append(cause)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key, additional if isinstance(additional, dict) else None)
            if child is not None:
                _walk(item, child, f"{path}.{key}" if path else key, causes)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk(item, schema["items"], f"{path}[{index}]", causes)


def _check(rule: dict[str, Any], value: Any, schema: dict[str, Any], path: str) -> Cause | None:
    field = path + rule.get("fieldPath", "")
    error = _outcome(rule["rule"], json.dumps(value, sort_keys=True), json.dumps(schema, sort_keys=True))
    if error is None:
        return None
    detail = error or rule.get("message") or f"failed rule: {rule['rule']}"
    return _invalid(field, value, schema, detail)


@lru_cache(maxsize=4096)
def _outcome(rule: str, value: str, schema: str) -> str | None:
    """None when the rule holds, "" when it is false, the error when it cannot be evaluated. Memoised:
    status writes re-validate an unchanged spec, and cel-python's interpreter takes milliseconds a rule."""
    try:
        result = _program(rule).evaluate({"self": to_cel(json.loads(value), json.loads(schema))})
    except celpy.CELEvalError as exc:
        result = exc
    if isinstance(result, celpy.CELEvalError):
        return f"{result.args[0]} evaluating rule: {rule}"
    return None if isinstance(result, celtypes.BoolType) and result else ""


def _invalid(field: str, value: Any, schema: dict[str, Any], detail: str) -> Cause:
    shown = "" if schema.get("type") in ("object", "array") else f" {json.dumps(value)}:"
    return {"reason": "FieldValueInvalid", "message": f"Invalid value:{shown} {detail}", "field": field}


def to_cel(value: Any, schema: dict[str, Any]) -> celtypes.Value:
    """The value as CEL sees it: typed by the schema, as the API server's unstructured-to-CEL adapter types it."""
    kind = schema.get("type")
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return celpy.json_to_cel(value)
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        return celtypes.MapType({
            celtypes.StringType(key): to_cel(item, properties.get(key, additional if isinstance(additional, dict)
                                                                   else {}))
            for key, item in value.items()
        })
    if kind == "array" and isinstance(value, list):
        return celtypes.ListType([to_cel(item, schema.get("items") or {}) for item in value])
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    return celpy.json_to_cel(value)
