"""The model registry of DESIGN.md: URI/vN/model.joblib, URI/vN/metadata.json, URI/champion.json."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlcd.storage.errors import StorageError
from mlcd.storage.filestore import FileStore
from mlcd.storage.fingerprints import sha256_file
from mlcd.storage.s3store import S3Store
from mlcd.storage.store import ObjectStore
from mlcd.storage.uri import join, parse_uri, split_version_uri
from mlcd.timestamps import now_rfc3339
from mlcd.versions import version_folder, version_of_folder

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
CHAMPION_FILE = "champion.json"

_MAX_ALLOCATION_ATTEMPTS = 50
MAX_METADATA_BYTES = 4 << 20  # metadata.json holds metrics, signature and per-feature statistics: kilobytes


@dataclass(frozen=True)
class RegisteredVersion:
    version: int
    uri: str
    metadata: dict


class Registry:
    def __init__(self, uri: str, store: ObjectStore):
        self.uri = uri.rstrip("/")
        self._store = store

    def __repr__(self) -> str:
        return f"Registry({self.uri!r})"

    def version_uri(self, version: int) -> str:
        return join(self.uri, version_folder(version))

    def versions(self) -> list[int]:
        """Complete versions only: a version whose metadata.json (written last) is not there yet, or
        whose registration died half-way, is not one."""
        found: dict[int, set[str]] = {}
        for key in self._store.keys():
            if version := _version_file(key):
                found.setdefault(version[0], set()).add(version[1])
        return sorted(version for version, files in found.items() if files == {MODEL_FILE, METADATA_FILE})

    def register(self, model_path: str | os.PathLike, metadata: dict) -> RegisteredVersion:
        _to_json(metadata)  # refuse metadata that cannot be stored before a version number is spent on it
        digest = _sha256_of_model(model_path)
        version = self._allocate()
        uri = self.version_uri(version)
        record = {
            **metadata,
            "version": version,
            "uri": uri,
            "registeredAt": now_rfc3339(),
            "model": {**metadata.get("model", {}), "sha256": digest, "file": MODEL_FILE},
        }
        self._store.upload_file(f"{version_folder(version)}/{MODEL_FILE}", model_path)
        self._store.write_bytes(f"{version_folder(version)}/{METADATA_FILE}", _to_json(record))
        log.info("model registered registry=%s version=%d sha256=%s", self.uri, version, digest)
        return RegisteredVersion(version, uri, record)

    def metadata(self, version: int) -> dict:
        data = self._store.read_bytes(f"{version_folder(version)}/{METADATA_FILE}")
        if data is None or version not in self.versions():
            raise StorageError(self.version_uri(version), "no such model version (absent or incomplete)")
        return _from_json(data, join(self.version_uri(version), METADATA_FILE))

    def bounded_metadata(self, version: int, max_bytes: int) -> dict:
        """metadata.json of ``version`` from one GET of at most ``max_bytes`` (+1, to tell a larger file)."""
        where = join(self.version_uri(version), METADATA_FILE)
        data = self._store.read_bytes(f"v{version}/{METADATA_FILE}", limit=max_bytes + 1)
        if data is None:
            raise StorageError(where, "not found: no such model version")
        if len(data) > max_bytes:
            raise StorageError(where, f"larger than {max_bytes} bytes; not read")
        return _from_json(data, where)

    def load_model(self, version: int, expected_sha256: str | None = None):
        """Unpickle a model only after its bytes match the sha256 recorded at registration, and the one
        the caller carries (``expected_sha256``, e.g. from the ModelDeployment) when it has one: unpickling
        runs arbitrary code, so a tampered or truncated file must never reach joblib.load."""
        recorded = self.metadata(version).get("model", {}).get("sha256")
        model_uri = join(self.version_uri(version), MODEL_FILE)
        with tempfile.TemporaryDirectory(prefix="mlcd-model-") as scratch:
            local = Path(scratch) / MODEL_FILE
            self._store.download_file(f"{version_folder(version)}/{MODEL_FILE}", local)
            return load_verified(local, model_uri, recorded=recorded, expected=expected_sha256)

    def champion(self) -> dict | None:
        data = self._store.read_bytes(CHAMPION_FILE)
        return None if data is None else _from_json(data, join(self.uri, CHAMPION_FILE))

    def set_champion(self, version: int, reason: str) -> dict:
        if version not in self.versions():
            raise StorageError(self.version_uri(version), "cannot promote: no such complete model version")
        uri = self.version_uri(version)
        record = {"version": version, "uri": uri, "promotedAt": now_rfc3339(), "reason": reason}
        self._store.write_bytes(CHAMPION_FILE, _to_json(record))
        log.info("champion set registry=%s version=%d reason=%s", self.uri, version, reason)
        return record

    def write_run_record(self, run_key: str, record: dict) -> None:
        """What a pipeline run decided (phase, metrics, gates, model), for whoever submitted it.

        KFP's run API reports a run's state but not its outputs: the operator reads this instead.
        """
        if not _RUN_KEY.match(run_key):
            raise StorageError(self.uri, f"run key {run_key!r} is not a plain name")
        self._store.write_bytes(f"runs/{run_key}.json", _to_json({**record, "recordedAt": now_rfc3339()}))

    def write_report(self, name: str, markdown: str, html: str) -> str:
        """REGISTRY/drift/NAME.md and .html, for a person to open; the versions are untouched."""
        if not _RUN_KEY.match(name):
            raise StorageError(self.uri, f"report name {name!r} is not a plain name")
        self._store.write_bytes(f"drift/{name}.md", markdown.encode())
        self._store.write_bytes(f"drift/{name}.html", html.encode())
        return join(self.uri, f"drift/{name}.html")

    def write_drift_record(self, name: str, record: dict) -> None:
        """REGISTRY/drift/NAME.json: what a drift check found, for the operator that asked for it."""
        if not _RUN_KEY.match(name):
            raise StorageError(self.uri, f"drift record name {name!r} is not a plain name")
        self._store.write_bytes(f"drift/{name}.json", _to_json({**record, "recordedAt": now_rfc3339()}))

    def drift_record(self, name: str) -> dict | None:
        """The record of drift check NAME, or None while there is none. Refused when larger than a record
        can be: the bucket is the tenant's, and the operator reads it."""
        if not _RUN_KEY.match(name):
            return None
        return self._record(f"drift/{name}.json")

    def run_record(self, run_key: str) -> dict | None:
        if not _RUN_KEY.match(run_key):
            return None
        return self._record(f"runs/{run_key}.json")

    def _record(self, key: str) -> dict | None:
        """A record a pipeline step left for the operator: one GET of at most _MAX_RECORD_BYTES (+1, to tell a
        larger object), since the bucket is the tenant's."""
        data = self._store.read_bytes(key, limit=_MAX_RECORD_BYTES + 1)
        if data is not None and len(data) > _MAX_RECORD_BYTES:
            raise StorageError(join(self.uri, key), f"larger than {_MAX_RECORD_BYTES} bytes; not read")
        return None if data is None else _from_json(data, join(self.uri, key))

    def _allocate(self) -> int:
        """The next version number, taken through the store's claim so that concurrent registrations,
        in any process, never share one. A number once claimed is never handed out again, even when
        its claimant died: that is what keeps versions from ever being overwritten."""
        for _ in range(_MAX_ALLOCATION_ATTEMPTS):
            taken = {n for name in self._store.claims() if (n := version_of_folder(name))}
            taken |= {version[0] for key in self._store.keys() if (version := _version_file(key))}
            candidate = max(taken, default=0) + 1
            if self._store.claim(version_folder(candidate)):
                return candidate
            log.debug("version taken concurrently registry=%s version=%d", self.uri, candidate)
        raise StorageError(self.uri, f"could not allocate a version in {_MAX_ALLOCATION_ATTEMPTS} attempts")


