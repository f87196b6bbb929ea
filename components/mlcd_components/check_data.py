"""check-data: the data must be fit to train on before anything is trained; then split it."""

import json

from mlcd_components.progress import StepError


def select_features(columns: list[str], target: str, features: list[str]) -> list[str]:
    if target not in columns:
        raise StepError(f"spec.data.target: column {target!r} is not in the data; columns are {columns}")
    missing = [f for f in features if f not in columns]
    if missing:
        raise StepError(f"spec.data.features: {missing} not in the data; columns are {columns}")
    return list(features) or [c for c in columns if c != target]


def check(frame, target: str, features: list[str], checks: dict) -> list[str]:
    """Return lines of a report; raise StepError on the first rule the data breaks."""
    rows = len(frame)
    unlabelled = int(frame[target].isna().sum())
    if unlabelled:
        raise StepError(f"spec.data.target: column {target!r} has {unlabelled} rows without a label (NaN); "
                        "every row needs one: drop or fill them")
    min_rows = int(checks.get("minRows", 10))
    if rows < min_rows:
        raise StepError(f"spec.data.checks.minRows: the data has {rows} rows, fewer than {min_rows}")
    limit = float(checks.get("maxMissingFraction", 0.0))
    missing = frame[[*features, target]].isna().mean()
    worst = missing.idxmax()
    if missing[worst] > limit:
        raise StepError(
            f"spec.data.checks.maxMissingFraction: column {worst!r} has {missing[worst]:.1%} missing values,"
            f" above {limit:.1%}"
        )
    if frame[target].nunique() < 2:
        raise StepError(f"spec.data.target: column {target!r} has a single value; there is nothing to learn")
    return [
        f"| rows | {rows} |",
        f"| features | {len(features)} |",
        f"| most missing | {worst} ({missing[worst]:.1%}) |",
    ]


def run(dataset_path: str, target: str, features: list[str], checks: dict, test_fraction: float,
        seed: int, stratify: bool, train_path: str, test_path: str, report_path: str, reference_path: str,
        signature_path: str) -> None:
    """Split the data; write its input signature (JSON) to signature_path and the training rows' reference
    statistics (for drift checks against the model trained on them) to reference_path."""
    import pandas as pd
    import pyarrow.parquet as pq
    from sklearn.model_selection import train_test_split

    from mlcd.drift import reference

    chosen = select_features(pq.read_schema(dataset_path).names, target, features)
    frame = pd.read_parquet(dataset_path, columns=[*chosen, target])  # the columns the run uses, no others
    lines = check(frame, target, chosen, checks)
    counts = frame[target].value_counts()
    if stratify and counts.max() < 2:
        raise StepError(f"spec.data.target: each of the {len(counts)} classes of {target!r} has a single row; a "
                        "class needs at least two rows to be both learnt and tested")
    labels = frame[target] if stratify and counts.min() >= 2 else None
    try:
        train, test = train_test_split(frame, test_size=test_fraction,
                                       random_state=seed, stratify=labels)
    except ValueError as exc:
        raise StepError(f"spec.data.testFraction: cannot split {len(frame)} rows: {exc}") from None
    train.to_parquet(train_path, index=False)
    test.to_parquet(test_path, index=False)
    try:
        stats = reference(train, chosen, target, classifier=stratify, seed=seed)
    except ValueError as exc:  # a feature is described by its type; only a regression target can be no numbers
        raise StepError(f"spec.data.target: {exc}") from None
    with open(reference_path, "w") as fh:
        json.dump(stats, fh)
    with open(report_path, "w") as fh:
        fh.write("## Data check\n\n| check | value |\n|---|---|\n" + "\n".join(lines))
        fh.write(f"\n| train / test rows | {len(train)} / {len(test)} |\n")
    with open(signature_path, "w") as fh:
        json.dump(signature(frame, chosen), fh)


def signature(frame, features: list[str]) -> dict:
    return {"features": [{"name": f, "dtype": str(frame[f].dtype)} for f in features]}
