"""Where and how long the pipeline's steps run: resources, accelerator, node placement and timeouts.

Names follow the Pod spec's (`requests`, `limits`, `nodeSelector`, `tolerations`), and an accelerator
is an extended resource under `limits`, as Kubernetes has it (`nvidia.com/gpu: 1`). Every step has a
bound by default: a key left out takes the default of its group.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from mlcd.api.v1alpha1.base import SpecModel
from mlcd.api.v1alpha1.fields import Quantity
from mlcd.api.v1alpha1.quantity import parse_quantity

BASIC = ("cpu", "memory")
_QUALIFIED = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

TRAIN_DEFAULTS = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
STEP_DEFAULTS = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}}


class StepResources(SpecModel):
    """Requests and limits of a group of steps (a container's `resources`).

    The CRD refuses an accelerator under `requests` and a second one under `limits` too (CEL rules on the
    two maps). The other checks below are the operator's only (`mlcd validate`, and the operator before a
    run): requests not above limits would need Kubernetes' quantity() CEL library, which cel-python, the
    CEL the tests check the rules with, lacks; so are an accelerator's domain and whole count.
    """

    requests: dict[str, Quantity] = Field(
        default_factory=dict, description="cpu and memory each step of the group is given, e.g. cpu: 500m, "
                                          "memory: 1Gi. Keys left out take the group's default.",
        json_schema_extra={"x-kubernetes-validations": [
            {"rule": "self.all(name, name == 'cpu' || name == 'memory')",
             "message": "only cpu and memory are requested; an accelerator goes under limits"}]})
    limits: dict[str, Quantity] = Field(
        default_factory=dict, description="Most each step may use: cpu, memory, and at most one accelerator as "
                                          "an extended resource with a whole count (nvidia.com/gpu: 1). Keys "
                                          "left out take the group's default.",
        # Counted, not filtered: the API server costs a rule over a map by the most keys a request could hold.
        json_schema_extra={"x-kubernetes-validations": [
            {"rule": "self.size() - ('cpu' in self ? 1 : 0) - ('memory' in self ? 1 : 0) <= 1",
             "message": "one accelerator per step"}]})

    @model_validator(mode="after")
    def _kubernetes_rules(self):
        for name in self.requests:
            if name not in BASIC:
                raise ValueError(f"requests.{name}: only cpu and memory are requested; an accelerator goes under "
                                 "limits")
        extended = [name for name in self.limits if name not in BASIC]
        if len(extended) > 1:
            raise ValueError(f"limits: one accelerator per step, got {', '.join(extended)}")
        for name in extended:
            if "/" not in name or not _QUALIFIED.match(name):
                raise ValueError(f"limits.{name}: an accelerator is a resource name with a domain, "
                                 "e.g. nvidia.com/gpu")
            count = parse_quantity(str(self.limits[name]))
            if count != count.to_integral_value() or count < 1:
                raise ValueError(f"limits.{name}: an accelerator count is a whole number of at least 1")
        for name in BASIC:
            if name in self.requests and name in self.limits and \
                    parse_quantity(str(self.requests[name])) > parse_quantity(str(self.limits[name])):
                raise ValueError(f"requests.{name} {self.requests[name]} is above limits.{name} "
                                 f"{self.limits[name]}")
        return self

    def accelerator(self) -> tuple[str, int] | None:
        """(resource name, count) of the accelerator, or None."""
        for name, value in self.limits.items():
            if name not in BASIC:
                return name, int(parse_quantity(str(value)))
        return None

    def effective(self, defaults: dict) -> dict[str, dict[str, str]]:
        """cpu and memory requests and limits, the group's defaults filling what is left out.

        A default never contradicts what was given: a missing limit is at least the request, a missing
        request at most the limit (as the API server's own defaulting keeps requests <= limits).
        """
        out: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
        for name in BASIC:
            request, limit = self.requests.get(name), self.limits.get(name)
            if limit is None:
                limit = defaults["limits"][name]
                if request is not None and parse_quantity(str(request)) > parse_quantity(limit):
                    limit = request
            if request is None:
                request = defaults["requests"][name]
                if parse_quantity(request) > parse_quantity(str(limit)):
                    request = limit
            out["requests"][name], out["limits"][name] = str(request), str(limit)
        return out


class ResourcesSpec(SpecModel):
    train: StepResources = Field(
        default_factory=StepResources,
        description="The train step and the tuning trials. Defaults: requests cpu 1, memory 1Gi; limits cpu 2, "
                    "memory 4Gi.")
    steps: StepResources = Field(
        default_factory=StepResources,
        description="Every other step. Defaults: requests cpu 250m, memory 512Mi; limits cpu 1, memory 2Gi.")


class Toleration(SpecModel):
    """A Pod toleration: lets the steps run on nodes with a matching taint."""

    model_config = SpecModel.model_config | {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "has(self.key) || self.operator == 'Exists'",
         "message": "a toleration without a key needs operator Exists"},
        {"rule": "self.operator != 'Exists' || !has(self.value) || self.value == ''",
         "message": "a toleration with operator Exists takes no value", "fieldPath": ".value"},
        {"rule": "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
         "message": "tolerationSeconds applies to effect NoExecute only", "fieldPath": ".tolerationSeconds"},
    ]}}

    key: str | None = Field(default=None, description="The taint key; empty with operator Exists matches all.")
    operator: Literal["Equal", "Exists"] = Field(
        default="Equal", description="Equal (key and value; the default) or Exists (the key alone).")
    value: str | None = Field(default=None, description="The taint value; empty when operator is Exists.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="The taint effect to match; empty matches all.")
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="With effect NoExecute: seconds the step stays after the taint appears.")

    @model_validator(mode="after")
    def _consistent(self):
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator Exists")
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies to effect NoExecute only")
        return self


class TimeoutsSpec(SpecModel):
    """How long things may take, in seconds; nothing runs unbounded."""

    train_seconds: int = Field(default=7200, ge=1, le=7 * 86400,
                               description="Each train and tuning step (the Pod's activeDeadlineSeconds). "
                                           "Default 7200.")
    step_seconds: int = Field(default=1800, ge=1, le=7 * 86400,
                              description="Each other step (the Pod's activeDeadlineSeconds). Default 1800.")
    run_seconds: int = Field(default=14400, ge=1, le=30 * 86400,
                             description="The whole pipeline run; the operator stops a run past it (phase "
                                         "Failed, reason DeadlineExceeded). Default 14400.")


def _node_selector(selector: dict[str, str]) -> dict[str, str]:
    """Labels as the API server checks them: a qualified key and a label value."""
    for key, value in selector.items():
        if not _QUALIFIED.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
            raise ValueError(f"{key!r} is not a label key (prefix/name, e.g. kubernetes.io/arch)")
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise ValueError(f"{key}: {value!r} is not a label value")
    return selector


NodeSelector = Annotated[dict[str, str], AfterValidator(_node_selector)]
