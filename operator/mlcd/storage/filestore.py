"""file:// storage for laptops: a directory tree, written with temp file + rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mlcd.storage.errors import StorageError
from mlcd.storage.uri import join

_TEMP_PREFIX = ".tmp-"


class FileStore:
    def __init__(self, uri: str, root: str | os.PathLike):
        self.uri = uri.rstrip("/")
        self.root = Path(root)

    def read_bytes(self, key: str, limit: int | None = None) -> bytes | None:
        try:
            with open(self.root / key, "rb") as stream:
                return stream.read(-1 if limit is None else limit)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(join(self.uri, key), f"cannot read: {exc.strerror}") from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        self._replace(key, lambda out: out.write(data))

    def upload_file(self, key: str, path: str | os.PathLike) -> None:
        def copy(out):
            with open(path, "rb") as source:
                shutil.copyfileobj(source, out)

        self._replace(key, copy)

    def download_file(self, key: str, path: str | os.PathLike) -> None:
        try:
            shutil.copyfile(self.root / key, path)
        except FileNotFoundError as exc:
            raise StorageError(join(self.uri, key), "does not exist") from exc
        except OSError as exc:
            raise StorageError(join(self.uri, key), f"cannot read: {exc.strerror}") from exc

    def keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX)
        )

    def claim(self, name: str) -> bool:
        # mkdir is atomic on every local and network file system: exactly one caller creates the directory.
        self._makedirs(self.root)
        try:
            (self.root / name).mkdir()
        except FileExistsError:
            return False
        except OSError as exc:
            raise StorageError(join(self.uri, name), f"cannot create: {exc.strerror}") from exc
        return True

    def claims(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {path.name for path in self.root.iterdir() if path.is_dir()}

    def _replace(self, key: str, write) -> None:
        """Write to a temp file in the target's own directory, then rename over the target: a rename
        within one file system is atomic, so a reader (or a crash) never sees half a file."""
        target = self.root / key
        self._makedirs(target.parent)
        try:
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX)
        except OSError as exc:
            raise StorageError(join(self.uri, key), f"cannot write: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException as exc:
            Path(temp).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(join(self.uri, key), f"cannot write: {exc.strerror}") from exc
            raise

    def _makedirs(self, path: Path) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(self.uri, f"cannot create directory {path}: {exc.strerror}") from exc
