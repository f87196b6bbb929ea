"""Tenancy rules of a TrainingRun (DESIGN.md, "Tenancy and identity"), pure; plan() applies them.

The operator acts for a namespace with that namespace's storage identity: a run that touches object
storage waits, with no run, until the namespace's storage Secret is there. file:// names the operator
pod's own files, so only the development namespace of the local backend may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlcd.api.v1alpha1.trainingrun import TrainingRunStatus
from mlcd.api.v1alpha1.vocabulary import Reason, Status, TrainingRunPhase
from mlcd.api.v1alpha1.vocabulary import TrainingRunCondition as Cond
from mlcd.reconcile.status import EVENT_MESSAGE_LIMIT, Event


def uris(spec: Mapping[str, Any], registry_uri: str | None) -> list[tuple[str, str]]:
    """(field path, URI) of everything a run of ``spec`` reads or writes; ``registry_uri``: the operator's
    default registry when the spec names none."""
    drift = ((spec.get("retrain") or {}).get("drift") or {}).get("current")
    found = [("spec.data.source", (spec.get("data") or {}).get("source")),
             ("spec.registry.uri", (spec.get("registry") or {}).get("uri") or registry_uri),
             ("spec.retrain.drift.current", drift)]
    return [(path, uri) for path, uri in found if isinstance(uri, str) and uri]


def file_refusals(spec: Mapping[str, Any], registry_uri: str | None, *, allowed: bool) -> list[str]:
    """A problem per file:// URI, unless this namespace is the local backend's development namespace."""
    return [f"{path}: {uri}: file:// names the operator's own files, so the operator refuses it; use s3:// "
            "(file:// is for `mlcd run` on one machine, or the local backend's development namespace)"
            for path, uri in uris(spec, registry_uri) if refused(uri, allowed=allowed)]


def refused(uri: str, *, allowed: bool) -> bool:
    return uri.startswith("file:") and not allowed


def needs_storage(spec: Mapping[str, Any], registry_uri: str | None) -> bool:
    return any(uri.startswith("s3:") for _, uri in uris(spec, registry_uri))


def storage_waiting(status: TrainingRunStatus, generation: int, reason: str, message: str, now: str) -> list[Event]:
    """No run until the namespace's storage identity is usable; the next reconcile looks again."""
    previous = status.condition(Cond.STORAGE_READY)
    events = []
    if previous is None or (previous.status, previous.reason, previous.message) != (Status.FALSE, reason, message):
        events.append(Event.warning(reason, message[:EVENT_MESSAGE_LIMIT]))
    status.set_condition(Cond.STORAGE_READY, False, reason, message, generation, now=now)
    status.set_condition(Cond.READY, False, reason, "waiting for the namespace's storage Secret", generation,
                         now=now)
    status.phase, status.message = TrainingRunPhase.PENDING, message[:EVENT_MESSAGE_LIMIT]
    status.observed_generation = generation
    return events


def storage_ready(status: TrainingRunStatus, generation: int, secret: str | None, now: str) -> None:
    """StorageReady once the run may go: with the namespace's Secret, or needing no object storage."""
    if secret is None:
        status.set_condition(Cond.STORAGE_READY, True, Reason.NO_OBJECT_STORAGE,
                             "the run touches no object storage", generation, now=now)
    else:
        status.set_condition(Cond.STORAGE_READY, True, Reason.SECRET_FOUND,
                             f"Secret {secret} gives the run this namespace's storage identity", generation, now=now)
