"""The pipeline's parameters, declared once: a name, a type and where a TrainingRun's value comes from.

The pipeline function's signature (pipeline.py) and the arguments of a run (compile.py) are both
made from this table, so a new spec field is one entry here plus its use in the pipeline and its step.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlcd import catalog
from mlcd.api.v1alpha1 import TrainingRun


@dataclass(frozen=True)
class Run:
    """What one compile is for: the TrainingRun and the settings of this run of it."""

    tr: TrainingRun
    trigger: str
    registry_uri: str
    promote: bool
    run_key: str

    @property
    def spec(self):
        return self.tr.spec

    @functools.cached_property
    def wire(self) -> dict:
        """The spec as written (camelCase), for parameters that pass a whole section on to a step."""
        return self.tr.spec.to_wire()


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    value: Callable[[Run], Any]


def _drift(run: Run):
    return run.spec.retrain.drift if run.spec.retrain else None


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("data_source", str, lambda r: r.spec.data.source),
    Parameter("data_format", str, lambda r: r.spec.data.format or ""),
    Parameter("target", str, lambda r: r.spec.data.target),
    Parameter("features", list, lambda r: list(r.spec.data.features)),
    Parameter("test_fraction", float, lambda r: r.spec.data.test_fraction),
    Parameter("seed", int, lambda r: r.spec.data.seed),
    Parameter("checks", dict, lambda r: r.wire["data"]["checks"]),
    Parameter("estimator", str, lambda r: r.spec.model.estimator),
    Parameter("kind", str, lambda r: catalog.estimator_kind(r.spec.model.estimator) or "classifier"),
    # JSON, not a struct: a protobuf Struct turns every integer into a float (max_depth 4 -> 4.0),
    # which scikit-learn's parameter validation rightly refuses.
    Parameter("params_json", str, lambda r: json.dumps(r.spec.model.params, sort_keys=True)),
    Parameter("preprocessing", dict, lambda r: r.wire["model"]["preprocessing"]),
    Parameter("gates", list, lambda r: r.wire.get("gates", [])),
    Parameter("registry_uri", str, lambda r: r.registry_uri),
    Parameter("promote", bool, lambda r: r.promote),
    Parameter("run_namespace", str, lambda r: r.tr.metadata.namespace),
    Parameter("run_name", str, lambda r: r.tr.metadata.name),
    Parameter("run_generation", int, lambda r: r.tr.metadata.generation or 0),
    Parameter("run_trigger", str, lambda r: r.trigger),
    Parameter("run_key", str, lambda r: r.run_key),
    Parameter("model_deployment", str, lambda r: r.spec.deploy.model_deployment or ""),
    Parameter("drift_method", str, lambda r: _drift(r).method if _drift(r) else "psi"),
    Parameter("drift_threshold", float, lambda r: _drift(r).threshold if _drift(r) else 0.2),
)


def arguments(run: Run) -> dict:
    """The values of one run, named as the pipeline's parameters."""
    return {p.name: p.value(run) for p in PARAMETERS}
