"""scikit-learn's parameter constraints, decided from the catalog without importing scikit-learn.

`mlcd.catalog_build` writes each constraint as data; `problem()` decides it for a value a YAML
document can hold and words a refusal exactly as scikit-learn's `validate_parameter_constraints`
does (`The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf) or
None. Got -1 instead.`). A test asks both about every parameter of every estimator.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

# The types of the values a YAML document holds; a constraint's `types` name these.
YAML_TYPES: dict[str, type] = {"none": type(None), "bool": bool, "int": int, "float": float, "str": str,
                               "list": list, "dict": dict}
_TYPE_NAMES = {t: name for name, t in YAML_TYPES.items()}


def yaml_type(value: Any) -> str | None:
    """The YAML type name of a value, or None for anything else (a date, say)."""
    return _TYPE_NAMES.get(type(value))


def _bound(x, default: float) -> float:
    if x is None:
        return default
    return {"inf": math.inf, "-inf": -math.inf}.get(x, x) if isinstance(x, str) else x


def _in_interval(c: dict, value: Any) -> bool:
    kind = c["type"]
    if kind == "int" and not isinstance(value, Integral):
        return False
    if kind == "real" and not isinstance(value, Real):
        return False
    if kind == "realnotint" and not isinstance(value, float):
        return False
    if not isinstance(value, Integral) and math.isnan(value):
        return False
    left, right = _bound(c["left"], -math.inf), _bound(c["right"], math.inf)
    left_ok = value >= left if c["closed"] in ("left", "both") else value > left
    right_ok = value <= right if c["closed"] in ("right", "both") else value < right
    return left_ok and right_ok


def satisfied(c: dict, value: Any) -> bool:
    """Whether a YAML value satisfies one catalogued constraint."""
    kind = c["kind"]
    if kind == "interval":
        return _in_interval(c, value)
    if kind == "types":
        return yaml_type(value) in c["types"]
    if kind == "options":
        return yaml_type(value) in c["types"] and value in c["options"]
    if kind == "none":
        return value is None
    if kind == "nan":
        return isinstance(value, float) and math.isnan(value)
    if kind == "any":
        return any(satisfied(inner, value) for inner in c["of"])
    raise ValueError(f"unknown constraint kind {kind!r} in the estimator catalog")


def problem(estimator: str, param: str, listed: list[dict] | str, value: Any) -> str | None:
    """scikit-learn's words for a value no constraint of the parameter allows, else None."""
    if listed == "no_validation" or any(satisfied(c, value) for c in listed):
        return None
    shown = [c["str"] for c in listed if not c.get("hidden")]
    wanted = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    return f"The {param!r} parameter of {estimator} must be {wanted}. Got {value!r} instead."
