"""s3:// storage through the minio client: dataset objects and the registry's object store."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from mlcd.storage.errors import StorageError
from mlcd.storage.fingerprints import Fingerprint
from mlcd.storage.s3 import S3Client, client_from_env, s3_error
from mlcd.storage.uri import Location, join

log = logging.getLogger(__name__)

CLAIMS = ".claims"
_MAX_CLAIM_BACKOFF_SECONDS = 0.05


def read_object(location: Location) -> tuple[bytes, Fingerprint]:
    """The object's bytes and the ETag (and version id) of exactly those bytes, from one GET."""
    s3 = client_from_env(location.uri)
    with s3.errors(location.uri):
        response = s3.minio.get_object(location.bucket, location.path)
        try:
            headers = response.headers
            data = response.read()
        finally:
            response.close()
            response.release_conn()
    return data, _fingerprint(headers.get("etag", ""), headers.get("x-amz-version-id"))


def stat_fingerprint(location: Location, environ: Mapping[str, str] | None = None) -> Fingerprint:
    """One HEAD request: cheap enough for a data-change trigger to poll."""
    s3 = client_from_env(location.uri, environ)
    with s3.errors(location.uri):
        try:
            stat = s3.minio.stat_object(location.bucket, location.path)
        except s3_error() as exc:
            # A HEAD answer has no body, so a missing bucket looks like a missing object: ask which.
            if exc.code == "NoSuchKey" and not s3.minio.bucket_exists(location.bucket):
                raise StorageError(location.uri, f"bucket {location.bucket!r} does not exist") from None
            raise
    return _fingerprint(stat.etag or "", stat.version_id)


def _fingerprint(etag: str, version_id: str | None) -> Fingerprint:
    # "null" is how S3 names the version of an object written while versioning was off: no version at all.
    return Fingerprint("etag", etag.strip('"'), None if version_id in (None, "", "null") else version_id)


class S3Store:
    """The registry's object store on a bucket and prefix.

    Every write is one PUT (or one multipart upload, completed in a single call), and S3 makes an
    object visible only once its upload has completed, so readers never see part of a file.
    """

    def __init__(self, uri: str, s3: S3Client, bucket: str, prefix: str):
        self.uri = uri.rstrip("/")
        self._s3 = s3
        self._bucket = bucket
        self._prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""

    @classmethod
    def from_location(cls, location: Location, environ: Mapping[str, str] | None = None) -> S3Store:
        """environ: the storage settings to use (a namespace's Secret); None: this process's environment."""
        return cls(location.uri, client_from_env(location.uri, environ), location.bucket, location.path)

    def read_bytes(self, key: str, limit: int | None = None) -> bytes | None:
        with self._s3.errors(join(self.uri, key)):
            try:
                # A Range GET when limited: the server sends no more than asked for.
                response = self._s3.minio.get_object(self._bucket, self._prefix + key, length=limit or 0)
            except s3_error() as exc:
                if exc.code == "NoSuchKey":
                    return None
                raise
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def write_bytes(self, key: str, data: bytes) -> None:
        with self._s3.errors(join(self.uri, key)):
            self._s3.minio.put_object(self._bucket, self._prefix + key, io.BytesIO(data), len(data))

    def upload_file(self, key: str, path: str | os.PathLike) -> None:
        with self._s3.errors(join(self.uri, key)):
            self._s3.minio.fput_object(self._bucket, self._prefix + key, os.fspath(path))

    def download_file(self, key: str, path: str | os.PathLike) -> None:
        with self._s3.errors(join(self.uri, key)):
            self._s3.minio.fget_object(self._bucket, self._prefix + key, os.fspath(path))

    def keys(self) -> list[str]:
        return self._list(self._prefix)

    def claims(self) -> set[str]:
        return {key.split("/", 1)[0] for key in self._list(f"{self._prefix}{CLAIMS}/")}

    def claim(self, name: str) -> bool:
        """Claim ``name`` with a claim object of our own, then list every claim object for ``name``: we
        hold it only if ours is the only one. S3 lists strongly consistently (AWS since 2020, MinIO,
        SeaweedFS's filer), so of two claimants the one that lists second sees the other's claim object,
        which was written before the first one listed: two claimants can both lose, never both win. A
        loser takes its claim object back, so that the name stays free for the next round; a winner's
        claim object stays forever, which is what keeps a version from ever being reused.

        A conditional PUT (If-None-Match: *) would do in one request, and SeaweedFS honours it, but not
        every S3-compatible store does (it came to AWS S3 only in 2024), one that ignores it would hand
        the same version to two writers without a word, and minio-py has no public way to send it.
        """
        claims_prefix = f"{self._prefix}{CLAIMS}/{name}/"
        mine = f"{claims_prefix}{uuid.uuid4().hex}"
        uri = join(self.uri, CLAIMS, name)
        note = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "at": datetime.now(UTC).isoformat()}
        )
        with self._s3.errors(uri):
            self._s3.minio.put_object(self._bucket, mine, io.BytesIO(note.encode()), len(note))
            rivals = [key for key in self._list(claims_prefix) if claims_prefix + key != mine]
            if not rivals:
                return True
            self._s3.minio.remove_object(self._bucket, mine)
        # Claimants that collided would collide again in lockstep without a random pause.
        time.sleep(random.uniform(0, _MAX_CLAIM_BACKOFF_SECONDS))
        return False

    def _list(self, prefix: str) -> list[str]:
        with self._s3.errors(self.uri):
            return [
                obj.object_name[len(prefix) :]
                for obj in self._s3.minio.list_objects(self._bucket, prefix=prefix, recursive=True)
                if not obj.is_dir
            ]
