"""Every problem of a resource document at once, each with the path of its field.

Pydantic checks types, ranges, URIs and cron strings; the checks that need scikit-learn
(estimator names, parameter names and values, metrics that fit the estimator) run on the
raw document as well, so one pass reports all of them rather than the first failure only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from mlcd import catalog, constraints
from mlcd.api.v1alpha1.modeldeployment import ModelDeployment
from mlcd.api.v1alpha1.trainingrun import TrainingRun

KINDS: dict[str, type[BaseModel]] = {"TrainingRun": TrainingRun, "ModelDeployment": ModelDeployment}
# Deeper than any spec needs, shallow enough that nothing that walks a document recurses too far.
MAX_DEPTH = 64
# spec.data.features and spec.model.preprocessing.oneHot are list inputs of steps (and both are pipeline
# parameters, which KFP's root driver gets together), and KFP hands a step its inputs (the executor input JSON)
# as one command-line argument, which Linux caps at 128 KiB: "Argument list too long" beyond. The listed
# columns get a quarter of that, together; the rest is left to every other input.
MAX_LISTED_COLUMNS_BYTES = 32 * 1024


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Validated:
    resource: BaseModel | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def _loc(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field is missing"
    msg = error["msg"]
    return msg.removeprefix("Value error, ")


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        problems.append(Problem(_loc(loc) or "(document)", _message(error)))
    return problems


def validate_document(doc: Any) -> Validated:
    """Validate one parsed YAML document as a TrainingRun or ModelDeployment."""
    if not isinstance(doc, dict):
        return Validated(None, [Problem("(document)", "expected a mapping with apiVersion, kind and spec")])
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        expected = " or ".join(KINDS)
        return Validated(None, [Problem("kind", f"{kind!r} is not an mlcd resource; expected {expected}")])
    problems = shape_problems(doc)
    if problems:
        return Validated(None, problems)
    resource = None
    try:
        resource = model.model_validate(doc)
    except ValidationError as exc:
        problems += _pydantic_problems(exc)
    if kind == "TrainingRun":
        problems += trainingrun_problems(doc.get("spec"))
    problems = sorted(set(problems))
    return Validated(resource if not problems else None, problems)


def shape_problems(doc: Any) -> list[Problem]:
    """What no field's own check may be handed: nesting past MAX_DEPTH, NaN and infinities."""
    problems = []
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [Problem(path, f"nested deeper than {MAX_DEPTH} levels")]
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(path, f"{value} is not a finite number"))
        elif isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return sorted(problems)


def trainingrun_problems(spec: Any) -> list[Problem]:
    """The scikit-learn-aware checks, on the raw spec so they run even when other fields fail."""
    if not isinstance(spec, dict):
        return []
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    name = model.get("estimator")
    if not isinstance(name, str) or not name:
        return []
    problems = estimator_problems(name, model.get("params")) + column_problems(spec)
    kind = catalog.estimator_kind(name)
    if kind is not None:
        problems += gate_problems(spec.get("gates"), kind)
        if not any(p.path == "spec.model.estimator" for p in problems):
            problems += tuning_problems(name, kind, spec.get("tuning"))
    return problems


def column_problems(spec: dict) -> list[Problem]:
    """Columns named in ways no data can satisfy: a feature twice, the target as a feature, a oneHot column
    that is not a feature."""
    data = spec.get("data") if isinstance(spec.get("data"), dict) else {}
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    preprocessing = model.get("preprocessing") if isinstance(model.get("preprocessing"), dict) else {}
    features = data.get("features") if isinstance(data.get("features"), list) else []
    one_hot = preprocessing.get("oneHot") if isinstance(preprocessing.get("oneHot"), list) else []
    target = data.get("target", "target")
    problems, seen = [], set()
    for i, feature in enumerate(features):
        if not isinstance(feature, str):
            continue
        if feature in seen:
            problems.append(Problem(f"spec.data.features[{i}]", f"{feature!r} is listed twice"))
        if feature == target:
            problems.append(Problem(f"spec.data.features[{i}]", f"{feature!r} is the target (spec.data.target); "
                                                                "a model cannot take its label as a feature"))
        seen.add(feature)
    for i, column in enumerate(one_hot):
        if isinstance(column, str) and seen and column not in seen:
            problems.append(Problem(f"spec.model.preprocessing.oneHot[{i}]",
                                    f"{column!r} is not one of spec.data.features"))
    return problems + listed_columns_problems(features, one_hot)


