"""The operator's settings, from flags and environment (never from a spec)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlcd.home import mlcd_home

# kopf's finalizer under mlcd's name: only a TrainingRun with deletePolicy stopRuns (or a ModelDeployment) gets it.
FINALIZER = "mlcd.io/finalizer"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OperatorConfig:
    backend: str = "local"
    kfp_host: str = ""
    kfp_experiment: str = "mlcd"  # the experiment, in each namespace, that holds its runs
    kfp_service_account: str = ""  # the runs' ServiceAccount when a TrainingRun names none; empty: KFP's default
    kfp_ui_url: str = ""  # where the KFP UI is, for run links in status; empty: kfp_host
    namespaces: tuple[str, ...] = ()
    poll_seconds: float = 10.0
    home: Path = field(default_factory=mlcd_home)
    metrics_port: int = 0
    liveness_port: int = 0
    registry_base: str = ""  # where TrainingRuns without spec.registry.uri register: BASE/NAMESPACE/NAME
    max_runs_in_flight: int = 0  # pipeline runs in flight at once, cluster-wide; 0: no cap
    max_runs_in_flight_per_namespace: int = 0  # and per namespace; 0: no cap
    schedule_spread_seconds: int = 0  # scheduled triggers fire up to this much after their slot, fixed per object
    # The Secret with each namespace's storage settings, read through the API in that namespace.
    storage_secret: str = "mlcd-storage"
    # Development mode: the one namespace where file:// URIs are allowed, with the local backend only.
    local_namespace: str = ""
    # A blocking call made for a namespace (a stat, a Secret read, a champion write) gives up after this,
    # and a namespace holds at most `namespace_workers` of the operator's `workers` threads at once.
    call_timeout_seconds: float = 30.0
    workers: int = 16
    namespace_workers: int = 4
    # "now" for retraining (schedule slots, poll intervals, cooldowns): tests drive slots without waiting.
    clock: Callable[[], datetime] = field(default=utc_now, compare=False, repr=False)

    def default_registry_base(self, backend_name: str) -> str:
        """registry_base, else for the local backend a folder under home: where runs without
        spec.registry.uri register (BASE/NAMESPACE/NAME)."""
        if self.registry_base or backend_name != "local":
            return self.registry_base
        return (self.home / "registry").resolve().as_uri()

    @classmethod
    def from_env(cls, **overrides) -> OperatorConfig:
        namespaces = tuple(n for n in os.environ.get("MLCD_NAMESPACES", "").split(",") if n)
        values = {
            "backend": os.environ.get("MLCD_BACKEND", "local"),
            "kfp_host": os.environ.get("MLCD_KFP_HOST", ""),
            "kfp_experiment": os.environ.get("MLCD_KFP_EXPERIMENT", "mlcd"),
            "kfp_service_account": os.environ.get("MLCD_KFP_SERVICE_ACCOUNT", ""),
            "kfp_ui_url": os.environ.get("MLCD_KFP_UI_URL", ""),
            "namespaces": namespaces,
            "poll_seconds": float(os.environ.get("MLCD_POLL_SECONDS", "10")),
            "registry_base": os.environ.get("MLCD_REGISTRY_BASE", ""),
            "max_runs_in_flight": int(os.environ.get("MLCD_MAX_RUNS_IN_FLIGHT") or 0),
            "max_runs_in_flight_per_namespace": int(os.environ.get("MLCD_MAX_RUNS_IN_FLIGHT_PER_NAMESPACE") or 0),
            "schedule_spread_seconds": int(os.environ.get("MLCD_SCHEDULE_SPREAD_SECONDS") or 0),
            "storage_secret": os.environ.get("MLCD_STORAGE_SECRET", ""),
            "local_namespace": os.environ.get("MLCD_LOCAL_NAMESPACE", ""),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, (), "")})
        return cls(**{k: v for k, v in values.items() if v != ""})

    def file_uris_allowed(self, namespace: str) -> bool:
        """file:// names the operator pod's own files: only the local backend's development namespace,
        opted into explicitly, may use them (DESIGN.md, Tenancy and identity)."""
        return self.backend == "local" and bool(self.local_namespace) and namespace == self.local_namespace
