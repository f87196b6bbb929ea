"""The operator's settings, from flags and environment (never from a spec)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlcd.home import mlcd_home


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
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, (), "")})
        return cls(**values)
