"""metav1.Condition, and the status that holds them (one per type)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlcd.api.v1alpha1.base import StatusModel
from mlcd.api.v1alpha1.vocabulary import Status


class Condition(StatusModel):
    """The metav1.Condition shape, as kubebuilder and KServe write it."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: str
    observed_generation: int | None = Field(default=None, ge=0)


def _status_word(status: bool | str) -> str:
    if isinstance(status, bool):
        return Status.TRUE if status else Status.FALSE
    return status


def conditions_field():
    """status.conditions: one entry per type, a list-map keyed by type in the CRD (as metav1 lists are)."""
    return Field(default_factory=list,
                 json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})


class ConditionedStatus(StatusModel):
    """A status with conditions. Each status declares `conditions: list[Condition] = conditions_field()`
    itself, where the field sits on the wire."""

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def is_true(self, type_: str) -> bool:
        found = self.condition(type_)
        return found is not None and found.status == Status.TRUE

    def set_condition(self, type_: str, status: bool | str, reason: str, message: str = "",
                      generation: int | None = None, *, now: str) -> None:
        """Set one condition; lastTransitionTime moves only when its status changes, so a reconcile
        that finds nothing new leaves the condition (and the object) untouched."""
        word = _status_word(status)
        previous = self.condition(type_)
        changed = previous is None or previous.status != word
        entry = Condition(type=type_, status=word, reason=reason, message=message,
                          last_transition_time=now if changed else previous.last_transition_time,
                          observed_generation=generation)
        others = [c for c in self.conditions if c.type != type_]
        self.conditions = sorted([*others, entry], key=lambda c: c.type)

    def drop_condition(self, type_: str) -> None:
        if self.condition(type_) is not None:
            self.conditions = [c for c in self.conditions if c.type != type_]
