"""How a registry names its versions: REGISTRY/vN/, N counted from 1. Declared once: the registry writes
these folders, the champion and the model loader parse them."""

from __future__ import annotations

import re

_NUMBER = r"[1-9][0-9]*"
_FOLDER = re.compile(rf"^v(?P<version>{_NUMBER})$")
_URI = re.compile(rf"^(?P<registry>.+)/v(?P<version>{_NUMBER})/?$")


def version_folder(version: int) -> str:
    return f"v{version}"


def version_of_folder(name: str) -> int | None:
    """``v3`` -> 3; None for anything that is not a version folder (``v0``, ``v03``, ``latest``)."""
    match = _FOLDER.match(name)
    return int(match["version"]) if match else None


def split_version_uri(uri: str) -> tuple[str, int] | None:
    """``s3://models/iris/v3`` -> (``s3://models/iris``, 3); None when the URI names no version folder."""
    match = _URI.match(uri)
    return (match["registry"], int(match["version"])) if match else None
