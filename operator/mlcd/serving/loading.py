"""Which model ``mlcd serve`` serves, under which name, and loading it safely."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from mlcd.serving.predictor import Predictor
from mlcd.serving.signature import Signature

log = logging.getLogger(__name__)


class ServeError(Exception):
    """The model cannot be served; the message says why and what to do."""


@dataclass(frozen=True)
class ModelSource:
    uri: str  # the model version's folder, REGISTRY/vN
    name: str  # the model name in the endpoint paths


def source_from_uri(uri: str) -> ModelSource:
    """A version folder (``…/iris/v3``), or a registry (``…/iris``) whose champion is served."""
    from mlcd.storage import StorageError, open_registry
    from mlcd.storage.uri import split_version_uri

    try:
        registry_uri, _ = split_version_uri(uri)
        return ModelSource(uri.rstrip("/"), _last_segment(registry_uri))
    except StorageError:
        pass
    try:
        champion = open_registry(uri).champion()
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    if not champion:
        raise ServeError(f"{uri}: not a model version (REGISTRY/vN) and the registry names no champion yet")
    return ModelSource(champion["uri"], _last_segment(uri))


def source_from_resource(resource) -> ModelSource:
    """A ModelDeployment serves spec.model.uri under its own name; a TrainingRun serves its champion."""
    kind = type(resource).__name__
    if kind == "ModelDeployment":
        return ModelSource(resource.spec.model.uri, resource.metadata.name)
    from mlcd.local import local_registry_uri

    return source_from_uri(local_registry_uri(resource))


def load_predictor(uri: str) -> tuple[Predictor, dict]:
    """Metadata first, then the scikit-learn version, then the model, unpickled only after the registry
    has matched its sha256 (a pickle runs code when loaded)."""
    import sklearn

    from mlcd.storage import StorageError, resolve_model_dir

    try:
        registry, version = resolve_model_dir(uri)
        metadata = registry.metadata(version)
        problem = sklearn_problem((metadata.get("versions") or {}).get("sklearn"), sklearn.__version__)
        if problem:
            raise ServeError(f"{uri}: {problem}")
        signature = Signature.from_metadata(metadata)
        model = registry.load_model(version)
    except StorageError as exc:
        raise ServeError(str(exc)) from None
    except ValueError as exc:
        raise ServeError(f"{uri}: {exc}") from None
    return Predictor(model, signature), metadata


def sklearn_problem(recorded: str | None, installed: str) -> str | None:
    """Why a model pickled by scikit-learn ``recorded`` cannot be loaded by ``installed``, or None.

    scikit-learn unpickles models from older minor releases of the same major (with a warning); a
    newer minor, or another major, may have classes and attributes this one does not know."""
    if not recorded:
        log.warning("metadata.json records no scikit-learn version; loading with %s", installed)
        return None
    try:
        made, here = Version(recorded), Version(installed)
    except InvalidVersion:
        return f"unreadable scikit-learn version {recorded!r} in metadata.json"
    if made.major != here.major or made.minor > here.minor:
        return (f"model.joblib was pickled by scikit-learn {recorded}, which scikit-learn {installed} (installed "
                f"here) cannot load safely; install scikit-learn~={made.major}.{made.minor}.0 to serve it, "
                f"or retrain it with {installed}")
    if made.minor < here.minor:
        log.warning("model pickled by scikit-learn %s, loading with %s", recorded, installed)
    return None


def _last_segment(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]
