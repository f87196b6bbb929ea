"""metav1.Condition, and the status that holds them (one per type)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlcd.api.v1alpha1.base import StatusModel
from mlcd.api.v1alpha1.vocabulary import Status

# Every condition message mlcd writes fits in this many characters (metav1 allows 32768): a spec with
# thousands of problems must not make a status of megabytes, nor one the API server refuses.
CONDITION_MESSAGE_LIMIT = 4096


def truncate(text: str, limit: int = CONDITION_MESSAGE_LIMIT) -> str:
    """`text` cut to at most `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    marker = f"… [truncated {len(text) - limit} more characters]"
    cut = limit - len(marker)
    marker = f"… [truncated {len(text) - cut} more characters]"
    return text[:limit - len(marker)] + marker


class Condition(StatusModel):
    """The metav1.Condition shape, as kubebuilder and KServe write it."""

    type: str = Field(description="The condition's type, in CamelCase, e.g. Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024,
                        description="Why the condition is as it is, in one CamelCase word.")
    message: str = Field(default="", max_length=32768, description="The reason in words, for a person.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(default=None, ge=0, description=(
        "The metadata.generation the condition was set for."))


def _status_word(status: bool | str) -> str:
    if isinstance(status, bool):
        return Status.TRUE if status else Status.FALSE
    return status


def conditions_field(description: str):
    """status.conditions: one entry per type, a list-map keyed by type in the CRD (as metav1 lists are)."""
    return Field(default_factory=list, description=description,
                 json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})


class ConditionedStatus(StatusModel):
    """A status with conditions. Each status declares `conditions: list[Condition] = conditions_field(DESCRIPTION)`
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
        entry = Condition(type=type_, status=word, reason=reason, message=truncate(message),
                          last_transition_time=now if changed else previous.last_transition_time,
                          observed_generation=generation)
        others = [c for c in self.conditions if c.type != type_]
        self.conditions = sorted([*others, entry], key=lambda c: c.type)

    def drop_condition(self, type_: str) -> None:
        if self.condition(type_) is not None:
            self.conditions = [c for c in self.conditions if c.type != type_]
