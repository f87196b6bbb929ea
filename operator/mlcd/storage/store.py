"""The few object-store operations the registry needs, so that one registry serves file:// and s3://."""

from __future__ import annotations

import os
from typing import Protocol


class ObjectStore(Protocol):
    """Objects addressed by keys relative to a root URI (``"v3/model.joblib"``)."""

    uri: str

    def read_bytes(self, key: str, limit: int | None = None) -> bytes | None:
        """The object's content (its first ``limit`` bytes when given), or None when it does not exist."""

    def write_bytes(self, key: str, data: bytes) -> None:
        """Readers see the old content or the new, never a part."""

    def upload_file(self, key: str, path: str | os.PathLike) -> None:
        """Readers see the object only once it is complete."""

    def download_file(self, key: str, path: str | os.PathLike) -> None:
        """Copy the object to a local path; StorageError when it does not exist."""

    def keys(self) -> list[str]:
        """Every complete object under the root, as relative keys."""

    def claim(self, name: str) -> bool:
        """Take ``name`` for this caller alone: of all concurrent callers, across processes, at most one
        ever gets True for the same name."""

    def claims(self) -> set[str]:
        """Names claimed so far, whether or not their claimant finished."""
