"""metav1.Condition, and the one function that sets a condition."""

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from mlcd.api.v1alpha1.base import StatusModel


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


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: list[dict],
    type_: str,
    status: bool | str,
    reason: str,
    message: str = "",
    generation: int | None = None,
    now: str | None = None,
) -> list[dict]:
    """Return a new conditions list with one entry per type.

    lastTransitionTime moves only when the status changes, so that a reconcile that
    finds nothing new leaves the condition (and the object) untouched.
    """
    if isinstance(status, bool):
        status = "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != status
    entry = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": (now or now_rfc3339()) if changed else previous["lastTransitionTime"],
    }
    if generation is not None:
        entry["observedGeneration"] = generation
    others = [c for c in conditions if c.get("type") != type_]
    return sorted([*others, entry], key=lambda c: c["type"])


def get_condition(conditions: list[dict], type_: str) -> dict | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: list[dict], type_: str) -> bool:
    found = get_condition(conditions, type_)
    return bool(found and found.get("status") == "True")
