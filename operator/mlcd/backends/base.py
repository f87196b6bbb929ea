"""What the operator needs of a place that runs pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"})


class BackendUnavailable(Exception):
    """The backend could not be reached or answered 5xx/429: try again later."""


class BackendError(Exception):
    """The backend refused the request: retrying the same request will not help."""


class AccessDenied(BackendError):
    """The backend does not let the operator in (KFP's 401/403): a token or a RoleBinding is missing.
    The message names the missing piece; fixing it is outside the spec, so the operator tries again later."""


@dataclass(frozen=True)
class Placement:
    """Where a TrainingRun's runs go: its namespace and the ServiceAccount its steps run as (empty: the
    backend's default)."""

    namespace: str
    service_account: str = ""


@dataclass(frozen=True)
class RunRef:
    name: str
    run_id: str
    url: str = ""
    adopted: bool = False


@dataclass(frozen=True)
class RunState:
    """A run as the backend sees it; `result` once it has finished (phase, metrics, gates, model)."""

    run_id: str
    state: str  # KFP's RuntimeState: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, ...
    message: str = ""
    result: dict = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class Backend(Protocol):
    """Synchronous on purpose (the kfp client is): the operator calls it from a thread."""

    name: str

    def find(self, run_name: str, place: Placement | None = None) -> RunRef | None: ...

    def submit(self, run_name: str, document: dict, arguments: dict, labels: dict,
               place: Placement | None = None) -> RunRef: ...

    def get(self, ref: RunRef) -> RunState: ...

    def stop(self, ref: RunRef) -> None: ...
