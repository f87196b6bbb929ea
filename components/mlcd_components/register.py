"""register: a new version in the registry, with everything needed to trust and reproduce it."""

import platform

from mlcd_components.progress import StepError


def metadata(*, metrics: dict, gates: list, params: dict, estimator: str, preprocessing: dict, data: dict,
             signature: dict, reference: dict, run: dict, tuning: dict | None = None) -> dict:
    """reference: statistics of the training rows, what drift checks compare new data with (mlcd.drift).
    tuning: the search that chose params (best, score, metric, every trial), when there was one."""
    import sklearn

    import mlcd

    meta = {
        "estimator": estimator,
        "params": params,
        "preprocessing": preprocessing,
        "metrics": metrics,
        "gates": gates,
        "data": data,
        "signature": signature,
        "reference": reference,
        "run": run,
        "versions": {"python": platform.python_version(), "sklearn": sklearn.__version__,
                     "mlcd": mlcd.__version__},
    }
    if tuning:
        meta["tuning"] = tuning
    return meta


def run(model_path: str, registry_uri: str, meta: dict, promote: bool, run_key: str = "") -> tuple[str, int, str]:
    """The version's URI, number and model.joblib's sha256 (which the hand-off carries to the cluster)."""
    from mlcd.storage import StorageError, open_registry

    try:
        registry = open_registry(registry_uri)
        version = registry.register(model_path, meta)
        digest = version.metadata["model"]["sha256"]
        if promote:
            registry.set_champion(version.version, reason="passed every gate (no ModelDeployment to roll out)")
        if run_key:
            registry.write_run_record(run_key, {
                "phase": "Succeeded", "metrics": meta["metrics"], "gates": meta["gates"],
                "model": {"uri": version.uri, "version": version.version, "sha256": digest},
                "message": f"registered {version.uri}", **({"tuning": meta["tuning"]} if "tuning" in meta else {})})
    except StorageError as exc:
        raise StepError(f"spec.registry.uri: {exc}") from None
    return version.uri, version.version, digest


def record_rejection(registry_uri: str, run_key: str, metrics: dict, gates: list, tuning: dict | None = None) -> str:
    """A rejected run registers nothing, but its submitter still needs to know why."""
    from mlcd.storage import StorageError, open_registry

    message = "; ".join(g["message"] for g in gates if not g.get("passed"))
    if run_key and registry_uri:
        try:
            open_registry(registry_uri).write_run_record(
                run_key, {"phase": "Rejected", "metrics": metrics, "gates": gates, "message": message,
                          **({"tuning": tuning} if tuning else {})})
        except StorageError as exc:
            raise StepError(f"spec.registry.uri: {exc}") from None
    return message
