"""Which model ``mlcd serve`` serves, under which name, and loading it safely."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from mlcd.compatibility import sklearn_problem
from mlcd.serving.predictor import Predictor
from mlcd.serving.signature import Signature

log = logging.getLogger(__name__)


class ServeError(Exception):
    """The model cannot be served; the message says why and what to do."""


@dataclass(frozen=True)
class ModelSource:
    uri: str  # the model version's folder, REGISTRY/vN
    name: str  # the model name in the endpoint paths
    sha256: str | None = None  # the model file's digest as a Kubernetes object carries it, when one does


def source_from_uri(uri: str) -> ModelSource:
    """A version folder (``…/iris/v3``), or a registry (``…/iris``) whose champion is served. The champion
    is followed only to a version folder of that same registry: champion.json is a file in the bucket, and
    whoever can write it must not be able to point the server at a model somewhere else."""
    from mlcd.storage import StorageError, open_registry
    from mlcd.storage.uri import split_version_uri

    try:
        registry_uri, _ = split_version_uri(uri)
        return ModelSource(uri.rstrip("/"), _last_segment(registry_uri))
    except StorageError:
        pass
    try:
        registry = open_registry(uri)
        champion = registry.champion()
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    if not champion:
        raise ServeError(f"{uri}: not a model version (REGISTRY/vN) and the registry names no champion yet")
    version = champion.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ServeError(f"{registry.uri}/champion.json: version {version!r} is not a version number")
    own = registry.version_uri(version)
    named = str(champion.get("uri") or own).rstrip("/")
    if named != own:
        raise ServeError(f"{registry.uri}/champion.json names {named}, which is not v{version} of this registry "
                         f"({own}); refusing to follow it")
    return ModelSource(own, _last_segment(uri))


def source_from_resource(resource) -> ModelSource:
    """A ModelDeployment serves spec.model.uri under its own name, checked against spec.model.sha256 when
    it carries one; a TrainingRun serves its champion."""
    kind = type(resource).__name__
    if kind == "ModelDeployment":
        model = resource.spec.model
        return ModelSource(model.uri, resource.metadata.name, model.sha256)
    from mlcd.local import local_registry_uri

    return source_from_uri(local_registry_uri(resource))


def load_predictor(uri: str, expected_sha256: str | None = None) -> tuple[Predictor, dict]:
    """Metadata first, then the scikit-learn version, then the model, unpickled only after its sha256
    matches the one recorded at registration and ``expected_sha256`` (a pickle runs code when loaded)."""
    from mlcd.storage import StorageError, resolve_model_dir

    try:
        registry, version = resolve_model_dir(uri)
        metadata = registry.metadata(version)
        signature = _checked(metadata, uri)
        model = registry.load_model(version, expected_sha256)
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    return Predictor(model, signature), metadata


def load_predictor_from_dir(folder: str | Path, expected_sha256: str | None = None) -> tuple[Predictor, dict]:
    """A version folder already on this machine, as KServe's storage initializer leaves it in /mnt/models
    (model.joblib and metadata.json): the same checks as :func:`load_predictor`, in the same order."""
    from mlcd.storage import StorageError, load_verified
    from mlcd.storage.registry import METADATA_FILE, MODEL_FILE

    folder = Path(folder)
    try:
        metadata = json.loads((folder / METADATA_FILE).read_bytes())
    except OSError as exc:
        raise ServeError(f"{folder / METADATA_FILE}: cannot read it: {exc.strerror}; --model_dir must be a "
                         f"model version's folder (model.joblib and metadata.json)") from None
    except ValueError as exc:
        raise ServeError(f"{folder / METADATA_FILE}: not valid JSON: {exc}") from None
    signature = _checked(metadata, str(folder))
    model_file = folder / MODEL_FILE
    try:
        model = load_verified(model_file, str(model_file), recorded=(metadata.get("model") or {}).get("sha256"),
                              expected=expected_sha256)
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    except OSError as exc:
        raise ServeError(f"{model_file}: cannot read it: {exc.strerror}") from None
    return Predictor(model, signature), metadata


def _checked(metadata: dict, where: str) -> Signature:
    import sklearn

    problem = sklearn_problem((metadata.get("versions") or {}).get("sklearn"), sklearn.__version__)
    if problem:
        raise ServeError(f"{where}: {problem}")
    try:
        return Signature.from_metadata(metadata)
    except ValueError as exc:
        raise ServeError(f"{where}: {exc}") from None


def registry_name(metadata: dict, folder: str | Path) -> str:
    """The model's name for a downloaded version folder: its registry's (the folder above vN of the URI it
    was registered at), else the folder's own name."""
    from mlcd.storage import StorageError
    from mlcd.storage.uri import split_version_uri

    try:
        return _last_segment(split_version_uri(str(metadata.get("uri") or ""))[0])
    except StorageError:
        return Path(folder).resolve().name


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
