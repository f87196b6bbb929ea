"""Write scikit-learn's estimators, their parameters and their parameter constraints as data.

The operator validates every spec it sees, and importing scikit-learn to do so costs it about
100 MB and a second per process. This module is the one place that asks scikit-learn itself:
`python -m mlcd.catalog_build` (`make catalog`) writes `mlcd/data/sklearn-catalog.json` from the
installed scikit-learn, and a test keeps the committed file equal to what it writes.

A constraint is written so that `mlcd.constraints` can decide it for any value a YAML document can
hold (None, bools, ints, floats, strings, lists, mappings) exactly as scikit-learn's
`validate_parameter_constraints` does. Constraints whose verdict depends only on the value's type
(instances of a type, array-likes, callables, objects with methods, …) are written as the list of
YAML types that satisfy them, found by asking the constraint itself about one value of each type.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import sys
from pathlib import Path

from mlcd.constraints import YAML_TYPES

CATALOG_FILE = Path(__file__).parent / "data" / "sklearn-catalog.json"

# One value of each type a YAML document can hold, to ask a type-only constraint about.
_SAMPLES = {"none": None, "bool": True, "int": 3, "float": 0.5, "str": "auto", "list": [1, 2], "dict": {"a": 1}}
assert set(_SAMPLES) == set(YAML_TYPES)


def _number(x):
    if x is None:
        return None
    x = float(x) if not isinstance(x, int) or isinstance(x, bool) else int(x)
    return x if not (isinstance(x, float) and math.isinf(x)) else ("inf" if x > 0 else "-inf")


def _types(constraint) -> list[str]:
    return [name for name, value in _SAMPLES.items() if constraint.is_satisfied_by(value)]


def describe(constraint) -> dict:
    """One scikit-learn constraint (already through make_constraint) as JSON data."""
    from numbers import Integral, Real

    from sklearn.utils import _param_validation as pv

    out: dict = {"str": str(constraint)}
    if getattr(constraint, "hidden", False):
        out["hidden"] = True
    if isinstance(constraint, pv.Interval):
        kind = {Integral: "int", Real: "real", pv.RealNotInt: "realnotint"}[constraint.type]
        out.update(kind="interval", type=kind, left=_number(constraint.left), right=_number(constraint.right),
                   closed=constraint.closed)
    elif isinstance(constraint, pv.Options):
        options = sorted(constraint.options, key=repr)
        json.dumps(options)  # an option a YAML value cannot equal would not survive this: fail loudly
        # scikit-learn words the options in set order, which changes with the hash seed: sorted, the
        # file is the same on every run (and the message names the same options).
        ordered = copy.copy(constraint)
        ordered.options = options
        out.update(str=str(ordered), kind="options", types=_types(pv._InstancesOf(constraint.type)),
                   options=options)
    elif isinstance(constraint, pv._NoneConstraint):
        out.update(kind="none")
    elif isinstance(constraint, pv._NanConstraint):
        out.update(kind="nan")
    elif isinstance(constraint, (pv._RandomStates, pv._Booleans, pv._VerboseHelper, pv.MissingValues,
                                 pv._CVObjects)):
        out.update(kind="any", of=[describe(c) for c in constraint._constraints])
    elif isinstance(constraint, (pv._InstancesOf, pv._ArrayLikes, pv._SparseMatrices, pv._Callables,
                                 pv._PandasNAConstraint, pv.HasMethods, pv._IterablesNotString)):
        out.update(kind="types", types=_types(constraint))
    else:
        raise TypeError(f"no JSON form for scikit-learn constraint {constraint!r} ({type(constraint).__name__})")
    return out


def _init_params(cls) -> list:
    return [p for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def describe_estimator(cls, kind: str) -> dict:
    from sklearn.utils._param_validation import make_constraint

    params = _init_params(cls)
    constraints = {}
    for name, listed in sorted(getattr(cls, "_parameter_constraints", {}).items()):
        constraints[name] = (listed if listed == "no_validation"
                             else [describe(make_constraint(c)) for c in listed])
    return {
        "module": cls.__module__,
        "kind": kind,
        "params": [p.name for p in params],
        # Constructor parameters without a default: what a meta-estimator needs (the estimators
        # it wraps), and what a spec, being data, can never give.
        "required": [p.name for p in params if p.default is inspect.Parameter.empty],
        "constraints": constraints,
    }


def build() -> dict:
    """The whole catalog of the installed scikit-learn."""
    import sklearn
    from sklearn.utils.discovery import all_estimators

    estimators: dict[str, dict] = {}
    for kind in ("classifier", "regressor"):
        for name, cls in all_estimators(type_filter=kind):
            if name not in estimators:
                estimators[name] = describe_estimator(cls, kind)
    return {"sklearn": sklearn.__version__, "estimators": dict(sorted(estimators.items()))}


def render(catalog: dict) -> str:
    return json.dumps(catalog, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = Path((argv or sys.argv[1:] or [str(CATALOG_FILE)])[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(build()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
