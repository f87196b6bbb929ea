"""ingest: read the data the spec names and keep an exact copy for the run."""

import json

from mlcd_components.progress import StepError


def run(source: str, data_format: str, out_path: str) -> str:
    """Write the dataset to out_path as Parquet and return its fingerprint as JSON."""
    from mlcd.storage import StorageError, read_dataset

    try:
        frame, fingerprint = read_dataset(source, data_format or None)
    except StorageError as exc:
        raise StepError(f"spec.data.source: {exc}") from None
    if frame.empty:
        raise StepError(f"spec.data.source: {source} holds no rows")
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(out_path, index=False)
    return json.dumps({"uri": source, "rows": len(frame), **fingerprint.as_dict()}, sort_keys=True)
