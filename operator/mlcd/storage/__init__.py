"""Object-store access for mlcd: datasets, the model registry and its champion.

Every ``s3://`` URI is reached through the ``minio`` client with the settings of a Secret's keys: the
process's environment in a pipeline step or the CLI, a namespace's Secret passed as ``environ`` by the
operator (see :mod:`mlcd.storage.s3`); ``file://`` works the same way on a laptop.
"""

from mlcd.storage.datasets import BUILTIN_DATASETS, fingerprint, read_dataset, stat
from mlcd.storage.errors import StorageError
from mlcd.storage.fingerprints import Fingerprint
from mlcd.storage.registry import (
    RegisteredVersion,
    Registry,
    load_verified,
    open_registry,
    read_version_metadata,
    resolve_model_dir,
)

__all__ = [
    "BUILTIN_DATASETS",
    "Fingerprint",
    "RegisteredVersion",
    "Registry",
    "StorageError",
    "fingerprint",
    "load_verified",
    "open_registry",
    "read_dataset",
    "read_version_metadata",
    "resolve_model_dir",
    "stat",
]