_RUN_KEY = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}$")
_MAX_RECORD_BYTES = 1024 * 1024


def open_registry(uri: str, environ: Mapping[str, str] | None = None) -> Registry:
    """environ: the S3 settings to reach it with (the operator passes a namespace's Secret); None: this
    process's environment (a pipeline step, the CLI)."""
    location = parse_uri(uri)
    if location.scheme == "file":
        return Registry(uri, FileStore(uri, location.path))
    if location.scheme == "s3":
        return Registry(uri, S3Store.from_location(location, environ))
    raise StorageError(uri, "a registry lives at file:///PATH or s3://BUCKET/PREFIX")


def load_verified(path: Path, uri: str, *, recorded: str | None, expected: str | None = None):
    """joblib.load of ``path`` once its sha256 equals ``expected`` (the digest a Kubernetes object carries,
    which whoever writes the bucket cannot change) and ``recorded`` (metadata.json's); StorageError otherwise.
    With neither, nothing vouches for the file and it is not loaded."""
    if not (expected or recorded):
        raise StorageError(uri, "metadata.json records no sha256 for it; refusing to load it")
    if expected and recorded and expected != recorded:
        log.error("model sha256 disagrees uri=%s expected=%s recorded=%s", uri, expected, recorded)
        raise StorageError(uri, f"metadata.json records sha256 {recorded}, not the {expected} it is served as; "
                                "refusing to load it")
    want = expected or recorded
    actual = sha256_file(path)
    if actual != want:
        log.error("model sha256 mismatch uri=%s expected=%s actual=%s", uri, want, actual)
        raise StorageError(uri, f"sha256 mismatch (expected {want}, found {actual}); refusing to load it")
    import joblib  # only where a model is loaded: the operator never unpickles

    return joblib.load(path)


def read_version_metadata(uri: str, max_bytes: int = MAX_METADATA_BYTES,
                          environ: Mapping[str, str] | None = None) -> dict:
    """metadata.json of the version folder ``uri`` (REGISTRY/vN), read with one bounded GET: no listing,
    at most ``max_bytes``. For the operator, which looks at a version before it deploys it but must never
    do a tenant's heavy work; ``environ``: the namespace's storage settings."""
    registry, version = resolve_model_dir(uri, environ)
    return registry.bounded_metadata(version, max_bytes)


def resolve_model_dir(uri: str, environ: Mapping[str, str] | None = None) -> tuple[Registry, int]:
    """``s3://models/iris/v3`` -> (the registry at s3://models/iris, 3)."""
    registry_uri, version = split_version_uri(uri)
    return open_registry(registry_uri, environ), version


def _sha256_of_model(path: str | os.PathLike) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        uri = Path(path).absolute().as_uri()
        raise StorageError(uri, f"cannot read the model file: {exc.strerror}") from exc


def _version_file(key: str) -> tuple[int, str] | None:
    """``v3/model.joblib`` -> (3, ``model.joblib``): a file of a version folder, or None."""
    folder, _, name = key.partition("/")
    version = version_of_folder(folder)
    return (version, name) if version and name in (MODEL_FILE, METADATA_FILE) else None


def _to_json(document: dict) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=_plain).encode()


def _plain(value):
    """numpy scalars and arrays (metrics, statistics) become the plain numbers and lists they hold."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"metadata value of type {type(value).__name__} cannot be stored as JSON")


def _from_json(data: bytes, uri: str) -> dict:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StorageError(uri, f"not valid JSON: {exc}") from exc
