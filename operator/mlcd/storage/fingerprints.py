"""What identifies the exact bytes a run read, so that a run records which data it trained on."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import BinaryIO

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    kind: str  # "etag" | "sha256" | "builtin"
    value: str
    version_id: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path) -> str:
    with open(path, "rb") as stream:
        return sha256_stream(stream)
