"""Tenancy rules of a TrainingRun (DESIGN.md, "Tenancy and identity"), pure.

The operator acts for a namespace with that namespace's storage identity: a run that touches object
storage waits, with no run, until the namespace's storage Secret is there. file:// names the operator
pod's own files, so only the development namespace of the local backend may use it.
"""

from __future__ import annotations

from mlcd.api.v1alpha1.conditions import get_condition, set_condition
from mlcd.reconcile.trainingrun import Outcome

STORAGE_READY = "StorageReady"
SECRET_MISSING = "SecretMissing"
SECRET_FOUND = "SecretFound"
NO_OBJECT_STORAGE = "NoObjectStorage"


def uris(spec: dict, registry_uri: str | None) -> list[tuple[str, str]]:
    """(field path, URI) of everything a run of ``spec`` reads or writes; ``registry_uri``: the operator's
    default registry when the spec names none."""
    drift = ((spec.get("retrain") or {}).get("drift") or {}).get("current")
    found = [("spec.data.source", (spec.get("data") or {}).get("source")),
             ("spec.registry.uri", (spec.get("registry") or {}).get("uri") or registry_uri),
             ("spec.retrain.drift.current", drift)]
    return [(path, uri) for path, uri in found if isinstance(uri, str) and uri]


def file_refusals(spec: dict, registry_uri: str | None, *, allowed: bool) -> list[str]:
    """A problem per file:// URI, unless this namespace is the local backend's development namespace."""
    if allowed:
        return []
    return [f"{path}: {uri}: file:// names the operator's own files, so the operator refuses it; use s3:// "
            "(file:// is for `mlcd run` on one machine, or the local backend's development namespace)"
            for path, uri in uris(spec, registry_uri) if uri.startswith("file:")]


def needs_storage(spec: dict, registry_uri: str | None) -> bool:
    return any(uri.startswith("s3:") for _, uri in uris(spec, registry_uri))


def storage_waiting(status: dict, generation: int, reason: str, message: str) -> Outcome:
    """No run until the namespace's storage identity is usable; the next reconcile looks again."""
    conditions = set_condition(list(status.get("conditions") or []), STORAGE_READY, False, reason, message,
                               generation)
    conditions = set_condition(conditions, "Ready", False, reason, "waiting for the namespace's storage Secret",
                               generation)
    previous = get_condition(status.get("conditions") or [], STORAGE_READY) or {}
    events = [] if (previous.get("status"), previous.get("reason"), previous.get("message")) == (
        "False", reason, message) else [("Warning", reason, message[:1000])]
    return Outcome({"phase": "Pending", "message": message[:1000], "observedGeneration": generation,
                    "conditions": conditions}, events)


def storage_ready(conditions: list[dict], generation: int, secret: str | None) -> list[dict]:
    """StorageReady once the run may go: with the namespace's Secret, or needing no object storage."""
    if secret is None:
        return set_condition(conditions, STORAGE_READY, True, NO_OBJECT_STORAGE,
                             "the run touches no object storage", generation)
    return set_condition(conditions, STORAGE_READY, True, SECRET_FOUND,
                         f"Secret {secret} gives the run this namespace's storage identity", generation)
