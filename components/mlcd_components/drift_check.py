"""drift: for a TrainingRun that watches for drift, how the data this run trains on compares with the
data the serving champion was trained on. A report for people (the KFP UI shows it); it gates nothing,
since the operator already decided to retrain."""


def report(dataset_path: str, registry_uri: str, method: str, threshold: float) -> tuple[str, str, str]:
    """(summary line, Markdown, HTML) of the drift against the champion's reference statistics."""
    import pandas as pd
    import pyarrow.parquet as pq

    from mlcd.drift import drift_report
    from mlcd.storage import StorageError, open_registry

    try:
        registry = open_registry(registry_uri)
        champion = registry.champion()
        reference = registry.metadata(champion["version"]).get("reference") if champion else None
    except StorageError as exc:
        return f"no drift report: {exc}", f"## Data drift\n\nNo report: {exc}\n", f"<p>No report: {exc}</p>"
    if not reference:
        line = "no champion with reference statistics yet: nothing to compare with"
        return line, f"## Data drift\n\n{line}\n", f"<p>{line}</p>"
    # Only the columns the reference describes: the data may hold many the model does not use.
    # When a feature is absent, all columns, so that the error lists what the data does hold.
    features = set(reference.get("features") or {})
    names = pq.read_schema(dataset_path).names
    wanted = {*features, (reference.get("label") or {}).get("name")}
    columns = [name for name in names if name in wanted] if features <= set(names) else names
    try:
        drift = drift_report(reference, pd.read_parquet(dataset_path, columns=columns), method, threshold)
    except ValueError as exc:
        line = f"no drift report: {exc}"
        return line, f"## Data drift\n\n{line}\n", f"<p>{line}</p>"
    return f"against champion v{champion['version']}: {drift.message()}", drift.to_markdown(), drift.to_html()


def record(dataset_path: str, registry_uri: str, champion_version: int, method: str, threshold: float,
           key: str) -> str:
    """The drift check the operator asked for (it never reads a tenant's data itself): the data against
    champion v``champion_version``'s reference statistics, its report and a small record at
    REGISTRY/drift/KEY, which the operator reads. Returns the summary line."""
    import pandas as pd

    from mlcd.drift import drift_report
    from mlcd.storage import StorageError, open_registry
    from mlcd_components.progress import StepError

    try:
        registry = open_registry(registry_uri)
        reference = registry.metadata(champion_version).get("reference")
        if not reference:
            raise StepError(f"spec.retrain.drift: the champion {registry.version_uri(champion_version)} has no "
                            "reference statistics (registered before mlcd recorded them)")
        try:
            drift = drift_report(reference, pd.read_parquet(dataset_path), method, threshold)
        except ValueError as exc:
            raise StepError(f"spec.retrain.drift.current: {exc}") from None
        report = registry.write_report(key, drift.to_markdown(), drift.to_html())
        registry.write_drift_record(key, {"championVersion": champion_version, "record": drift.record(),
                                          "report": report})
    except StorageError as exc:
        raise StepError(f"spec.retrain.drift: {exc}") from None
    return f"against champion v{champion_version}: {drift.message()}"
