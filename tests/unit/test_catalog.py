"""The committed estimator catalog says what scikit-learn says, and validation needs nothing else (issue 18)."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap

import pytest
import sklearn
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from mlcd import catalog, catalog_build, constraints

COMMON = [None, True, False, 0, 1, -1, 2, 3, 100, 2**32 - 1, 2**32, 10**30, 0.0, 0.5, 1.0, 1.5, -0.5, 1e300,
          math.inf, -math.inf, math.nan, "auto", "x", "", "balanced", [], [1, 2], ["a"], {}, {"a": 1}]


def probes(listed) -> list:
    """Common values, every option, and each interval bound and its neighbours, as ints and floats."""
    values = list(COMMON)
    stack = list(listed) if isinstance(listed, list) else []
    while stack:
        c = stack.pop()
        stack.extend(c.get("of", []))
        values.extend(c.get("options", []))
        for bound in (c.get("left"), c.get("right")):
            if isinstance(bound, (int, float)) and not isinstance(bound, bool):
                values += [bound, bound - 1, bound + 1, float(bound), bound - 0.5, bound + 0.5]
                if isinstance(bound, float) and bound.is_integer():
                    values.append(int(bound))
    return values


def sklearn_says(name: str, key: str, value) -> str | None:
    cls = catalog.estimator_class(name)
    try:
        validate_parameter_constraints({key: cls._parameter_constraints[key]}, {key: value}, caller_name=name)
    except InvalidParameterError as exc:
        return in_order(str(exc))
    return None


def in_order(message: str | None) -> str | None:
    """scikit-learn lists a set of options in hash order, which changes from run to run: sort them."""
    if message is None:
        return None
    return re.sub(r"among \{([^{}]*)\}", lambda m: "among {" + ", ".join(sorted(m[1].split(", "))) + "}", message)


def test_the_committed_catalog_is_what_the_installed_scikit_learn_says():
    committed = json.loads(catalog.COMMITTED.read_text())
    if committed["sklearn"] != sklearn.__version__:
        pytest.skip(f"the committed catalog is for scikit-learn {committed['sklearn']}, this is "
                    f"{sklearn.__version__}: `make catalog` writes it anew (validation builds its own meanwhile)")
    assert catalog.COMMITTED.read_text() == catalog_build.render(catalog_build.build()), "run `make catalog`"


def test_every_constraint_of_every_estimator_is_decided_as_scikit_learn_decides_it():
    checked = 0
    for name, info in catalog.estimator_catalog().items():
        for key, listed in info.constraints.items():
            if listed == "no_validation":
                continue
            for value in probes(listed):
                assert in_order(constraints.problem(name, key, listed, value)) == sklearn_says(name, key, value), \
                    (name, key, value)
                checked += 1
    print(f"\n{checked} (estimator, parameter, value) verdicts equal to scikit-learn's")
    assert checked > 10_000


def test_the_catalog_names_every_constructor_parameter_and_the_meta_estimators_needs():
    for name, info in catalog.estimator_catalog().items():
        cls = catalog.estimator_class(name)
        params = catalog_build._init_params(cls)
        assert info.params == tuple(p.name for p in params), name
        assert set(info.constraints) <= set(info.params) | set(getattr(cls, "_parameter_constraints", {}))


def test_a_value_that_is_no_yaml_type_is_asked_of_scikit_learn_itself():
    import datetime

    from mlcd.api.v1alpha1.validation import param_problems

    [problem] = param_problems("RandomForestClassifier", {"max_depth": datetime.date(2024, 1, 1)})
    assert problem.path == "spec.model.params.max_depth"
    assert "must be an int in the range [1, inf) or None" in problem.message


def test_validating_a_spec_imports_no_scikit_learn(tmp_path):
    code = textwrap.dedent("""
        import sys
        from mlcd.api.v1alpha1.validation import validate_document
        doc = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "iris"},
               "spec": {"data": {"source": "builtin://iris"},
                        "model": {"estimator": "RandomForestClassifier", "params": {"max_depth": 0}},
                        "gates": [{"metric": "accuracy", "min": 0.9}]}}
        result = validate_document(doc)
        print(*(str(p) for p in result.problems), sep="\\n")
        print("heavy:", sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "scipy")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MLCD_HOME": str(tmp_path)}).stdout.splitlines()
    assert out == ["spec.model.params.max_depth: The 'max_depth' parameter of RandomForestClassifier must be an int "
                   "in the range [1, inf) or None. Got 0 instead.", "heavy: []"]


def test_the_operator_process_imports_no_data_or_model_library(tmp_path):
    """It validates, compiles and stats objects; reading data and unpickling happen in pipeline steps."""
    code = textwrap.dedent("""
        import sys
        import mlcd.handlers.app as app
        app.warm_up()
        print(sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "pandas", "pyarrow", "joblib",
                                                               "numpy", "minio"}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MLCD_HOME": str(tmp_path)}).stdout.splitlines()
    assert out[-1] == "[]"
