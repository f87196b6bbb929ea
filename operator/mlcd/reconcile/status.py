"""Status as it goes onto the wire: Events, and the JSON merge patches that write a whole status.

Both reconcilers decide a whole new status (a typed model) and hand it to one writer
(mlcd.handlers.status), which sends ``status_patch(previous, new)``: the new status in full, so
that a write the API server lost heals on the next, and a null for every field the new status
no longer has, at every depth, because a merge patch keeps what it does not mention.
"""

from __future__ import annotations

from typing import NamedTuple

from mlcd.api.v1alpha1.base import StatusModel
from mlcd.api.v1alpha1.vocabulary import EventType

EVENT_MESSAGE_LIMIT = 1000  # characters of an Event message or a status message mlcd writes


class Event(NamedTuple):
    """A Kubernetes Event to post on the object: (type, reason, message), reason from the vocabulary."""

    type: str
    reason: str
    message: str

    @classmethod
    def normal(cls, reason: str, message: str) -> Event:
        return cls(EventType.NORMAL, reason, message[:EVENT_MESSAGE_LIMIT])

    @classmethod
    def warning(cls, reason: str, message: str) -> Event:
        return cls(EventType.WARNING, reason, message[:EVENT_MESSAGE_LIMIT])


def clean(value):
    """Without the nulls that merge patches leave in what the operator remembers writing."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def merge_patch(old: dict | None, new: dict) -> dict:
    """`new` as a JSON merge patch over `old`: a key `new` lacks is sent as null, at every depth, or the
    API server would keep it (a merge patch merges objects and replaces only lists)."""
    out = dict(new)
    for key, value in (old or {}).items():
        if new.get(key) is None:
            out[key] = None
        elif isinstance(value, dict) and isinstance(new[key], dict):
            out[key] = merge_patch(value, new[key])
    return out


def status_patch(previous: StatusModel | dict | None, new: StatusModel) -> dict:
    """The merge patch that makes the stored status exactly `new`."""
    before = previous.to_wire() if isinstance(previous, StatusModel) else clean(previous or {})
    return merge_patch(before, new.to_wire())


def changed(previous: StatusModel, new: StatusModel) -> bool:
    return previous.to_wire() != new.to_wire()
