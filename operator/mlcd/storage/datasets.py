"""Reading a TrainingRun's data: builtin://NAME, file:///PATH, s3://BUCKET/KEY as CSV or Parquet."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Mapping
from importlib.metadata import version as installed_version
from pathlib import PurePosixPath
from stat import S_ISREG
from typing import TYPE_CHECKING

from mlcd.storage.errors import StorageError
from mlcd.storage.fingerprints import Fingerprint, sha256_file
from mlcd.storage.s3store import read_object, stat_fingerprint
from mlcd.storage.uri import Location, parse_uri

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
FORMATS = ("csv", "parquet")
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_dataset(uri: str, fmt: str | None = None) -> tuple[pd.DataFrame, Fingerprint]:
    """The data at ``uri`` and the fingerprint of exactly the bytes that were parsed."""
    location = parse_uri(uri)
    if location.scheme == "builtin":
        frame, print_ = _load_builtin(location), fingerprint(uri)
    else:
        fmt = data_format(_object_location(location), fmt)
        data, print_ = _read_bytes(location)
        frame = _parse(data, fmt, uri)
    log.info(
        "dataset read uri=%s rows=%d columns=%d fingerprint=%s", uri, len(frame), frame.shape[1], print_.value
    )
    return frame, print_


def fingerprint(uri: str) -> Fingerprint:
    """Cheap to compute: for S3 a stat, never a download, so that data-change triggers can poll it."""
    location = parse_uri(uri)
    if location.scheme == "builtin":
        _check_builtin(location)
        return Fingerprint("builtin", f"{location.path}@scikit-learn-{installed_version('scikit-learn')}")
    if location.scheme == "s3":
        return stat_fingerprint(_object_location(location))
    try:
        return Fingerprint("sha256", sha256_file(location.path))
    except OSError as exc:
        raise _file_error(uri, exc) from exc


def stat(uri: str, environ: Mapping[str, str] | None = None) -> Fingerprint:
    """What the operator polls for a data-change trigger: metadata only, never a byte of the data.

    s3: one HEAD with ``environ``'s settings (the namespace's Secret); file: the size and modification
    time of a regular file (a device such as /dev/zero is refused, it has no end to hash).
    """
    location = parse_uri(uri)
    if location.scheme == "s3":
        return stat_fingerprint(_object_location(location), environ)
    if location.scheme == "builtin":
        return fingerprint(uri)
    try:
        found = os.stat(location.path)
    except OSError as exc:
        raise _file_error(uri, exc) from exc
    if not S_ISREG(found.st_mode):
        raise StorageError(uri, "not a regular file")
    return Fingerprint("stat", f"{found.st_size}-{found.st_mtime_ns}")


def _object_location(location: Location) -> Location:
    if location.scheme == "s3" and not location.path:
        raise StorageError(location.uri, "names a bucket, not an object; expected s3://BUCKET/KEY")
    return location


def data_format(location: Location, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise StorageError(location.uri, f"unknown data format {fmt!r}; expected csv or parquet")
        return fmt
    suffix = PurePosixPath(location.path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise StorageError(
            location.uri,
            "cannot tell the format from the file name; name it .csv or .parquet, or set spec.data.format",
        )
    return _EXTENSIONS[suffix]


def _check_builtin(location: Location) -> None:
    if location.path not in BUILTIN_DATASETS:
        raise StorageError(
            location.uri,
            f"no builtin dataset {location.path!r}; expected one of {', '.join(BUILTIN_DATASETS)}",
        )


def _load_builtin(location: Location) -> pd.DataFrame:
    _check_builtin(location)
    # Imported here: scikit-learn's dataset loaders take a second to import and most reads never need them.
    from sklearn import datasets

    return getattr(datasets, f"load_{location.path}")(as_frame=True).frame


def _read_bytes(location: Location) -> tuple[bytes, Fingerprint]:
    if location.scheme == "s3":
        return read_object(location)
    return _read_file(location)


def _read_file(location: Location) -> tuple[bytes, Fingerprint]:
    try:
        with open(location.path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise _file_error(location.uri, exc) from exc
    return data, Fingerprint("sha256", hashlib.sha256(data).hexdigest())


def _file_error(uri: str, exc: OSError) -> StorageError:
    if isinstance(exc, FileNotFoundError):
        return StorageError(uri, "no such file")
    return StorageError(uri, f"cannot read: {exc.strerror}")


def _parse(data: bytes, fmt: str, uri: str) -> pd.DataFrame:
    # pandas and pyarrow only where data is read: the operator stats objects and must not pay for them.
    import pandas as pd
    import pyarrow

    if not data.strip():
        raise StorageError(uri, f"the {fmt} file is empty")
    try:
        if fmt == "csv":
            return pd.read_csv(io.BytesIO(data), low_memory=False)
        return pd.read_parquet(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError, pyarrow.ArrowException) as exc:
        # pandas' ParserError and EmptyDataError are ValueErrors; their first line says where it broke.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(uri, f"not a valid {fmt} file: {reason}") from exc