def listed_columns_problems(features: list, one_hot: list) -> list[Problem]:
    """Listed columns that would not fit on a step's command line (see MAX_LISTED_COLUMNS_BYTES)."""
    sizes = [len(json.dumps(columns, default=str)) if columns else 0 for columns in (features, one_hot)]
    if sum(sizes) <= MAX_LISTED_COLUMNS_BYTES:
        return []
    both = " with spec.model.preprocessing.oneHot" if all(sizes) else ""
    limit = (f"KFP passes them to steps on their command line, which holds at most "
             f"{MAX_LISTED_COLUMNS_BYTES // 1024} KiB of them")
    if sizes[0] >= sizes[1]:
        return [Problem("spec.data.features", f"{len(features):,} columns listed ({sum(sizes) / 1024:.0f} KiB{both})"
                                              f"; {limit}: leave spec.data.features empty to use every column "
                                              "but the target")]
    both = " with spec.data.features" if all(sizes) else ""
    return [Problem("spec.model.preprocessing.oneHot",
                    f"{len(one_hot):,} columns listed ({sum(sizes) / 1024:.0f} KiB{both}); {limit}: one-hot encode "
                    "fewer columns, or encode them in the data")]


def estimator_problems(name: str, params: Any) -> list[Problem]:
    path = "spec.model.estimator"
    if not name.isidentifier():
        return [Problem(path, f"{name!r} is not a class name; give the name of a scikit-learn classifier or "
                              "regressor (e.g. RandomForestClassifier), never an import path")]
    info = catalog.estimator_info(name)
    if info is None:
        hint = catalog.suggest(name, catalog.estimator_catalog())
        return [Problem(path, f"{name!r} is not a scikit-learn classifier or regressor{hint}")]
    if info.is_meta:
        wrapped = ", ".join(info.required)
        return [Problem(path, f"{name} is a meta-estimator: it needs other estimators as parameters ({wrapped}), "
                              "which a spec cannot give; choose an estimator that trains on its own")]
    if not isinstance(params, dict):
        return []
    return param_problems(name, params)


def param_problems(name: str, params: dict) -> list[Problem]:
    problems = []
    for key, value in params.items():
        problems += _value_problems(name, key, value, f"spec.model.params.{key}")
    return problems


def _value_problems(name: str, key: str, value: Any, path: str) -> list[Problem]:
    """Whether `key` is a parameter of the estimator and `value` one it takes (scikit-learn's verdict)."""
    info = catalog.estimator_info(name)
    known = info.params if info else ()
    if key not in known:
        return [Problem(path, f"not a parameter of {name}{catalog.suggest(key, known)}")]
    message = _value_problem(name, key, value, info.constraints.get(key, "no_validation"))
    return [Problem(path, message)] if message else []


def tuning_problems(name: str, kind: str, tuning: Any) -> list[Problem]:
    """Every candidate value of the search space checked as spec.model.params are, and the metric."""
    if not isinstance(tuning, dict):
        return []
    problems = []
    metric = tuning.get("metric")
    if isinstance(metric, str) and metric not in catalog.metrics_for(kind):
        problems.append(Problem("spec.tuning.metric", f"{metric!r} does not apply to a {kind}; expected one of "
                                                      f"{', '.join(catalog.metrics_for(kind))}"))
    info = catalog.estimator_info(name)
    known = info.params if info else ()
    space = tuning.get("parameters")
    for key, dimension in (space.items() if isinstance(space, dict) else ()):
        path = f"spec.tuning.parameters.{key}"
        if key not in known:
            problems.append(Problem(path, f"not a parameter of {name}{catalog.suggest(key, known)}"))
            continue
        if not isinstance(dimension, dict):
            continue
        values = dimension.get("values")
        for i, value in enumerate(values if isinstance(values, list) else ()):
            problems += _value_problems(name, key, value, f"{path}.values[{i}]")
        if dimension.get("distribution") in ("int", "uniform", "logUniform"):
            for end in ("low", "high"):
                value = dimension.get(end)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    value = int(value) if dimension["distribution"] == "int" and value == int(value) else value
                    problems += _value_problems(name, key, value, f"{path}.{end}")
    return problems


def _value_problem(name: str, key: str, value: Any, listed) -> str | None:
    """scikit-learn's verdict on one parameter value, from the catalog: no scikit-learn import."""
    if constraints.yaml_type(value) is not None:
        return constraints.problem(name, key, listed, value)
    # Not a plain YAML value (a date, say): ask scikit-learn itself rather than guess.
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    cls = catalog.estimator_class(name)
    try:
        validate_parameter_constraints({key: cls._parameter_constraints[key]}, {key: value}, caller_name=name)
    except InvalidParameterError as exc:
        return str(exc)
    except (TypeError, ValueError, KeyError) as exc:  # a constraint that cannot even compare this value
        return f"{value!r} is not a value {name} takes here: {exc}"
    return None


def gate_problems(gates: Any, kind: str) -> list[Problem]:
    if not isinstance(gates, list):
        return []
    allowed = catalog.metrics_for(kind)
    problems = []
    for i, gate in enumerate(gates):
        metric = gate.get("metric") if isinstance(gate, dict) else None
        if isinstance(metric, str) and metric not in allowed:
            problems.append(Problem(
                f"spec.gates[{i}].metric",
                f"{metric!r} does not apply to a {kind}; expected one of {', '.join(allowed)}",
            ))
    return problems
