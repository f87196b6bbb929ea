"""Parsing the storage URIs of DESIGN.md: builtin://NAME, file:///PATH, s3://BUCKET/KEY."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from mlcd import versions
from mlcd.storage.errors import StorageError

SCHEMES = ("builtin", "file", "s3")

# The S3 naming rules (3-63 chars, lowercase, digits, dots, hyphens) as every S3 and MinIO applies them.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Location:
    """A parsed URI. ``path`` is the builtin name, the absolute file path, or the S3 key/prefix."""

    uri: str
    scheme: str
    path: str
    bucket: str = ""


def parse_uri(uri: str) -> Location:
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES:
        raise StorageError(
            uri, f"unsupported scheme {parts.scheme!r}; expected one of builtin://, file://, s3://"
        )
    if parts.query or parts.fragment:
        raise StorageError(uri, "a storage URI takes no query string or fragment")
    if parts.scheme == "builtin":
        return Location(uri, "builtin", parts.netloc + parts.path.rstrip("/"))
    if parts.scheme == "file":
        return _parse_file(uri, parts.netloc, unquote(parts.path))
    return _parse_s3(uri, parts.netloc, unquote(parts.path))


def _parse_file(uri: str, host: str, path: str) -> Location:
    if host not in ("", "localhost"):
        raise StorageError(uri, "a file URI needs an absolute path: file:///PATH (three slashes)")
    if not path.startswith("/"):
        raise StorageError(uri, "a file URI needs an absolute path: file:///PATH")
    return Location(uri, "file", path.rstrip("/") or "/")


def _parse_s3(uri: str, bucket: str, path: str) -> Location:
    if not _BUCKET.match(bucket):
        raise StorageError(uri, f"{bucket!r} is not a valid bucket name (s3://BUCKET/KEY)")
    return Location(uri, "s3", path.strip("/"), bucket)


def join(uri: str, *names: str) -> str:
    return "/".join([uri.rstrip("/"), *names])


def split_version_uri(uri: str) -> tuple[str, int]:
    """``s3://models/iris/v3`` -> (``s3://models/iris``, 3)."""
    found = versions.split_version_uri(uri)
    if found is None:
        raise StorageError(uri, "not a model version URI; expected REGISTRY_URI/vN, e.g. s3://models/iris/v3")
    return found
