"""The pipeline's parameters, declared once: a name, a type and where a TrainingRun's value comes from.

The pipeline function's signature (pipeline.py) and the arguments of a run (compile.py) are both
made from this table, so a new spec field is one entry here plus its use in the pipeline and its step.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlcd import catalog
from mlcd.api.v1alpha1 import TrainingRun
from mlcd.api.v1alpha1.quantity import parse_quantity
from mlcd.api.v1alpha1.resources import STEP_DEFAULTS, TRAIN_DEFAULTS
from mlcd.compiler import tuning


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

    @functools.cached_property
    def resources(self) -> dict[str, dict[str, dict[str, str]]]:
        """Each group's cpu and memory requests and limits, its defaults filling what is left out."""
        return {group: getattr(self.spec.resources, group).effective(defaults) for group, defaults in GROUPS.items()}


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    value: Callable[[Run], Any]


def _kind(run: Run) -> str:
    return catalog.estimator_kind(run.spec.model.estimator) or "classifier"


def _drift(run: Run):
    return run.spec.retrain.drift if run.spec.retrain else None


_SPEC_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("data_source", str, lambda r: r.spec.data.source),
    Parameter("data_format", str, lambda r: r.spec.data.format or ""),
    Parameter("target", str, lambda r: r.spec.data.target),
    Parameter("features", list, lambda r: list(r.spec.data.features)),
    Parameter("test_fraction", float, lambda r: r.spec.data.test_fraction),
    Parameter("seed", int, lambda r: r.spec.data.seed),
    Parameter("checks", dict, lambda r: r.wire["data"]["checks"]),
    Parameter("estimator", str, lambda r: r.spec.model.estimator),
    Parameter("kind", str, lambda r: _kind(r)),
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


@functools.lru_cache(maxsize=256)
def kfp_cpu(text: str) -> str:
    """A cpu quantity as KFP's set_cpu_* take it: whole cores or millicores (rounded up)."""
    value = parse_quantity(text)
    if value == value.to_integral_value():
        return str(int(value))
    return f"{int((value * 1000).to_integral_value(rounding='ROUND_CEILING'))}m"


@functools.lru_cache(maxsize=256)
def kfp_memory(text: str) -> str:
    """A memory quantity as KFP's set_memory_* take it: digits and an optional unit, else bytes."""
    if re.fullmatch(r"[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?", text):
        return text
    return str(int(parse_quantity(text).to_integral_value(rounding="ROUND_CEILING")))


GROUPS = {"train": TRAIN_DEFAULTS, "steps": STEP_DEFAULTS}


def _quantity(group: str, kind: str, name: str, r: Run) -> str:
    """spec.resources.GROUP.KIND.NAME with the group's defaults, as KFP's setters take it."""
    value = r.resources[group][kind][name]
    return kfp_cpu(value) if name == "cpu" else kfp_memory(value)


def _accelerator(group: str, r: Run) -> tuple[str, int]:
    """(resource name, count) of the group's accelerator, ("", 0) without one."""
    return getattr(r.spec.resources, group).accelerator() or ("", 0)


def _jobs(r: Run) -> int:
    """Processes a tune step fits with: the whole cores it is guaranteed (its cpu request), at least 1."""
    return max(1, int(parse_quantity(r.resources["train"]["requests"]["cpu"])))


# Each value is computed when a run's arguments are, from the group, kind and name bound here.
RESOURCE_PARAMETERS: tuple[Parameter, ...] = tuple(
    p for group in GROUPS for p in (
        *(Parameter(f"{group}_{name}_{kind[:-1]}", str, functools.partial(_quantity, group, kind, name))
          for kind in ("requests", "limits") for name in ("cpu", "memory")),
        Parameter(f"{group}_accelerator_type", str, lambda r, group=group: _accelerator(group, r)[0]),
        Parameter(f"{group}_accelerator_count", str, lambda r, group=group: str(_accelerator(group, r)[1]))))

PLACEMENT_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("node_selector", dict, lambda r: dict(r.spec.node_selector)),
    Parameter("tolerations", list, lambda r: r.wire.get("tolerations", [])),
)

TUNING_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("tuning_chunks", list, lambda r: tuning.chunks(r.spec.tuning, r.spec.data.seed) if r.spec.tuning else []),
    Parameter("tuning_metric", str, lambda r: tuning.metric(r.spec.tuning, r.spec.gates, _kind(r))),
    Parameter("tuning_folds", int, lambda r: r.spec.tuning.folds if r.spec.tuning else 5),
    Parameter("tuning_jobs", int, _jobs),
)

PARAMETERS: tuple[Parameter, ...] = _SPEC_PARAMETERS + RESOURCE_PARAMETERS + PLACEMENT_PARAMETERS + TUNING_PARAMETERS


def arguments(run: Run) -> dict:
    """The values of one run, named as the pipeline's parameters."""
    return {p.name: p.value(run) for p in PARAMETERS}
